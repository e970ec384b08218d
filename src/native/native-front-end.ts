import type { Duplex } from 'node:stream'
import { pino, type Logger } from 'pino'
import type { GroupCoordinator } from '../groups/group-coordinator.ts'
import type { SecurityPolicy } from '../auth/security-policy.ts'
import type { LogStore } from '../log/log-store.ts'
import { newTrafficCounters } from '../observability/traffic.ts'
import { systemClock, type Clock } from '../util/clock.ts'
import { NativeConnection } from './connection.ts'
import type { MirrorApi } from './mirror-api.ts'
import { ProducerRegistry, type ProducerOptions } from './producers.ts'
import { TransactionManager, type TransactionOptions } from './transactions.ts'

export interface NativeFrontEndOptions {
  store: LogStore
  groups: GroupCoordinator
  clock?: Clock
  logger?: Logger
  /** Largest frame accepted (and sent); announced in the hello reply. Default 8 MiB. */
  maxFrameBytes?: number
  /** Requests one connection may have in flight before the broker stops reading it. Default 64. */
  maxInflightRequests?: number
  /** A connection must send hello within this time, or it is closed. Default 10 s. */
  helloTimeoutMs?: number
  producers?: Partial<ProducerOptions>
  transactions?: Partial<TransactionOptions>
  /** The upstream mirror, for mirrorStatus and mirrorTranslate; without it they answer CAIRN_REQUEST_INVALID. */
  mirror?: MirrorApi
  /** Users and ACLs: hello must then carry acceptable credentials; without it everyone may do everything. */
  security?: SecurityPolicy | undefined
}

/** What the listener knows about a connection's peer. */
export interface NativeConnectionInfo {
  remoteAddress?: string | undefined
  /** The verified TLS client certificate's identity (CN or SAN), for authentication and ACLs. */
  certificateIdentity?: string | undefined
  /** Set by the listener when the gateway is over a connection limit: hello is answered with this and refused. */
  overLimit?: string | undefined
}

/** How often each native limit was hit, as plain numbers for the metrics. */
export interface NativeLimitCounters {
  /** Connections closed for not sending hello within helloTimeoutMs (slow-loris). */
  helloTimeouts: number
  /** Hellos refused because the gateway was over a connection limit. */
  connectionsOverLimit: number
  /** Connections closed for a frame over maxFrameBytes. */
  framesTooLarge: number
}

export const defaultNativeMaxFrameBytes = 8 * 1024 * 1024

/**
 * The native protocol front end (CBOR frames over any Duplex: TCP, TLS, or an in-memory pair in
 * tests). It owns the producer registry (idempotence) and open transactions; records go to the
 * log store, group membership and offsets to the group coordinator.
 */
export class NativeFrontEnd {
  readonly store: LogStore
  readonly groups: GroupCoordinator
  readonly clock: Clock
  readonly logger: Logger
  readonly maxFrameBytes: number
  readonly maxInflightRequests: number
  readonly helloTimeoutMs: number
  readonly limitCounters: NativeLimitCounters = { helloTimeouts: 0, connectionsOverLimit: 0, framesTooLarge: 0 }
  readonly producers: ProducerRegistry
  readonly transactions: TransactionManager
  readonly mirror: MirrorApi | undefined
  readonly security: SecurityPolicy | undefined
  /** Bumped in place on the hot path; read by the metrics. */
  readonly counters = newTrafficCounters()
  readonly #connections = new Set<NativeConnection>()
  #closing = false

  constructor(options: NativeFrontEndOptions) {
    this.store = options.store
    this.groups = options.groups
    this.clock = options.clock ?? systemClock
    this.logger = options.logger ?? pino({ level: 'silent' })
    this.maxFrameBytes = options.maxFrameBytes ?? defaultNativeMaxFrameBytes
    this.maxInflightRequests = options.maxInflightRequests ?? 64
    this.helloTimeoutMs = options.helloTimeoutMs ?? 10_000
    this.mirror = options.mirror
    this.security = options.security
    this.producers = new ProducerRegistry(this.store, this.clock, this.logger, options.producers)
    this.transactions = new TransactionManager(
      this.store,
      this.producers,
      this.groups,
      this.clock,
      this.logger,
      options.transactions,
    )
  }

  /** Serves one client connection until it closes. */
  handle(duplex: Duplex, info: NativeConnectionInfo = {}): void {
    if (this.#closing) {
      duplex.destroy()
      return
    }
    this.counters.connectionsAccepted++
    const connection = new NativeConnection(this, duplex, this.logger, info)
    this.#connections.add(connection)
  }

  get connectionCount(): number {
    return this.#connections.size
  }

  /** Called by a connection when it has closed. */
  connectionClosed(connection: NativeConnection): void {
    this.#connections.delete(connection)
  }

  /** Stops taking requests, closes every connection (answers already due still go out), stops timers. */
  async close(): Promise<void> {
    this.#closing = true
    for (const c of this.#connections) c.close()
    await this.store.flush()
    this.transactions.close()
    this.producers.close()
  }
}
