// Connection limits over every listener: how many sockets may be open at once, in all and per client address.
// A socket is counted from accept (so TLS handshakes in progress count) until it closes. One over a limit is not
// cut at once: it is handed to its front end marked, so that the client reads the protocol's own refusal (MQTT
// CONNACK 0x97 / 3.1.1 0x03, a native hello error, HTTP 503) instead of guessing from a reset. Those marked
// sockets are bounded too: past `maxRefusing` of them, more are destroyed on accept.

import type { Socket } from 'node:net'

export interface ConnectionLimitsOptions {
  /** 0: no limit. */
  maxConnections: number
  /** 0: no limit. */
  maxConnectionsPerAddress: number
  /** Sockets over a limit waiting for their refusal to be sent; past this they are destroyed on accept. */
  maxRefusing?: number
}

/** Why a socket is over a limit; the text the refusal carries. */
export type OverLimit = 'max-connections' | 'max-connections-per-address'

export const overLimitReasons: Record<OverLimit, string> = {
  'max-connections': 'too many connections to this broker (limits.maxConnections)',
  'max-connections-per-address': 'too many connections from this address (limits.maxConnectionsPerAddress)',
}

/** Counters for the metrics: each refusal by reason, and the sockets cut on accept. */
export interface ConnectionLimitCounters {
  refusedMaxConnections: number
  refusedMaxConnectionsPerAddress: number
  /** Over a limit while `maxRefusing` sockets already waited for their refusal: destroyed without a word. */
  droppedOverLimit: number
}

const defaultMaxRefusing = 64

export class ConnectionLimiter {
  readonly counters: ConnectionLimitCounters = {
    refusedMaxConnections: 0,
    refusedMaxConnectionsPerAddress: 0,
    droppedOverLimit: 0,
  }
  readonly #options: Required<ConnectionLimitsOptions>
  readonly #perAddress = new Map<string, number>()
  #open = 0
  #refusing = 0

  constructor(options: ConnectionLimitsOptions) {
    this.#options = { maxRefusing: defaultMaxRefusing, ...options }
  }

  /** Sockets admitted and still open. */
  get open(): number {
    return this.#open
  }

  /** Sockets over a limit still open (waiting for their refusal). */
  get refusing(): number {
    return this.#refusing
  }

  /**
   * Counts a just-accepted socket until it closes. Returns undefined when it is admitted, the reason when it is
   * over a limit (the caller refuses it in its protocol), or 'dropped' when it was destroyed here.
   */
  admit(socket: Socket): OverLimit | 'dropped' | undefined {
    const address = normalizeAddress(socket.remoteAddress)
    const over = this.#overLimit(address)
    if (over === undefined) {
      this.#open++
      this.#perAddress.set(address, (this.#perAddress.get(address) ?? 0) + 1)
      socket.once('close', () => {
        this.#open--
        const left = (this.#perAddress.get(address) ?? 1) - 1
        if (left === 0) this.#perAddress.delete(address)
        else this.#perAddress.set(address, left)
      })
      return undefined
    }
    if (this.#refusing >= this.#options.maxRefusing) {
      this.counters.droppedOverLimit++
      socket.destroy()
      return 'dropped'
    }
    if (over === 'max-connections') this.counters.refusedMaxConnections++
    else this.counters.refusedMaxConnectionsPerAddress++
    this.#refusing++
    socket.once('close', () => this.#refusing--)
    return over
  }

  #overLimit(address: string): OverLimit | undefined {
    const { maxConnections, maxConnectionsPerAddress } = this.#options
    if (maxConnections > 0 && this.#open >= maxConnections) return 'max-connections'
    if (maxConnectionsPerAddress > 0 && (this.#perAddress.get(address) ?? 0) >= maxConnectionsPerAddress) {
      return 'max-connections-per-address'
    }
    return undefined
  }
}

/** An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d; it is the same address as a.b.c.d. */
export function normalizeAddress(address: string | undefined): string {
  if (address === undefined) return ''
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice('::ffff:'.length) : address
}
