import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { encodeFrame, FrameDecoder } from '../../../src/native/wire/frame.ts'
import { helloResponse, parseRequest, type Request, type Response } from '../../../src/native/wire/frames.ts'

// A scripted native-protocol peer for the client's connection-layer unit tests only (correlation,
// out-of-order answers, pipelining, timeouts, reconnects, handshake, frame limits): it speaks the
// framing and envelopes from src/native/wire but knows nothing of streams or groups. Everything
// the client does with real operations is tested against the real broker in
// test/integration/native/client-*.test.ts.

export interface FakeRequest extends Request {
  readonly socket: Socket
}

export interface FakeServerOptions {
  /** Announced in the hello reply. Default 1 MiB. */
  maxFrameBytes?: number
  /** Answer to hello: a response, or 'silent' to never answer. Default: version 1. */
  hello?: (request: FakeRequest) => Response | 'silent'
  /** Answers requests automatically; when it returns undefined the test answers them itself. */
  handler?: (request: FakeRequest) => unknown
}

export class FakeServer {
  readonly sockets = new Set<Socket>()
  /** Every request other than hello, in arrival order. */
  readonly requests: FakeRequest[] = []
  readonly hellos: FakeRequest[] = []
  readonly #server: Server
  readonly #options: FakeServerOptions
  #waiters: Array<() => void> = []
  #accepted = 0

  private constructor(options: FakeServerOptions) {
    this.#options = options
    this.#server = createServer((socket) => this.#accept(socket))
  }

  static async start(options: FakeServerOptions = {}, port = 0): Promise<FakeServer> {
    const server = new FakeServer(options)
    await new Promise<void>((resolve, reject) => {
      server.#server.once('error', reject)
      server.#server.listen(port, '127.0.0.1', () => resolve())
    })
    return server
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port
  }

  /** Connections accepted so far. */
  get accepted(): number {
    return this.#accepted
  }

  get maxFrameBytes(): number {
    return this.#options.maxFrameBytes ?? 1024 * 1024
  }

  #accept(socket: Socket): void {
    this.#accepted++
    this.sockets.add(socket)
    socket.on('close', () => this.sockets.delete(socket))
    socket.on('error', () => {})
    const decoder = new FrameDecoder({
      maxFrameBytes: this.maxFrameBytes,
      onFrame: (value) => {
        const request: FakeRequest = { ...parseRequest(value), socket }
        if (request.op === 'hello') {
          this.hellos.push(request)
          const answer = this.#options.hello?.(request) ?? helloResponse(request.id, this.#helloReply())
          if (answer !== 'silent') this.send(socket, answer)
        } else {
          this.requests.push(request)
          const body = this.#options.handler?.(request)
          if (body !== undefined) this.reply(request, body)
        }
        this.#notify()
      },
    })
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk)
      } catch {
        socket.destroy()
      }
    })
  }

  #helloReply(): { version: number; maxFrameBytes: number } {
    return { version: 1, maxFrameBytes: this.maxFrameBytes }
  }

  #notify(): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const w of waiters) w()
  }

  /** Resolves once `count` requests (not hello) have arrived in total. */
  async waitForRequests(count: number): Promise<FakeRequest[]> {
    while (this.requests.length < count) await new Promise<void>((resolve) => this.#waiters.push(resolve))
    return this.requests.slice(0, count)
  }

  /** Resolves once `count` hellos have arrived in total. */
  async waitForHellos(count: number): Promise<void> {
    while (this.hellos.length < count) await new Promise<void>((resolve) => this.#waiters.push(resolve))
  }

  send(socket: Socket, message: unknown): void {
    if (!socket.destroyed) socket.write(encodeFrame(message))
  }

  reply(request: FakeRequest, body: unknown): void {
    this.send(request.socket, { id: request.id, status: 0, body })
  }

  fail(request: FakeRequest, code: string, message: string, retriable = false): void {
    this.send(request.socket, { id: request.id, status: 1, error: { code, message, retriable } })
  }

  /** Drops every connection, as a network failure would. */
  dropAll(): void {
    for (const socket of this.sockets) socket.destroy()
  }

  async close(): Promise<void> {
    this.dropAll()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }
}
