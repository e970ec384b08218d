// The listeners: MQTT over TCP, TLS and WebSocket, the native protocol over TCP, and the HTTP API. Each
// accepted connection goes to its front end as a Duplex (HTTP: as a request to the API handler). Sockets are
// gateway business (src/ owns none): binding, refusing what is not ours, and closing them at shutdown.

import type { IncomingMessage, RequestListener } from 'node:http'
import { createServer as createHttpServer } from 'node:http'
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { createServer as createTlsServer } from 'node:tls'
import type { Logger } from 'pino'
import { createWebSocketStream, WebSocketServer } from 'ws'
import { handleHttpClientError } from '../src/http/http-api.ts'
import { formatAddress, listenerNames, type ListenAddress, type ListenerName, type TlsMaterial } from './config.ts'

export const mqttListenerNames = ['mqtt', 'mqttTls', 'mqttWs'] as const satisfies readonly ListenerName[]
export type MqttListenerName = (typeof mqttListenerNames)[number]

/** The only path the WebSocket listener serves; anything else is 404. */
export const mqttWsPath = '/mqtt'
/** WebSocket subprotocols accepted, in order of preference: MQTT 3.1.1/5 name it `mqtt`, older clients `mqttv3.1`. */
export const mqttWsSubprotocols = ['mqtt', 'mqttv3.1'] as const

/** What the listeners need of the MQTT front end. */
export interface ConnectionHandler {
  handle(socket: Duplex, info: { remoteAddress?: string }): unknown
}

export interface ListenersOptions {
  listeners: Readonly<Partial<Record<ListenerName, ListenAddress | null>>>
  /** Required when listeners.mqttTls is on. */
  tls: TlsMaterial | null
  frontEnd: ConnectionHandler
  /** The native-protocol front end; required when listeners.native is on. */
  native?: { handle(socket: Duplex): unknown }
  /** The HTTP API; required when listeners.http is on. */
  http?: RequestListener
  logger: Logger
  /** Largest WebSocket message accepted (ws buffers a whole message before handing it on). */
  maxWsMessageBytes: number
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

/** The bound MQTT listeners. */
export class Listeners {
  readonly #served: readonly Served[]

  constructor(served: readonly Served[]) {
    this.#served = served
  }

  /** Bound address of each served listener ("127.0.0.1:41873"), in start order. */
  get addresses(): Partial<Record<ListenerName, string>> {
    return Object.fromEntries(this.#served.map((s) => [s.name, s.address]))
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

/** Binds every listener that is on. On a failure, closes those already bound and throws ListenError. */
export async function startListeners(options: ListenersOptions): Promise<Listeners> {
  const served: Served[] = []
  for (const name of listenerNames) {
    const address = options.listeners[name]
    if (address === null || address === undefined) continue
    const server = createServerFor(name, options)
    const sockets = new Set<Socket>()
    server.on('connection', (socket: Socket) => {
      sockets.add(socket)
      socket.once('close', () => sockets.delete(socket))
    })
    let bound: AddressInfo
    try {
      bound = await listen(server, address)
    } catch (err) {
      const listeners = new Listeners(served)
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
  return new Listeners(served)
}

function createServerFor(name: ListenerName, options: ListenersOptions): Server {
  const { frontEnd, logger } = options
  switch (name) {
    case 'native': {
      const native = options.native
      if (native === undefined) throw new TypeError('listeners.native is on but no native front end was given')
      return createTcpServer({ noDelay: true }, (socket) => native.handle(socket))
    }
    case 'http': {
      if (options.http === undefined) throw new TypeError('listeners.http is on but no HTTP API was given')
      const server = createHttpServer(options.http)
      server.on('clientError', (err: Error & { code?: string }, socket) => {
        logger.debug({ err, listener: 'http' }, 'bad HTTP request')
        handleHttpClientError(err, socket)
      })
      return server
    }
    case 'mqtt':
      // MqttConnection batches its writes, so Nagle's delay would only add latency.
      return createTcpServer({ noDelay: true }, (socket) => frontEnd.handle(socket, connectionInfo(socket)))
    case 'mqttTls': {
      if (options.tls === null) throw new TypeError('listeners.mqttTls is on but no TLS material was loaded')
      const server = createTlsServer({ ...options.tls, noDelay: true }, (socket) =>
        frontEnd.handle(socket, connectionInfo(socket)),
      )
      server.on('tlsClientError', (err, socket) =>
        logger.debug({ err, remoteAddress: socket.remoteAddress, listener: name }, 'TLS handshake failed'),
      )
      return server
    }
    case 'mqttWs':
      return createWebSocketServer(options)
  }
}

function createWebSocketServer({ frontEnd, logger, maxWsMessageBytes }: ListenersOptions): Server {
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    maxPayload: maxWsMessageBytes,
    handleProtocols: (offered) => chooseSubprotocol(offered) ?? false,
  })
  const server = createHttpServer((request, response) => {
    // Plain HTTP: this port only speaks WebSocket.
    const status = pathOf(request) === mqttWsPath ? 426 : 404
    const body =
      status === 426 ? `MQTT over WebSocket: upgrade with subprotocol ${mqttWsSubprotocols[0]}\n` : 'Not Found\n'
    response.writeHead(status, {
      'content-type': 'text/plain; charset=utf-8',
      connection: 'close',
      ...(status === 426 ? { upgrade: 'websocket' } : {}),
    })
    response.end(body)
  })
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (pathOf(request) !== mqttWsPath) {
      refuseUpgrade(socket, 404, 'Not Found', `no MQTT endpoint here; use ${mqttWsPath}\n`)
      return
    }
    const offered = request.headers['sec-websocket-protocol']
    if (offered !== undefined && chooseSubprotocol(new Set(offered.split(',').map((p) => p.trim()))) === undefined) {
      refuseUpgrade(socket, 400, 'Bad Request', `unsupported subprotocol; use ${mqttWsSubprotocols.join(' or ')}\n`)
      return
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      // [MQTT-6.0.0-1] control packets travel in binary frames; a text frame ends the connection.
      ws.on('message', (_data, isBinary) => {
        if (!isBinary) ws.close(1003, 'MQTT needs binary frames')
      })
      frontEnd.handle(createWebSocketStream(ws), connectionInfo(request.socket))
    })
  })
  server.on('clientError', (err, socket) => {
    logger.debug({ err, listener: 'mqttWs' }, 'bad HTTP request')
    socket.destroy()
  })
  return server
}

function chooseSubprotocol(offered: ReadonlySet<string>): string | undefined {
  return mqttWsSubprotocols.find((protocol) => offered.has(protocol))
}

function pathOf(request: IncomingMessage): string {
  try {
    return new URL(request.url ?? '/', 'http://cairn').pathname
  } catch {
    return ''
  }
}

function refuseUpgrade(socket: Duplex, status: number, statusText: string, body: string): void {
  socket.on('error', () => {})
  socket.end(
    `HTTP/1.1 ${status} ${statusText}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  )
}

function connectionInfo(socket: Socket): { remoteAddress?: string } {
  return socket.remoteAddress === undefined ? {} : { remoteAddress: socket.remoteAddress }
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
