// MQTT over WebSocket (and secure WebSocket): the upgrade at /mqtt with subprotocol mqtt (or mqttv3.1), then the
// MQTT front end reads the WebSocket as a byte stream. Everything else on the port is answered and closed.

import type { IncomingMessage, Server as HttpServer } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import { createWebSocketStream, WebSocketServer } from 'ws'

/** The only path the WebSocket listeners serve; anything else is 404. */
export const mqttWsPath = '/mqtt'
/** WebSocket subprotocols accepted, in order of preference: MQTT 3.1.1/5 name it `mqtt`, older clients `mqttv3.1`. */
export const mqttWsSubprotocols = ['mqtt', 'mqttv3.1'] as const

export interface MqttWebSocketOptions {
  frontEnd: { handle(socket: Duplex, info: object): unknown }
  logger: Logger
  listener: string
  /** Largest WebSocket message accepted (ws buffers a whole message before handing it on). */
  maxWsMessageBytes: number
  /** What the front end is told about the connection the upgrade came on. */
  peer: (socket: Duplex) => object
}

/** Serves MQTT over WebSocket on an HTTP or HTTPS server. */
export function attachMqttWebSocket(server: HttpServer, options: MqttWebSocketOptions): void {
  const { frontEnd, logger, listener } = options
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    maxPayload: options.maxWsMessageBytes,
    handleProtocols: (offered) => chooseSubprotocol(offered) ?? false,
  })
  server.on('request', (request: IncomingMessage, response) => {
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
      frontEnd.handle(createWebSocketStream(ws), options.peer(request.socket))
    })
  })
  server.on('clientError', (err, socket) => {
    logger.debug({ err, listener }, 'bad HTTP request')
    socket.destroy()
  })
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
