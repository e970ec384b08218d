import type { Duplex } from 'node:stream'
import mqttPacket, { type IConnectPacket, type IPublishPacket, type Packet } from 'mqtt-packet'
import type { Logger } from 'pino'
import type { TimerHandle } from '../util/clock.ts'
import { handleAuth } from './handlers/auth.ts'
import { handleConnect } from './handlers/connect.ts'
import { handleDisconnect } from './handlers/disconnect.ts'
import { handlePingreq } from './handlers/pingreq.ts'
import { handlePuback } from './handlers/puback.ts'
import { handlePubcomp } from './handlers/pubcomp.ts'
import { handlePublish } from './handlers/publish.ts'
import { handlePubrec } from './handlers/pubrec.ts'
import { handlePubrel } from './handlers/pubrel.ts'
import { handleSubscribe } from './handlers/subscribe.ts'
import { handleUnsubscribe } from './handlers/unsubscribe.ts'
import type { MqttFrontEnd, MqttPrincipal } from './mqtt-front-end.ts'
import { newTopicCache, outgoingUserProperties, type TopicCache } from './message.ts'
import { malformation, propertiesProblem } from './packet-checks.ts'
import { PacketSizeGuard } from './packet-size-guard.ts'
import { PublishRate } from './limits.ts'
import { ReasonCode } from './reason-codes.ts'
import type { Session, SessionLink } from './session.ts'
import { recordUserPropertyOrder, spliceUserProperties } from './user-properties.ts'
import { TurnCork } from '../util/turn-cork.ts'

export const ConnectionStates = {
  AWAITING_CONNECT: 'awaiting-connect',
  CONNECTING: 'connecting',
  CONNECTED: 'connected',
  CLOSED: 'closed',
} as const
export type ConnectionState = (typeof ConnectionStates)[keyof typeof ConnectionStates]

export interface ConnectionInfo {
  remoteAddress?: string
  /** The verified TLS client certificate's identity (CN or SAN), for authentication and ACLs. */
  certificateIdentity?: string
  /** Set by the listener when the gateway is over a connection limit: CONNECT is refused with this reason. */
  overLimit?: string
}

/** First byte of the acknowledgements (type and the flags the spec fixes: PUBREL has 0b0010 [MQTT-3.6.1-1]). */
export const AckFirstByte = { puback: 0x40, pubrec: 0x50, pubrel: 0x62, pubcomp: 0x70 } as const

/** The will of a connection, published if it ends without DISCONNECT 0x00 [MQTT-3.1.2-8]. */
export type Will = NonNullable<IConnectPacket['will']>

/**
 * One MQTT network connection (any Duplex: TCP, TLS, WebSocket, or an in-memory pair in tests).
 * It owns parsing, the size guard, write batching, keepalive and the packet dispatcher, which alone
 * enforces "CONNECT first, and only once". The session it serves outlives it when persistent.
 *
 *   awaiting-connect ──CONNECT──▶ connecting ──CONNACK 0──▶ connected ──▶ closed
 *          └────────────── timeout / bad first packet / refused CONNACK ──────▶ closed
 */
export class MqttConnection implements SessionLink {
  readonly frontEnd: MqttFrontEnd
  readonly remoteAddress: string | undefined
  readonly certificateIdentity: string | undefined
  readonly overLimit: string | undefined
  /** Publish rate limit (mqtt.maxPublishesPerSec); undefined: none. */
  readonly publishRate: PublishRate | undefined
  /** Set at CONNECT when a security policy is configured; undefined: everything is allowed. */
  principal: MqttPrincipal | undefined
  state: ConnectionState = ConnectionStates.AWAITING_CONNECT
  protocolVersion = 4
  clientId = ''
  session: Session | null = null
  will: Will | undefined
  keepaliveSec = 0
  clientReceiveMaximum: number
  clientMaxPacketBytes = Number.POSITIVE_INFINITY
  clientTopicAliasMaximum = 0
  /** Topic aliases the client set towards us (v5). */
  readonly incomingAliases = new Map<number, string>()
  /** QoS 1/2 PUBLISHes received and not yet acknowledged (v5 Receive Maximum). */
  incomingUnacked = 0
  /** QoS 2 exchanges of this connection waiting for their commit, by packet id. */
  readonly qos2Pending = new Set<number>()
  /** Set by DISCONNECT: whether the will is dropped [MQTT-3.14.4-3]. */
  gracefulDisconnect = false
  /** The UTF-8 bytes of the last topic this client published to (the record key). */
  readonly topicCache: TopicCache = newTopicCache()

  readonly #socket: Duplex
  /** Made on the first log line: most connections never log, and a child logger costs memory. */
  #logger: Logger | undefined
  #loggerClientId = ''
  readonly #parser = mqttPacket.parser()
  readonly #guard: PacketSizeGuard
  readonly #queued: Packet[] = []
  readonly #outgoingAliases = new Map<string, number>()
  #congested = false
  readonly #cork: TurnCork
  #pendingAppends = 0
  #readingPaused = false
  #lastPacketMs: number
  #keepaliveTimer: TimerHandle | undefined
  #connectTimer: TimerHandle | undefined

  constructor(frontEnd: MqttFrontEnd, socket: Duplex, info: ConnectionInfo = {}) {
    this.frontEnd = frontEnd
    this.remoteAddress = info.remoteAddress
    this.certificateIdentity = info.certificateIdentity
    this.overLimit = info.overLimit
    const perSec = frontEnd.options.maxPublishesPerSec
    this.publishRate = perSec > 0 ? new PublishRate(perSec, frontEnd.clock) : undefined
    this.clientReceiveMaximum = frontEnd.options.maxInflightOut
    this.#socket = socket
    this.#cork = new TurnCork(socket)
    this.#guard = new PacketSizeGuard(frontEnd.options.maxPacketBytes)
    this.#lastPacketMs = frontEnd.clock.now()
    recordUserPropertyOrder(this.#parser)
    this.#parser.on('packet', (packet: Packet) => this.#onPacket(packet))
    this.#parser.on('error', (err: Error) => this.protocolFailure(ReasonCode.MALFORMED_PACKET, err.message))
    socket.on('data', (chunk: Buffer) => this.#onData(chunk))
    socket.on('drain', () => {
      this.#congested = false
      this.session?.schedulePump()
    })
    socket.on('error', (err) => this.logger.debug({ err }, 'socket error'))
    socket.on('close', () => this.#onClosed())
    this.#connectTimer = frontEnd.clock.setTimeout(() => {
      if (this.state !== ConnectionStates.AWAITING_CONNECT) return
      this.frontEnd.limitCounters.connectTimeouts++
      this.#destroy('no CONNECT within the connect timeout')
    }, frontEnd.options.connectTimeoutMs)
  }

  get congested(): boolean {
    return this.#congested
  }

  /** This connection's logger, bound to its remote address and, once CONNECT named it, its client id. */
  get logger(): Logger {
    if (this.#logger === undefined || this.#loggerClientId !== this.clientId) {
      this.#loggerClientId = this.clientId
      const bindings: Record<string, unknown> = { remoteAddress: this.remoteAddress }
      if (this.clientId !== '') bindings.clientId = this.clientId
      this.#logger = this.frontEnd.logger.child(bindings)
    }
    return this.#logger
  }

  // ---- reading ----

  #onData(chunk: Buffer): void {
    if (this.state === ConnectionStates.CLOSED) return
    this.frontEnd.counters.bytesReceived += chunk.length
    // Keepalive needs "a packet within 1.5 periods", not the time of each packet: once per chunk is enough.
    this.#lastPacketMs = this.frontEnd.clock.now()
    const oversized = this.#guard.check(chunk)
    if (oversized > 0) {
      this.frontEnd.limitCounters.packetsTooLarge++
      // [MQTT-3.2.2-?] v5: DISCONNECT 0x95 for a packet beyond the Maximum Packet Size we announced.
      this.protocolFailure(
        ReasonCode.PACKET_TOO_LARGE,
        `packet of ${oversized} bytes exceeds ${this.frontEnd.options.maxPacketBytes}`,
      )
      return
    }
    this.#parser.parse(chunk)
  }

  #onPacket(packet: Packet): void {
    if (this.state === ConnectionStates.CLOSED) return
    const badProperty = propertiesProblem(packet)
    if (badProperty !== undefined) return this.protocolFailure(ReasonCode.MALFORMED_PACKET, badProperty)
    if (this.state === ConnectionStates.CONNECTING) {
      this.#queued.push(packet)
      return
    }
    if (this.state === ConnectionStates.AWAITING_CONNECT) {
      // [MQTT-3.1.0-1] the first packet must be CONNECT.
      if (packet.cmd !== 'connect') {
        this.#destroy(`first packet was ${packet.cmd}, not CONNECT`)
        return
      }
      this.frontEnd.clock.clearTimeout(this.#connectTimer as TimerHandle)
      this.#connectTimer = undefined
      this.state = ConnectionStates.CONNECTING
      this.#socket.pause()
      handleConnect(this, packet).then(
        () => this.#afterConnect(),
        (err: unknown) => {
          this.logger.error({ err }, 'CONNECT handling failed')
          this.#destroy('CONNECT handling failed')
        },
      )
      return
    }
    this.#dispatch(packet)
  }

  #afterConnect(): void {
    if (this.state !== ConnectionStates.CONNECTED) return
    this.#socket.resume()
    this.#armKeepalive()
    for (const packet of this.#queued.splice(0)) {
      if (this.state !== ConnectionStates.CONNECTED) return
      this.#dispatch(packet)
    }
  }

  #dispatch(packet: Packet): void {
    // mqtt-packet lets some malformed packets through (it reads past the end of a short packet); answering
    // them would echo an identifier of -1 (a truncated ack) or make generate() throw (an empty SUBACK).
    const malformed = malformation(packet)
    if (malformed !== undefined) return this.protocolFailure(ReasonCode.MALFORMED_PACKET, malformed)
    switch (packet.cmd) {
      case 'publish':
        return handlePublish(this, packet)
      case 'puback':
        return handlePuback(this, packet)
      case 'pubrec':
        return handlePubrec(this, packet)
      case 'pubrel':
        return handlePubrel(this, packet)
      case 'pubcomp':
        return handlePubcomp(this, packet)
      case 'subscribe':
        return handleSubscribe(this, packet)
      case 'unsubscribe':
        return handleUnsubscribe(this, packet)
      case 'pingreq':
        return handlePingreq(this)
      case 'disconnect':
        return handleDisconnect(this, packet)
      case 'auth':
        return handleAuth(this, packet)
      case 'connect':
        // [MQTT-3.1.0-2] a second CONNECT is a protocol violation.
        return this.protocolFailure(ReasonCode.PROTOCOL_ERROR, 'second CONNECT')
      case 'connack':
      case 'suback':
      case 'unsuback':
      case 'pingresp':
        return this.protocolFailure(ReasonCode.PROTOCOL_ERROR, `${packet.cmd} is sent by servers only`)
    }
  }

  /** Publishes waiting for their commit: past the limit we stop reading, so a flood cannot grow memory. */
  appendStarted(): void {
    if (++this.#pendingAppends >= this.frontEnd.options.maxPendingAppendsPerConnection && !this.#readingPaused) {
      this.#readingPaused = true
      this.#socket.pause()
    }
  }

  appendFinished(): void {
    if (--this.#pendingAppends <= this.frontEnd.options.maxPendingAppendsPerConnection / 2 && this.#readingPaused) {
      this.#readingPaused = false
      if (this.state === ConnectionStates.CONNECTED) this.#socket.resume()
    }
  }

  // ---- writing ----

  write(packet: Packet): void {
    if (this.state === ConnectionStates.CLOSED) return
    this.#writeBuffer(mqttPacket.generate(packet, { protocolVersion: this.protocolVersion }))
  }

  /**
   * PUBACK, PUBREC, PUBREL or PUBCOMP with reason Success and no properties: the same 4 bytes in 3.1.1
   * and 5.0 (v5 may omit a Success reason code with no properties [MQTT-3.4.2.1]), built without
   * going through mqtt-packet's generator.
   */
  writeAck(firstByte: number, packetId: number): void {
    if (this.state === ConnectionStates.CLOSED) return
    const buffer = Buffer.allocUnsafe(4)
    buffer[0] = firstByte
    buffer[1] = 2
    buffer[2] = packetId >> 8
    buffer[3] = packetId & 0xff
    this.#writeBuffer(buffer)
  }

  #writeBuffer(buffer: Buffer): void {
    this.frontEnd.counters.bytesSent += buffer.length
    // One write syscall per turn for all the packets of that turn (acks, deliveries).
    this.#cork.hold()
    if (!this.#socket.write(buffer)) this.#congested = true
  }

  sendPublish(packet: IPublishPacket): boolean {
    if (this.state === ConnectionStates.CLOSED) return true
    if (this.clientTopicAliasMaximum > 0) this.#applyOutgoingAlias(packet)
    let buffer: Buffer
    try {
      buffer = mqttPacket.generate(packet, { protocolVersion: this.protocolVersion })
      const userProperties = this.protocolVersion === 5 ? outgoingUserProperties(packet) : undefined
      if (userProperties !== undefined) buffer = spliceUserProperties(buffer, userProperties)
    } catch (err) {
      // Dropped, not thrown: a stored message that cannot be encoded would otherwise crash the broker at
      // every attempt to deliver it, restart after restart. (Incoming properties are checked since.)
      this.logger.error({ err, topic: packet.topic }, 'delivery dropped: the message cannot be encoded')
      return false
    }
    // [MQTT-3.1.2-25] a packet over the client's Maximum Packet Size is discarded as if sent.
    if (buffer.length > this.clientMaxPacketBytes) {
      this.logger.debug(
        { topic: packet.topic, bytes: buffer.length },
        'delivery dropped: larger than the client accepts',
      )
      return false
    }
    this.#writeBuffer(buffer)
    return true
  }

  /** The broker may use topic aliases towards a v5 client that allows them [MQTT-3.3.2-10]. */
  #applyOutgoingAlias(packet: IPublishPacket): void {
    const existing = this.#outgoingAliases.get(packet.topic)
    if (existing !== undefined) {
      packet.properties = { ...packet.properties, topicAlias: existing }
      packet.topic = ''
    } else if (this.#outgoingAliases.size < this.clientTopicAliasMaximum) {
      const alias = this.#outgoingAliases.size + 1
      this.#outgoingAliases.set(packet.topic, alias)
      packet.properties = { ...packet.properties, topicAlias: alias }
    }
  }

  sendPubrel(packetId: number): void {
    this.writeAck(AckFirstByte.pubrel, packetId)
  }

  // ---- keepalive ----

  #armKeepalive(): void {
    if (this.keepaliveSec === 0) return
    // [MQTT-3.1.2-22] one and a half keepalive periods without a packet ends the connection.
    const limitMs = this.keepaliveSec * 1500
    const check = (): void => {
      if (this.state !== ConnectionStates.CONNECTED) return
      const idleMs = this.frontEnd.clock.now() - this.#lastPacketMs
      if (idleMs >= limitMs) this.protocolFailure(ReasonCode.KEEP_ALIVE_TIMEOUT, 'keepalive timeout')
      else this.#keepaliveTimer = this.frontEnd.clock.setTimeout(check, limitMs - idleMs)
    }
    this.#keepaliveTimer = this.frontEnd.clock.setTimeout(check, limitMs)
  }

  // ---- closing ----

  fail(reasonCode: number, reason: string): void {
    this.close(reasonCode, reason)
  }

  /** Protocol violations: v5 gets DISCONNECT with the reason, 3.1.1 just a closed socket. Logged once, at debug. */
  protocolFailure(reasonCode: number, reason: string): void {
    this.logger.debug({ clientId: this.clientId, reasonCode, reason }, 'closing connection')
    this.close(reasonCode, reason)
  }

  /** Server-initiated close; a v5 client that completed CONNECT is told why [MQTT-3.14.2-?]. */
  close(reasonCode?: number, reason?: string): void {
    if (this.state === ConnectionStates.CLOSED) return
    if (reasonCode !== undefined && this.protocolVersion === 5 && this.state === ConnectionStates.CONNECTED) {
      this.write({
        cmd: 'disconnect',
        reasonCode,
        ...(reason === undefined ? {} : { properties: { reasonString: reason } }),
      })
    }
    this.#shutdown()
    this.#socket.end(() => this.#socket.destroy())
  }

  #destroy(reason: string): void {
    this.logger.debug({ reason }, 'dropping connection')
    this.#shutdown()
    this.#socket.destroy()
  }

  #onClosed(): void {
    this.#shutdown()
  }

  #shutdown(): void {
    if (this.state === ConnectionStates.CLOSED) return
    const wasConnected = this.state === ConnectionStates.CONNECTED
    this.state = ConnectionStates.CLOSED
    if (this.#connectTimer !== undefined) this.frontEnd.clock.clearTimeout(this.#connectTimer)
    if (this.#keepaliveTimer !== undefined) this.frontEnd.clock.clearTimeout(this.#keepaliveTimer)
    if (wasConnected) this.frontEnd.connectionClosed(this)
    this.frontEnd.connectionEnded(this)
  }

  /** Called by handleConnect once CONNACK 0 went out. */
  markConnected(): void {
    this.state = ConnectionStates.CONNECTED
  }

  /** Called by handleConnect when it refused the connection. */
  refuse(): void {
    this.#shutdown()
    this.#socket.end(() => this.#socket.destroy())
  }
}
