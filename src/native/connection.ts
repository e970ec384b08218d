import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import { nativeOpResources } from '../auth/native-access.ts'
import type { AuthFailureReason, Principal } from '../auth/security-policy.ts'
import { BrokerError, isBrokerError } from '../errors.ts'
import { handlers, noReply, type NativeContext } from './handlers/index.ts'
import { TurnCork } from '../util/turn-cork.ts'
import type { TimerHandle } from '../util/clock.ts'
import { toNativeFailure } from './status.ts'
import { encodeFrame, FrameDecoder } from './wire/frame.ts'
import {
  helloResponse,
  negotiateVersion,
  parseHello,
  parseRequest,
  protocolVersions,
  type Request,
  type Response,
} from './wire/frames.ts'
import { isOpName, ops } from './wire/ops.ts'
import { check } from './wire/schema.ts'
import type { NativeConnectionInfo, NativeFrontEnd } from './native-front-end.ts'

/**
 * One native-protocol connection: frames in, requests dispatched to their handlers (several may
 * be in flight; answers go out as each completes, so out of order), frames out. The first request
 * must be `hello`. A framing error cannot be resynchronised: it is answered (id 0) and the
 * connection closed. Reading pauses while too many requests are in flight or the peer is not
 * reading our answers, so one client cannot make the broker buffer without bound.
 */
export class NativeConnection implements NativeContext {
  readonly frontEnd: NativeFrontEnd
  readonly #parentLogger: Logger
  #logger: Logger | undefined
  readonly #duplex: Duplex
  readonly #decoder: FrameDecoder
  /** Made on first use, like the sticky partitions and the child logger: an idle connection holds none of them. */
  #closeListeners: Set<() => void> | undefined
  readonly #cork: TurnCork
  #stickyPartitions: Map<string, number> | undefined
  clientId = ''
  readonly #info: NativeConnectionInfo
  /** Set by hello when a security policy is configured; undefined: everything is allowed. */
  #principal: Principal | undefined
  /** Frames that arrived while hello's credentials were being checked, handled after it. */
  #held: unknown[] | undefined
  #version: number | undefined
  /** Slow-loris: a connection that does not say hello in time is closed. */
  #helloTimer: TimerHandle | undefined
  #inflight = 0
  #pausedForInflight = false
  #pausedForDrain = false
  #closed = false

  constructor(frontEnd: NativeFrontEnd, duplex: Duplex, logger: Logger, info: NativeConnectionInfo = {}) {
    this.frontEnd = frontEnd
    this.#info = { ...info, remoteAddress: info.remoteAddress ?? (duplex as { remoteAddress?: string }).remoteAddress }
    this.#duplex = duplex
    this.#cork = new TurnCork(duplex)
    this.#parentLogger = logger
    this.#decoder = new FrameDecoder({
      maxFrameBytes: frontEnd.maxFrameBytes,
      onFrame: (value) => this.#onFrame(value),
    })
    duplex.on('data', (chunk: Buffer) => this.#onData(chunk))
    duplex.on('drain', () => {
      this.#pausedForDrain = false
      this.#updateFlow()
    })
    duplex.on('error', (err) => this.logger.debug({ err }, 'native connection error'))
    duplex.on('close', () => this.#onClose())
    duplex.on('end', () => duplex.end())
    this.#helloTimer = frontEnd.clock.setTimeout(() => {
      this.#helloTimer = undefined
      if (this.#version !== undefined || this.#held !== undefined || this.#closed) return
      frontEnd.limitCounters.helloTimeouts++
      this.#send({ id: 0, ...toNativeFailure(new BrokerError('CAIRN_TIMEOUT', 'no hello within the hello timeout')) })
      this.close()
    }, frontEnd.helloTimeoutMs)
  }

  /**
   * Every line about this connection says whose it is. The child logger is made on the first line: most
   * connections never log, and an idle gateway may hold thousands of them.
   */
  get logger(): Logger {
    return (this.#logger ??= this.#parentLogger.child({ remoteAddress: this.#info.remoteAddress }))
  }

  /** The partition each stream's unkeyed, unsequenced records go to on this connection. */
  get stickyPartitions(): Map<string, number> {
    return (this.#stickyPartitions ??= new Map())
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Registers cleanup for when the connection goes away (long-polls, timers); returns the unregister. */
  onClose(listener: () => void): () => void {
    const listeners = (this.#closeListeners ??= new Set())
    listeners.add(listener)
    return () => listeners.delete(listener)
  }

  close(): void {
    if (this.#closed) return
    // Flush what is queued (an error answer, say), then let go even if the peer never closes its side.
    this.#duplex.end(() => this.#duplex.destroy())
  }

  #onData(chunk: Buffer): void {
    this.frontEnd.counters.bytesReceived += chunk.length
    try {
      this.#decoder.push(chunk)
    } catch (error) {
      if (isBrokerError(error) && error.code === 'CAIRN_FRAME_TOO_LARGE') this.frontEnd.limitCounters.framesTooLarge++
      // Framing errors end the connection: the byte stream cannot be resynchronised.
      this.#send({ id: 0, ...toNativeFailure(error) })
      this.logger.info({ err: error, clientId: this.clientId }, 'native connection closed: bad frame')
      this.close()
    }
  }

  #onFrame(value: unknown): void {
    if (this.#held !== undefined) {
      this.#held.push(value)
      return
    }
    let request: Request
    try {
      request = parseRequest(value)
    } catch (error) {
      const id = typeof value === 'object' && value !== null ? (value as { id?: unknown }).id : undefined
      // An id that is not a uint32 cannot go back either: the answer would not parse (id 0: the connection's).
      this.#send({
        id: Number.isInteger(id) && (id as number) >= 0 && (id as number) <= 0xffff_ffff ? (id as number) : 0,
        ...toNativeFailure(error),
      })
      this.close()
      return
    }
    if (request.op === 'hello') {
      this.#hello(request)
      return
    }
    if (this.#version === undefined) {
      this.#fail(request.id, protocolError('the first request on a connection must be hello'))
      this.close()
      return
    }
    if (request.v !== this.#version) {
      this.#fail(request.id, protocolError(`request version ${request.v}, but this connection speaks ${this.#version}`))
      return
    }
    this.#dispatch(request)
  }

  #hello(request: Request): void {
    try {
      if (this.#version !== undefined) throw protocolError('hello may be sent only once per connection')
      this.#clearHelloTimer()
      if (this.#info.overLimit !== undefined) {
        // No code names a connection limit; this one is retriable, so a client backs off and tries again.
        this.frontEnd.limitCounters.connectionsOverLimit++
        throw new BrokerError('CAIRN_CONNECTION_CLOSED', this.#info.overLimit)
      }
      const hello = parseHello(request.body)
      const version = negotiateVersion(hello.versions)
      if (version === undefined) {
        throw protocolError(
          `no common protocol version: client offers ${hello.versions.join(', ')}, broker speaks ${protocolVersions.join(', ')}`,
        )
      }
      this.clientId = hello.clientId
      const security = this.frontEnd.security
      if (security === undefined) {
        this.#version = version
        this.#send(helloResponse(request.id, { version, maxFrameBytes: this.frontEnd.maxFrameBytes }))
        return
      }
      // scrypt runs off the event loop: hold later frames (pipelined requests) and stop reading meanwhile.
      this.#held = []
      this.#updateFlow()
      const credentials = {
        username: hello.username,
        password: hello.password === undefined ? undefined : Buffer.from(hello.password),
        clientId: hello.clientId,
        certificateIdentity: this.#info.certificateIdentity,
      }
      security.authenticate(credentials, { protocol: 'native', remoteAddress: this.#info.remoteAddress }).then(
        (result) => {
          if (result.ok) {
            this.#principal = result.principal
            this.#version = version
            this.#send(helloResponse(request.id, { version, maxFrameBytes: this.frontEnd.maxFrameBytes }))
          } else {
            this.#fail(request.id, authError(result.reason))
            this.close()
          }
          const held = this.#held ?? []
          this.#held = undefined
          if (!this.#closed && result.ok) for (const frame of held) this.#onFrame(frame)
          this.#updateFlow()
        },
        (error: unknown) => {
          this.#fail(request.id, error)
          this.close()
        },
      )
    } catch (error) {
      this.#fail(request.id, error)
      this.close()
    }
  }

  #dispatch(request: Request): void {
    const { id, op } = request
    if (!isOpName(op)) {
      this.#fail(id, new BrokerError('CAIRN_OPERATION_UNKNOWN', `unknown operation "${op}"`, { details: { op } }))
      return
    }
    let reply: unknown
    try {
      const body = check(ops[op].request as (v: unknown, path: string) => unknown, request.body ?? {})
      if (this.#principal !== undefined) for (const r of nativeOpResources(op, body)) this.#principal.check(r)
      reply = (handlers[op] as (ctx: NativeContext, body: unknown) => unknown)(this, body)
    } catch (error) {
      this.#fail(id, error)
      return
    }
    if (reply === noReply) return
    if (!(reply instanceof Promise)) {
      this.#send({ id, status: 0, body: reply })
      return
    }
    this.#inflight++
    this.#updateFlow()
    reply.then(
      (body: unknown) => this.#answer(id, { id, status: 0, body }),
      (error: unknown) => this.#answer(id, { id, ...toNativeFailure(error) }, error),
    )
  }

  #answer(id: number, response: Response, error?: unknown): void {
    this.#inflight--
    if (error !== undefined) this.#logFailure(id, error)
    this.#send(response)
    this.#updateFlow()
  }

  #fail(id: number, error: unknown): void {
    this.#logFailure(id, error)
    this.#send({ id, ...toNativeFailure(error) })
  }

  #logFailure(id: number, error: unknown): void {
    if (isBrokerError(error)) this.logger.debug({ err: error, id, clientId: this.clientId }, 'native request refused')
    else this.logger.error({ err: error, id, clientId: this.clientId }, 'native request failed unexpectedly')
  }

  #send(response: Response): void {
    if (this.#closed || this.#duplex.destroyed || this.#duplex.writableEnded) return
    let frame: Buffer
    try {
      frame = encodeFrame(response, this.frontEnd.maxFrameBytes)
    } catch (error) {
      this.logger.error({ err: error, id: response.id }, 'native response could not be encoded')
      frame = encodeFrame({ id: response.id, ...toNativeFailure(error) })
    }
    this.frontEnd.counters.bytesSent += frame.length
    this.#cork.hold()
    if (!this.#duplex.write(frame)) {
      this.#pausedForDrain = true
      this.#updateFlow()
    }
  }

  #updateFlow(): void {
    this.#pausedForInflight = this.#inflight >= this.frontEnd.maxInflightRequests
    if (this.#pausedForInflight || this.#pausedForDrain || this.#held !== undefined) this.#duplex.pause()
    else if (!this.#closed) this.#duplex.resume()
  }

  #clearHelloTimer(): void {
    if (this.#helloTimer === undefined) return
    this.frontEnd.clock.clearTimeout(this.#helloTimer)
    this.#helloTimer = undefined
  }

  #onClose(): void {
    if (this.#closed) return
    this.#closed = true
    this.#clearHelloTimer()
    const listeners = this.#closeListeners
    if (listeners !== undefined) {
      for (const listener of listeners) listener()
      listeners.clear()
    }
    this.frontEnd.connectionClosed(this)
  }
}

function authError(reason: AuthFailureReason): BrokerError {
  switch (reason) {
    case 'bad-credentials':
      return new BrokerError('CAIRN_AUTH_FAILED', 'bad user name or password')
    case 'not-authorized':
      return new BrokerError('CAIRN_NOT_AUTHORIZED', 'credentials are required')
    case 'rate-limited':
      return new BrokerError('CAIRN_AUTH_RATE_LIMITED', 'too many failed attempts from this address; try later')
  }
}

function protocolError(message: string): BrokerError {
  return new BrokerError('CAIRN_PROTOCOL_VERSION', message)
}
