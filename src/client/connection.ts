import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect, type ConnectionOptions as TlsOptions } from 'node:tls'
import type { Logger } from 'pino'
import { BrokerError } from '../errors.ts'
import { encodeFrame, FrameDecoder } from '../native/wire/frame.ts'
import { helloRequest, parseHelloReply, parseResponse, protocolVersions, statusOk } from '../native/wire/frames.ts'
import type { Clock, TimerHandle } from '../util/clock.ts'
import { TurnCork } from '../util/turn-cork.ts'
import { connectionClosed, errorFromWire, timeout } from './client-errors.ts'

/*
  One socket to the broker, after the hello handshake (frames.ts):

    client                                   broker
      hello {versions:[1], clientId}  ───▶
                                      ◀───   {version, maxFrameBytes}
      request {v, id, op, body}  ───▶                      (pipelined: many in flight)
      request {v, id, op, body}  ───▶
                                      ◀───   response {id, status, error?, body?}  (any order)

  Responses are matched to requests by id. A request that gets no response within its timeout
  fails with CAIRN_TIMEOUT (a late response is then dropped); when the socket ends, every request
  still waiting fails with CAIRN_CONNECTION_CLOSED (retriable) and `onClose` is called once.
  Requests are encoded against the broker's maxFrameBytes, so one it would refuse never leaves
  (CAIRN_FRAME_TOO_LARGE for that request alone). A response frame larger than
  `maxResponseFrameBytes`, or one that is not a valid response, ends the connection.
*/

export interface HelloCredentials {
  username?: string
  password?: string | Uint8Array
}

export interface ConnectionOptions {
  host: string
  port: number
  clientId: string
  tls?: TlsOptions | undefined
  /** Sent in hello; the broker answers CAIRN_AUTH_FAILED / CAIRN_NOT_AUTHORIZED when it refuses them. */
  credentials?: HelloCredentials | undefined
  connectTimeoutMs: number
  maxResponseFrameBytes: number
  clock: Clock
  logger: Logger
  /** Called once when an open connection ends for any reason other than close(). */
  onClose?: (error: BrokerError) => void
}

interface Pending {
  readonly op: string
  readonly resolve: (body: unknown) => void
  readonly reject: (error: BrokerError) => void
  timer: TimerHandle | undefined
}

const ConnectionStates = { opening: 'opening', open: 'open', closed: 'closed' } as const
type ConnectionState = (typeof ConnectionStates)[keyof typeof ConnectionStates]

const maxId = 0xffff_ffff
const closeGraceMs = 1000

export class Connection {
  readonly #options: ConnectionOptions
  readonly #socket: Socket
  readonly #decoder: FrameDecoder
  readonly #pending = new Map<number, Pending>()
  #state: ConnectionState = ConnectionStates.opening
  #nextId = 0
  #version = 1
  #maxFrameBytes = maxId
  readonly #cork: TurnCork
  #closeError: BrokerError | undefined
  /** Why the connection failed while opening, as raised (a timeout stays CAIRN_TIMEOUT). */
  #openError: BrokerError | undefined

  /**
   * Connects and performs the hello handshake within `connectTimeoutMs`. Rejects with
   * CAIRN_TIMEOUT, CAIRN_CONNECTION_CLOSED (socket error, refused) or the broker's hello error
   * (e.g. CAIRN_PROTOCOL_VERSION).
   */
  static open(options: ConnectionOptions): Promise<Connection> {
    return new Connection(options).#open()
  }

  private constructor(options: ConnectionOptions) {
    this.#options = options
    this.#decoder = new FrameDecoder({
      maxFrameBytes: options.maxResponseFrameBytes,
      onFrame: (value) => this.#onFrame(value),
    })
    const address = { host: options.host, port: options.port }
    this.#socket =
      options.tls === undefined
        ? netConnect(address)
        : tlsConnect({ servername: options.host, ...options.tls, ...address })
    this.#socket.setNoDelay(true)
    this.#cork = new TurnCork(this.#socket)
    this.#socket.on('data', (chunk: Buffer) => {
      try {
        this.#decoder.push(chunk)
      } catch (error) {
        this.#fail(error instanceof BrokerError ? error : connectionClosed('cannot read a response frame', error))
      }
    })
    this.#socket.on('error', (error) => {
      this.#fail(connectionClosed(`connection to ${this.#address} failed: ${error.message}`, error))
    })
    this.#socket.on('close', () => this.#fail(connectionClosed(`connection to ${this.#address} closed`)))
  }

  get #address(): string {
    return `${this.#options.host}:${this.#options.port}`
  }

  /** The broker's largest accepted frame body, learnt in the handshake. */
  get maxFrameBytes(): number {
    return this.#maxFrameBytes
  }

  /** The negotiated protocol version. */
  get version(): number {
    return this.#version
  }

  get isOpen(): boolean {
    return this.#state === ConnectionStates.open
  }

  /** Requests sent and not yet answered (nor timed out). */
  get inFlight(): number {
    return this.#pending.size
  }

  async #open(): Promise<Connection> {
    const { clock, connectTimeoutMs } = this.#options
    const timer = clock.setTimeout(() => {
      this.#fail(timeout(`connecting to ${this.#address}`, connectTimeoutMs))
    }, connectTimeoutMs)
    try {
      const event = this.#options.tls === undefined ? 'connect' : 'secureConnect'
      await new Promise<void>((resolve, reject) => {
        if (this.#state === ConnectionStates.closed) {
          reject(this.#closeError ?? connectionClosed(`connection to ${this.#address} closed`))
          return
        }
        const onConnect = (): void => {
          this.#socket.off('close', onClose)
          resolve()
        }
        const onClose = (): void => {
          this.#socket.off(event, onConnect)
          reject(this.#closeError ?? connectionClosed(`connection to ${this.#address} closed`))
        }
        this.#socket.once(event, onConnect)
        this.#socket.once('close', onClose)
      })
      const hello = helloRequest(
        this.#allocateId(),
        this.#options.clientId,
        protocolVersions,
        this.#options.credentials,
      )
      const reply = parseHelloReply(await this.#send(hello.id, hello.op, hello, 0))
      if (!(protocolVersions as readonly number[]).includes(reply.version)) {
        throw new BrokerError('CAIRN_PROTOCOL_VERSION', `broker chose protocol version ${reply.version}`)
      }
      if (reply.maxFrameBytes < 1) throw new BrokerError('CAIRN_FRAME_MALFORMED', 'broker sent maxFrameBytes 0')
      this.#version = reply.version
      this.#maxFrameBytes = reply.maxFrameBytes
      if (this.#state !== ConnectionStates.opening) throw this.#closeError ?? connectionClosed('connection closed')
      this.#state = ConnectionStates.open
      this.#options.logger.debug({ address: this.#address, maxFrameBytes: reply.maxFrameBytes }, 'connected')
      return this
    } catch (error) {
      const failure =
        this.#openError ?? (error instanceof BrokerError ? error : connectionClosed('handshake failed', error))
      this.#fail(failure)
      throw failure
    } finally {
      clock.clearTimeout(timer)
    }
  }

  /**
   * Sends one request and resolves with the response body (undefined when the broker sent none),
   * or rejects with the broker's error as a BrokerError. `timeoutMs` <= 0 or Infinity: no timeout.
   */
  request(op: string, body: unknown, timeoutMs: number): Promise<unknown> {
    if (this.#state !== ConnectionStates.open) {
      return Promise.reject(this.#closeError ?? connectionClosed('connection is not open'))
    }
    const id = this.#allocateId()
    return this.#send(id, op, { v: this.#version, id, op, ...(body === undefined ? {} : { body }) }, timeoutMs)
  }

  /**
   * Sends a request the broker does not answer (produce with acks 0); resolves once the frame has
   * been handed to the operating system.
   */
  requestWithoutResponse(op: string, body: unknown): Promise<void> {
    if (this.#state !== ConnectionStates.open) {
      return Promise.reject(this.#closeError ?? connectionClosed('connection is not open'))
    }
    let frame: Buffer
    try {
      const id = this.#allocateId()
      frame = encodeFrame({ v: this.#version, id, op, body }, this.#maxFrameBytes)
    } catch (error) {
      return Promise.reject(asError(error))
    }
    return new Promise((resolve, reject) => {
      this.#write(frame, (error) => {
        if (error === undefined || error === null) resolve()
        else reject(connectionClosed(`writing ${op} failed: ${error.message}`, error))
      })
    })
  }

  #send(id: number, op: string, message: unknown, timeoutMs: number): Promise<unknown> {
    let frame: Buffer
    try {
      frame = encodeFrame(message, this.#maxFrameBytes)
    } catch (error) {
      return Promise.reject(asError(error))
    }
    return new Promise<unknown>((resolve, reject) => {
      const pending: Pending = { op, resolve, reject, timer: undefined }
      if (timeoutMs > 0 && Number.isFinite(timeoutMs)) {
        pending.timer = this.#options.clock.setTimeout(() => {
          if (this.#pending.get(id) !== pending) return
          this.#pending.delete(id)
          reject(timeout(`${op} request ${id}`, timeoutMs))
        }, timeoutMs)
      }
      this.#pending.set(id, pending)
      this.#write(frame)
    })
  }

  #write(frame: Buffer, callback?: (error: Error | null | undefined) => void): void {
    // Frames written during one turn of the event loop leave in as few segments as possible.
    this.#cork.hold()
    this.#socket.write(frame, callback)
  }

  #allocateId(): number {
    for (;;) {
      this.#nextId = this.#nextId >= maxId ? 1 : this.#nextId + 1
      if (!this.#pending.has(this.#nextId)) return this.#nextId
    }
  }

  #onFrame(value: unknown): void {
    const response = parseResponse(value)
    const pending = this.#pending.get(response.id)
    if (response.id === 0 && pending === undefined && response.error !== undefined) {
      // The broker reports an error about the connection itself (a bad frame) and closes it.
      const error = errorFromWire(response.error, 'connection')
      this.#options.logger.warn({ err: error }, 'the broker refused the connection')
      this.#fail(connectionClosed(`the broker closed the connection: ${error.message}`, error))
      return
    }
    if (pending === undefined) {
      // Its request timed out (or was never ours): nobody waits for it any more.
      this.#options.logger.debug({ id: response.id }, 'response for a request no longer waiting; dropped')
      return
    }
    this.#pending.delete(response.id)
    if (pending.timer !== undefined) this.#options.clock.clearTimeout(pending.timer)
    if (response.status === statusOk) pending.resolve(response.body)
    else if (response.error !== undefined) pending.reject(errorFromWire(response.error, pending.op))
    else pending.reject(new BrokerError('CAIRN_FRAME_MALFORMED', `response ${response.id} has no error`))
  }

  #fail(error: BrokerError): void {
    if (this.#state === ConnectionStates.closed) return
    const wasOpen = this.#state === ConnectionStates.open
    if (!wasOpen) this.#openError = error
    this.#state = ConnectionStates.closed
    const closed = error.code === 'CAIRN_CONNECTION_CLOSED' ? error : connectionClosed(error.message, error)
    this.#closeError = closed
    this.#socket.destroy()
    this.#rejectAll(closed)
    if (wasOpen) {
      this.#options.logger.debug({ err: error, address: this.#address }, 'connection lost')
      this.#options.onClose?.(closed)
    }
  }

  #rejectAll(error: BrokerError): void {
    const pending = [...this.#pending.values()]
    this.#pending.clear()
    for (const p of pending) {
      if (p.timer !== undefined) this.#options.clock.clearTimeout(p.timer)
      p.reject(error)
    }
  }

  /** Ends the connection on purpose: waiting requests fail with `error`; onClose is not called. */
  async close(error: BrokerError = connectionClosed('connection closed by the client')): Promise<void> {
    if (this.#state === ConnectionStates.closed) return
    this.#state = ConnectionStates.closed
    this.#closeError = error
    this.#rejectAll(error)
    if (this.#socket.destroyed) return
    await new Promise<void>((resolve) => {
      const timer = this.#options.clock.setTimeout(() => this.#socket.destroy(), closeGraceMs)
      this.#socket.once('close', () => {
        this.#options.clock.clearTimeout(timer)
        resolve()
      })
      this.#socket.end()
    })
  }

  /** Drops the connection at once, as a network failure would (onClose is called). */
  destroy(error: BrokerError = connectionClosed('connection destroyed')): void {
    this.#fail(error)
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new BrokerError('CAIRN_FRAME_MALFORMED', String(error))
}
