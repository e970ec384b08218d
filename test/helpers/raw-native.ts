import { connect, type Socket } from 'node:net'
import { encodeFrame, FrameDecoder } from '../../src/native/wire/frame.ts'
import { parseResponse, type Response } from '../../src/native/wire/frames.ts'

/**
 * A frame-level peer for the broker's own protocol tests: it sends exactly the bytes a test asks
 * for and hands back every response, so the tests check the server without the client library
 * (which has its own tests) standing in between.
 */
export class RawNativePeer {
  readonly socket: Socket
  readonly responses: Response[] = []
  #waiters: Array<() => void> = []
  #nextId = 1
  closed = false

  private constructor(socket: Socket) {
    this.socket = socket
    const decoder = new FrameDecoder({
      maxFrameBytes: 64 * 1024 * 1024,
      onFrame: (value) => {
        this.responses.push(parseResponse(value))
        this.#wake()
      },
    })
    socket.on('data', (chunk: Buffer) => decoder.push(chunk))
    socket.on('close', () => {
      this.closed = true
      this.#wake()
    })
    socket.on('error', () => undefined)
  }

  static async connect(port: number, hello = true): Promise<RawNativePeer> {
    const socket = connect(port, '127.0.0.1')
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    const peer = new RawNativePeer(socket)
    if (hello) {
      const reply = await peer.call('hello', { versions: [1], clientId: 'raw-test' })
      if (reply.status !== 0) throw new Error(`hello failed: ${JSON.stringify(reply.error)}`)
    }
    return peer
  }

  #wake(): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const wake of waiters) wake()
  }

  /** Sends raw bytes (tests of framing errors). */
  sendBytes(bytes: Uint8Array): void {
    this.socket.write(bytes)
  }

  /** Sends a request without waiting; returns its id. */
  send(op: string, body?: unknown, id = this.#nextId++, v = 1): number {
    this.socket.write(encodeFrame(body === undefined ? { v, id, op } : { v, id, op, body }))
    return id
  }

  /** The response with this id (waits for it, or until the connection closes). */
  async response(id: number): Promise<Response> {
    for (;;) {
      const found = this.responses.find((r) => r.id === id)
      if (found !== undefined) return found
      if (this.closed) throw new Error(`connection closed before response ${id}`)
      await new Promise<void>((resolve) => this.#waiters.push(resolve))
    }
  }

  async call(op: string, body?: unknown): Promise<Response> {
    return this.response(this.send(op, body))
  }

  /** Calls and returns the body, failing the test with the broker's error when status is not 0. */
  async ok<T = Record<string, unknown>>(op: string, body?: unknown): Promise<T> {
    const response = await this.call(op, body)
    if (response.status !== 0) throw new Error(`${op} failed: ${JSON.stringify(response.error)}`)
    return response.body as T
  }

  async waitClosed(): Promise<void> {
    while (!this.closed) await new Promise<void>((resolve) => this.#waiters.push(resolve))
  }

  close(): void {
    this.socket.destroy()
  }
}
