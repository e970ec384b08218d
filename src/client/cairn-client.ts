import { randomUUID } from 'node:crypto'
import { EventEmitter } from 'node:events'
import type { ConnectionOptions as TlsOptions } from 'node:tls'
import { pino, type Logger } from 'pino'
import { BrokerError } from '../errors.ts'
import { ops, type OpName, type OpRequest, type OpResponse } from '../native/wire/ops.ts'
import { check, type Schema } from '../native/wire/schema.ts'
import { systemClock, type Clock, type TimerHandle } from '../util/clock.ts'
import { Admin } from './admin.ts'
import { Backoff } from './backoff.ts'
import { clientClosed, timeout } from './client-errors.ts'
import { Connection, type HelloCredentials } from './connection.ts'
import { Consumer, type ConsumerOptions } from './consumer.ts'
import { MetadataCache } from './metadata-cache.ts'
import { Producer, type ProducerOptions } from './producer.ts'
import type { RequestOptions } from './types.ts'

export interface ReconnectOptions {
  /** First delay after the connection drops (then doubling, with jitter). Default 100. */
  initialDelayMs?: number
  /** Cap on the delay between attempts. Default 10000. */
  maxDelayMs?: number
}

export interface CairnClientOptions {
  /** Default 127.0.0.1. */
  host?: string
  /** Default 7883. */
  port?: number
  /** Sent in hello and in group heartbeats. Default `cairn-client-<random>`. */
  clientId?: string
  /** Connect over TLS with these options (ca, cert, key, rejectUnauthorized, ...). */
  tls?: TlsOptions
  /** Sent in hello when the broker requires users (its `security` section). */
  username?: string
  password?: string | Uint8Array
  /** TCP (+ TLS) connect and hello handshake. Default 10000. */
  connectTimeoutMs?: number
  /** Default per-request timeout (fetch adds its maxWaitMs). Default 30000. */
  requestTimeoutMs?: number
  reconnect?: ReconnectOptions
  /** Largest response frame accepted. Default 64 MiB. */
  maxResponseFrameBytes?: number
  /** pino logger; silent by default. */
  logger?: Logger
  /** Time and timers (tests inject a fake). */
  clock?: Clock
}

export interface ClientEvents {
  /** A connection is up (handshake done); `reconnect` after the first. */
  connect: [info: { reconnect: boolean }]
  /** The connection dropped; the client reconnects with backoff. */
  disconnect: [error: BrokerError]
  /** close() was called. */
  close: []
}

const ClientStates = {
  idle: 'idle',
  connecting: 'connecting',
  connected: 'connected',
  reconnecting: 'reconnecting',
  closed: 'closed',
} as const
type ClientState = (typeof ClientStates)[keyof typeof ClientStates]

interface Waiter {
  resolve: (connection: Connection) => void
  reject: (error: unknown) => void
  timer: TimerHandle | undefined
}

/**
 * A connection to one Cairn broker over the native protocol, shared by the admin, producers and
 * consumers made from it.
 *
 * States: idle → connecting → connected ⇄ reconnecting; any → closed. The first connection is made
 * by connect() (or lazily by the first request). When an established connection drops, requests in
 * flight fail with CAIRN_CONNECTION_CLOSED (retriable) and the client reconnects with exponential
 * backoff and jitter until close(); requests made meanwhile wait for the connection (within their
 * timeout). The stream metadata cache is dropped on every reconnect.
 */
export class CairnClient extends EventEmitter<ClientEvents> {
  readonly clientId: string
  readonly host: string
  readonly port: number
  readonly requestTimeoutMs: number
  readonly connectTimeoutMs: number
  readonly clock: Clock
  readonly logger: Logger
  /** Stream metadata as last seen (the producer partitions with it). */
  readonly metadata: MetadataCache
  readonly #tls: TlsOptions | undefined
  readonly #credentials: HelloCredentials
  readonly #maxResponseFrameBytes: number
  readonly #backoff: Backoff
  readonly #waiters = new Set<Waiter>()
  #state: ClientState = ClientStates.idle
  #connection: Connection | undefined
  #reconnectTimer: TimerHandle | undefined
  #everConnected = false
  #admin: Admin | undefined

  constructor(options: CairnClientOptions = {}) {
    super()
    this.host = options.host ?? '127.0.0.1'
    this.port = options.port ?? 7883
    this.clientId = options.clientId ?? `cairn-client-${randomUUID().slice(0, 8)}`
    this.connectTimeoutMs = positive('connectTimeoutMs', options.connectTimeoutMs ?? 10_000)
    this.requestTimeoutMs = positive('requestTimeoutMs', options.requestTimeoutMs ?? 30_000)
    this.#maxResponseFrameBytes = positive('maxResponseFrameBytes', options.maxResponseFrameBytes ?? 64 * 1024 * 1024)
    this.#tls = options.tls
    this.#credentials = {
      ...(options.username === undefined ? {} : { username: options.username }),
      ...(options.password === undefined ? {} : { password: options.password }),
    }
    this.clock = options.clock ?? systemClock
    this.logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'client', clientId: this.clientId })
    this.#backoff = new Backoff({
      initialDelayMs: options.reconnect?.initialDelayMs ?? 100,
      maxDelayMs: options.reconnect?.maxDelayMs ?? 10_000,
    })
    this.metadata = new MetadataCache(this)
  }

  get isConnected(): boolean {
    return this.#state === ClientStates.connected
  }

  get isClosed(): boolean {
    return this.#state === ClientStates.closed
  }

  /** The broker's largest accepted frame (learnt in the handshake), or undefined before it. */
  get maxFrameBytes(): number | undefined {
    return this.#connection?.maxFrameBytes
  }

  /**
   * Connects and performs the hello handshake (one attempt, within connectTimeoutMs). Resolves at
   * once when connected; while reconnecting, waits for the reconnect.
   */
  async connect(): Promise<void> {
    switch (this.#state) {
      case ClientStates.closed:
        throw clientClosed()
      case ClientStates.connected:
        return
      case ClientStates.connecting:
      case ClientStates.reconnecting:
        await this.#waitForConnection(this.connectTimeoutMs)
        return
      case ClientStates.idle:
        break
    }
    this.#state = ClientStates.connecting
    let connection: Connection
    try {
      connection = await this.#open()
    } catch (error) {
      if (this.#state === ClientStates.connecting) this.#state = ClientStates.idle
      this.#rejectWaiters(error)
      throw error
    }
    this.#connected(connection)
  }

  /**
   * Sends one operation and resolves with its validated response body; rejects with a BrokerError
   * (the broker's error, CAIRN_TIMEOUT, or CAIRN_CONNECTION_CLOSED). A produce with acks 0 gets no
   * response: it resolves with `{ results: [] }` once written to the socket.
   */
  async request<K extends OpName>(op: K, body: OpRequest<K>, options: RequestOptions = {}): Promise<OpResponse<K>> {
    const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs
    const startedMs = this.clock.now()
    const connection = this.#connection?.isOpen === true ? this.#connection : await this.#waitForConnection(timeoutMs)
    if (op === 'produce' && (body as OpRequest<'produce'>).acks === 0) {
      await connection.requestWithoutResponse(op, body)
      return { results: [] } satisfies OpResponse<'produce'> as OpResponse<K>
    }
    const remainingMs = Math.max(1, timeoutMs - (this.clock.now() - startedMs))
    return validateResponse(op, await connection.request(op, body, remainingMs))
  }

  /** Admin operations (streams, offsets, groups). */
  admin(): Admin {
    this.#admin ??= new Admin(this)
    return this.#admin
  }

  producer(options: ProducerOptions = {}): Producer {
    return new Producer(this, options)
  }

  consumer(options: ConsumerOptions = {}): Consumer {
    return new Consumer(this, options)
  }

  /**
   * Closes the connection and stops reconnecting. Requests still waiting fail with
   * CAIRN_CONNECTION_CLOSED (not retriable); producers and consumers made from this client stop
   * without flushing or leaving their group (close those first for a graceful shutdown).
   */
  async close(): Promise<void> {
    if (this.#state === ClientStates.closed) return
    this.#state = ClientStates.closed
    if (this.#reconnectTimer !== undefined) this.clock.clearTimeout(this.#reconnectTimer)
    this.#reconnectTimer = undefined
    const error = clientClosed()
    this.#rejectWaiters(error)
    const connection = this.#connection
    this.#connection = undefined
    this.emit('close')
    await connection?.close(error)
  }

  #open(): Promise<Connection> {
    const holder: { connection?: Connection } = {}
    return Connection.open({
      host: this.host,
      port: this.port,
      clientId: this.clientId,
      tls: this.#tls,
      credentials: this.#credentials,
      connectTimeoutMs: this.connectTimeoutMs,
      maxResponseFrameBytes: this.#maxResponseFrameBytes,
      clock: this.clock,
      logger: this.logger,
      onClose: (error) => this.#lost(holder.connection, error),
    }).then((connection) => {
      holder.connection = connection
      return connection
    })
  }

  #connected(connection: Connection): void {
    if (this.#state === ClientStates.closed) {
      void connection.close(clientClosed())
      throw clientClosed()
    }
    this.#connection = connection
    this.#state = ClientStates.connected
    this.#backoff.reset()
    const reconnect = this.#everConnected
    this.#everConnected = true
    if (reconnect) this.metadata.invalidate()
    this.logger.info({ host: this.host, port: this.port, reconnect }, 'connected to the broker')
    for (const waiter of [...this.#waiters]) {
      this.#waiters.delete(waiter)
      if (waiter.timer !== undefined) this.clock.clearTimeout(waiter.timer)
      waiter.resolve(connection)
    }
    this.emit('connect', { reconnect })
  }

  #lost(connection: Connection | undefined, error: BrokerError): void {
    if (this.#state === ClientStates.closed) return
    if (connection !== undefined && connection !== this.#connection) return
    this.#connection = undefined
    this.#state = ClientStates.reconnecting
    this.logger.warn({ err: error }, 'connection lost; reconnecting')
    this.emit('disconnect', error)
    this.#scheduleReconnect()
  }

  #scheduleReconnect(): void {
    const delayMs = this.#backoff.next()
    this.logger.debug({ delayMs, attempt: this.#backoff.attempt }, 'reconnect scheduled')
    this.#reconnectTimer = this.clock.setTimeout(() => {
      this.#reconnectTimer = undefined
      void this.#reconnect()
    }, delayMs)
  }

  async #reconnect(): Promise<void> {
    if (this.#state !== ClientStates.reconnecting) return
    let connection: Connection
    try {
      connection = await this.#open()
    } catch (error) {
      this.logger.debug({ err: error }, 'reconnect attempt failed')
      if (this.#state === ClientStates.reconnecting) this.#scheduleReconnect()
      return
    }
    try {
      this.#connected(connection)
    } catch {
      // closed meanwhile; #connected closed the new connection
    }
  }

  #waitForConnection(timeoutMs: number): Promise<Connection> {
    if (this.#state === ClientStates.closed) return Promise.reject(clientClosed())
    if (this.#connection?.isOpen === true) return Promise.resolve(this.#connection)
    const promise = new Promise<Connection>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, timer: undefined }
      if (timeoutMs > 0 && Number.isFinite(timeoutMs)) {
        waiter.timer = this.clock.setTimeout(() => {
          this.#waiters.delete(waiter)
          reject(timeout(`waiting for a connection to ${this.host}:${this.port}`, timeoutMs))
        }, timeoutMs)
      }
      this.#waiters.add(waiter)
    })
    if (this.#state === ClientStates.idle) {
      // The first request connects, as connect() would; a failure reaches the waiters.
      this.connect().catch(() => {})
    }
    return promise
  }

  #rejectWaiters(error: unknown): void {
    for (const waiter of [...this.#waiters]) {
      this.#waiters.delete(waiter)
      if (waiter.timer !== undefined) this.clock.clearTimeout(waiter.timer)
      waiter.reject(error)
    }
  }
}

function validateResponse<K extends OpName>(op: K, body: unknown): OpResponse<K> {
  const schema = ops[op].response as unknown as Schema<OpResponse<K>>
  try {
    return check(schema, body ?? {}, 'body')
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error)
    throw new BrokerError('CAIRN_FRAME_MALFORMED', `invalid ${op} response: ${reason}`, { cause: error })
  }
}

function positive(name: string, value: number): number {
  if (!(value > 0)) throw new RangeError(`${name} must be a positive number (got ${value})`)
  return value
}
