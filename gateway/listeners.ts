// The listeners: MQTT over TCP, TLS, WebSocket and secure WebSocket, the native protocol over TCP and TLS, and
// the HTTP API over HTTP and HTTPS. Each accepted connection goes to its front end as a Duplex (HTTP: as a request
// to the API handler), with what the gateway knows of the peer: its address, the identity of its verified client
// certificate, and whether it is over a connection limit. Sockets are gateway business (src/ owns none): binding,
// limits, TLS, refusing what is not ours, and closing them at shutdown.

import type { RequestListener } from 'node:http'
import { createServer as createHttpServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { createServer as createTlsServer, type TLSSocket } from 'node:tls'
import type { Logger } from 'pino'
import { handleHttpClientError } from '../src/http/http-api.ts'
import { setCertificateIdentity } from '../src/http/certificate-identity.ts'
import { formatAddress, listenerNames, type ListenAddress, type ListenerName, type TlsMaterial } from './config.ts'
import {
  ConnectionLimiter,
  overLimitReasons,
  type ConnectionLimitCounters,
  type OverLimit,
} from './connection-limits.ts'
import { certificateIdentity, secureContextOptions, serverTlsOptions } from './tls.ts'
import type * as WsListener from './ws-listener.ts'

export const mqttListenerNames = ['mqtt', 'mqttTls', 'mqttWs', 'mqttWss'] as const satisfies readonly ListenerName[]
export type MqttListenerName = (typeof mqttListenerNames)[number]

/** What the gateway tells a front end about a connection. */
export interface PeerInfo {
  remoteAddress?: string
  /** The identity (CN or SAN, per tls.identityFrom) of a client certificate the client CAs verified. */
  certificateIdentity?: string
  /** Set when the connection is over a limit: the front end refuses it in its protocol, with this text. */
  overLimit?: string
}

/** What the listeners need of a front end (MQTT, native). */
export interface ConnectionHandler {
  handle(socket: Duplex, info: PeerInfo): unknown
}

/** Connection-level limits; every field has a default. */
export interface ListenerLimits {
  /** Open connections over all listeners, TLS handshakes included; 0: none. Default 0. */
  maxConnections: number
  /** Open connections from one address over all listeners; 0: none. Default 0. */
  maxConnectionsPerAddress: number
  /** A TLS handshake must finish within this time. Default 10 s. */
  tlsHandshakeTimeoutMs: number
  /** HTTP(S): request headers must arrive within this time (also WebSocket upgrades). Default 10 s. */
  httpHeadersTimeoutMs: number
  /** HTTP(S): the whole request must arrive within this time. Default 30 s. */
  httpRequestTimeoutMs: number
}

export const defaultListenerLimits: Readonly<ListenerLimits> = Object.freeze({
  maxConnections: 0,
  maxConnectionsPerAddress: 0,
  tlsHandshakeTimeoutMs: 10_000,
  httpHeadersTimeoutMs: 10_000,
  httpRequestTimeoutMs: 30_000,
})

export interface ListenersOptions {
  listeners: Readonly<Partial<Record<ListenerName, ListenAddress | null>>>
  /** Required when a TLS listener (mqttTls, mqttWss, nativeTls, https) is on. */
  tls: TlsMaterial | null
  frontEnd: ConnectionHandler
  /** The native-protocol front end; required when listeners.native or nativeTls is on. */
  native?: ConnectionHandler
  /** The HTTP API; required when listeners.http or https is on. */
  http?: RequestListener
  logger: Logger
  /** Largest WebSocket message accepted (ws buffers a whole message before handing it on). */
  maxWsMessageBytes: number
  limits?: Partial<ListenerLimits>
}

/** A listener could not bind: names the listener and the address, for a fatal log line. */
export class ListenError extends Error {
  readonly listener: ListenerName
  readonly address: string
  readonly code: string | undefined

  constructor(listener: ListenerName, address: string, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code
    const reason = (code === undefined ? undefined : listenReasons[code]) ?? errorMessage(cause)
    super(`listeners.${listener} cannot listen on ${address}: ${reason}${code === undefined ? '' : ` (${code})`}`, {
      cause,
    })
    this.name = 'ListenError'
    this.listener = listener
    this.address = address
    this.code = code
  }
}

const listenReasons: Record<string, string> = {
  EADDRINUSE: 'the address is already in use',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'the address does not belong to this host',
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name does not resolve (temporary failure)',
}

interface Served {
  name: ListenerName
  server: Server
  /** Bound address, with the real port when 0 was asked for. */
  address: string
  /** Every accepted socket still open, so that shutdown can cut the ones that do not end by themselves. */
  sockets: Set<Socket>
  closed: Promise<void> | undefined
}

/** Counters of the listeners, for the metrics. */
export interface ListenerCounters extends ConnectionLimitCounters {
  /** TLS handshakes that failed (bad or missing client certificate, protocol version, timeout, ...). */
  tlsHandshakeFailures: number
}

/** The bound listeners. */
export class Listeners {
  readonly #served: readonly Served[]
  readonly #shared: Shared

  constructor(served: readonly Served[], shared: Shared) {
    this.#served = served
    this.#shared = shared
  }

  /** Bound address of each served listener ("127.0.0.1:41873"), in start order. */
  get addresses(): Partial<Record<ListenerName, string>> {
    return Object.fromEntries(this.#served.map((s) => [s.name, s.address]))
  }

  /** Open sockets of each served listener (idle HTTP keep-alive ones included), for `cairn status`. */
  get connections(): Partial<Record<ListenerName, number>> {
    return Object.fromEntries(this.#served.map((s) => [s.name, s.sockets.size]))
  }

  /** Refusals by reason and TLS failures, as plain numbers. */
  get counters(): Readonly<ListenerCounters> {
    return { ...this.#shared.limiter.counters, tlsHandshakeFailures: this.#shared.tlsHandshakeFailures }
  }

  /** Connections counted against limits.maxConnections right now (TLS handshakes in progress included). */
  get openConnections(): number {
    return this.#shared.limiter.open
  }

  /**
   * Serves `material` on every TLS listener from the next handshake on; open connections keep theirs. The client
   * certificate mode (tls.clientAuth) is fixed at start. Throws (and changes nothing) if the material is unusable.
   */
  reloadTls(material: TlsMaterial): void {
    const servers = this.#served.filter((s) => isTlsListener(s.name))
    const context = secureContextOptions(material)
    // Every server or none: the first would throw before any changed, as they all take the same options.
    for (const served of servers) (served.server as Server & TlsServer).setSecureContext(context)
    this.#shared.tls = material
  }

  /** Stops accepting connections; those already accepted stay open (the front end ends them). */
  stopAccepting(): void {
    for (const served of this.#served) {
      served.closed ??= new Promise((resolve) => served.server.close(() => resolve()))
    }
  }

  /**
   * Waits up to `graceMs` for every accepted socket to end (the front end has ended its connections by now),
   * then destroys the rest: clients that do not read, TLS handshakes still running, idle HTTP sockets.
   */
  async close(graceMs: number): Promise<void> {
    this.stopAccepting()
    const allClosed = Promise.all(this.#served.map((s) => s.closed ?? Promise.resolve()))
    let timer: NodeJS.Timeout | undefined
    const graceOver = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))
    await Promise.race([allClosed, graceOver])
    clearTimeout(timer)
    for (const served of this.#served) for (const socket of served.sockets) socket.destroy()
    await allClosed
  }
}

interface TlsServer {
  setSecureContext(options: ReturnType<typeof secureContextOptions>): void
}

/** State every listener shares: the limiter, the TLS material in use, and which sockets are over a limit. */
interface Shared {
  limiter: ConnectionLimiter
  tls: TlsMaterial | null
  tlsHandshakeFailures: number
  /** Accepted sockets over a limit, by peerKey (a TLS socket is a new object over the accepted one). */
  overLimit: Map<string, OverLimit>
}

const tlsListeners: ReadonlySet<ListenerName> = new Set(['mqttTls', 'mqttWss', 'nativeTls', 'https'])

export function isTlsListener(name: ListenerName): boolean {
  return tlsListeners.has(name)
}

/** Binds every listener that is on. On a failure, closes those already bound and throws ListenError. */
export async function startListeners(options: ListenersOptions): Promise<Listeners> {
  const limits = { ...defaultListenerLimits, ...options.limits }
  const shared: Shared = {
    limiter: new ConnectionLimiter(limits),
    tls: options.tls,
    tlsHandshakeFailures: 0,
    overLimit: new Map(),
  }
  const served: Served[] = []
  // ws (and what it loads, ~8 MB resident on its own) only when a WebSocket listener is on.
  const wsOn = [options.listeners.mqttWs, options.listeners.mqttWss].some((a) => a !== null && a !== undefined)
  const attachWs = wsOn ? (await import('./ws-listener.ts')).attachMqttWebSocket : undefined
  for (const name of listenerNames) {
    const address = options.listeners[name]
    if (address === null || address === undefined) continue
    const server = createServerFor(name, options, limits, shared, attachWs)
    const sockets = new Set<Socket>()
    // Prepended: admission is decided before the server's own listener hands the socket to a front end.
    server.prependListener('connection', (socket: Socket) => {
      sockets.add(socket)
      socket.once('close', () => sockets.delete(socket))
      const over = shared.limiter.admit(socket)
      if (over === undefined || over === 'dropped') return
      const key = peerKey(socket)
      shared.overLimit.set(key, over)
      socket.once('close', () => shared.overLimit.delete(key))
    })
    let bound: AddressInfo
    try {
      bound = await listen(server, address)
    } catch (err) {
      const listeners = new Listeners(served, shared)
      await listeners.close(0)
      throw new ListenError(name, formatAddress(address), err)
    }
    // Errors after binding (accept failing under EMFILE, say) must not crash the broker.
    server.on('error', (err) => options.logger.error({ err, listener: name }, 'listener error'))
    served.push({
      name,
      server,
      address: formatAddress({ host: bound.address, port: bound.port }),
      sockets,
      closed: undefined,
    })
  }
  return new Listeners(served, shared)
}

function createServerFor(
  name: ListenerName,
  options: ListenersOptions,
  limits: ListenerLimits,
  shared: Shared,
  attachWs: typeof WsListener.attachMqttWebSocket | undefined,
): Server {
  const { frontEnd, logger } = options
  const peer = (socket: Socket): PeerInfo => peerInfo(socket, shared)
  switch (name) {
    case 'mqtt':
      // MqttConnection batches its writes, so Nagle's delay would only add latency.
      return createTcpServer({ noDelay: true }, (socket) => frontEnd.handle(socket, peer(socket)))
    case 'mqttTls':
      return createSecureServer(name, options, limits, shared, (socket) => frontEnd.handle(socket, peer(socket)))
    case 'native':
    case 'nativeTls': {
      const native = options.native
      if (native === undefined) throw new TypeError(`listeners.${name} is on but no native front end was given`)
      if (name === 'native') return createTcpServer({ noDelay: true }, (socket) => native.handle(socket, peer(socket)))
      return createSecureServer(name, options, limits, shared, (socket) => native.handle(socket, peer(socket)))
    }
    case 'http':
    case 'https': {
      const api = options.http
      if (api === undefined) throw new TypeError(`listeners.${name} is on but no HTTP API was given`)
      const handler: RequestListener = (request, response) => {
        const over = shared.overLimit.get(peerKey(request.socket))
        if (over !== undefined) return refuseHttp(response, overLimitReasons[over])
        api(request, response)
      }
      const server =
        name === 'http'
          ? createHttpServer(httpServerOptions(limits), handler)
          : createHttpsServer({ ...tlsOptionsFor(name, options, limits), ...httpServerOptions(limits) }, handler)
      if (name === 'https') {
        watchTls(server, name, logger, shared, (socket) => {
          const identity = peer(socket).certificateIdentity
          if (identity !== undefined) setCertificateIdentity(socket, identity)
        })
      }
      server.on('clientError', (err: Error & { code?: string }, socket) => {
        logger.debug({ err, listener: name }, 'bad HTTP request')
        handleHttpClientError(err, socket)
      })
      return server
    }
    case 'mqttWs':
    case 'mqttWss': {
      const server =
        name === 'mqttWs'
          ? createHttpServer(httpServerOptions(limits))
          : createHttpsServer({ ...tlsOptionsFor(name, options, limits), ...httpServerOptions(limits) })
      if (name === 'mqttWss') watchTls(server, name, logger, shared)
      if (attachWs === undefined) throw new TypeError(`listeners.${name} is on but the WebSocket module was not loaded`)
      attachWs(server, {
        frontEnd,
        logger,
        listener: name,
        maxWsMessageBytes: options.maxWsMessageBytes,
        peer: (socket) => peer(socket as Socket),
      })
      return server
    }
  }
}

function tlsOptionsFor(name: ListenerName, options: ListenersOptions, limits: ListenerLimits) {
  if (options.tls === null) throw new TypeError(`listeners.${name} is on but no TLS material was loaded`)
  return { ...serverTlsOptions(options.tls, limits.tlsHandshakeTimeoutMs), noDelay: true }
}

function createSecureServer(
  name: ListenerName,
  options: ListenersOptions,
  limits: ListenerLimits,
  shared: Shared,
  onSecure: (socket: TLSSocket) => void,
): Server {
  const server = createTlsServer(tlsOptionsFor(name, options, limits), onSecure)
  watchTls(server, name, options.logger, shared)
  return server
}

function watchTls(
  server: Server,
  name: ListenerName,
  logger: Logger,
  shared: Shared,
  onSecure?: (socket: TLSSocket) => void,
): void {
  if (onSecure !== undefined) server.on('secureConnection', onSecure)
  server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
    shared.tlsHandshakeFailures++
    logger.debug({ err, remoteAddress: socket.remoteAddress, listener: name }, 'TLS handshake failed')
    // Node leaves the socket open after a handshake timeout: a slow-loris client would keep it forever.
    socket.destroy()
  })
}

function httpServerOptions(limits: ListenerLimits) {
  // Slow-loris: headers dribbled in a byte at a time, or a body that never ends, are cut with 408. Node checks
  // the deadlines every connectionsCheckingInterval (30 s by default), so that is tightened to match.
  return {
    headersTimeout: limits.httpHeadersTimeoutMs,
    requestTimeout: Math.max(limits.httpRequestTimeoutMs, limits.httpHeadersTimeoutMs),
    connectionsCheckingInterval: Math.min(1000, limits.httpHeadersTimeoutMs),
  }
}

function refuseHttp(response: Parameters<RequestListener>[1], reason: string): void {
  response.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '5', connection: 'close' })
  response.end(`${reason}\n`)
}

function peerInfo(socket: Socket, shared: Shared): PeerInfo {
  const info: PeerInfo = {}
  if (socket.remoteAddress !== undefined) info.remoteAddress = socket.remoteAddress
  if (shared.tls !== null && 'encrypted' in socket) {
    const identity = certificateIdentity(socket as TLSSocket, shared.tls.identityFrom)
    if (identity !== undefined) info.certificateIdentity = identity
  }
  const over = shared.overLimit.get(peerKey(socket))
  if (over !== undefined) info.overLimit = overLimitReasons[over]
  return info
}

// Both ends: a client may reuse its port towards two of our listeners at once.
function peerKey(socket: Socket): string {
  return `${socket.remoteAddress ?? ''} ${socket.remotePort ?? ''} ${socket.localPort ?? ''}`
}

function listen(server: Server, { host, port }: ListenAddress): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(host === null ? { port } : { host, port }, () => {
      server.off('error', reject)
      resolve(server.address() as AddressInfo)
    })
  })
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
