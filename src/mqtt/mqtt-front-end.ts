import type { Duplex } from 'node:stream'
import type { IPublishPacket } from 'mqtt-packet'
import { pino, type Logger } from 'pino'
import type { BrokerError } from '../errors.ts'
import type { CommittedBatch, LogStore } from '../log/log-store.ts'
import type { Durability, RecordInput } from '../log/types.ts'
import { partitionForKey } from '../streams/partitioner.ts'
import { SubjectRouter } from '../streams/subject-router.ts'
import { TopicTrie } from '../topics/topic-trie.ts'
import { systemClock, type Clock, type TimerHandle } from '../util/clock.ts'
import { MqttConnection, type ConnectionInfo, type Will } from './connection.ts'
import type { DeliveryHost, MqttCounters } from './delivery-host.ts'
import {
  decodeTopic,
  isCachedTopicKey,
  publishToRecord,
  recordToMessage,
  type MqttRecordMeta,
  type OutgoingMessage,
  type TopicCache,
} from './message.ts'
import { newLimitCounters, type MqttLimitCounters } from './limits.ts'
import { defaultMqttOptions, type MqttOptions } from './options.ts'
import { RetainedStore } from './retained.ts'
import { SessionStore } from './session-store.ts'
import { Session, toStoredSubscription, type Subscription } from './session.ts'
import { SharedGroup } from './shared-group.ts'
import { SysTopics } from './sys-topics.ts'

export interface AuthRequest {
  clientId: string
  username: string | undefined
  password: Buffer | undefined
  remoteAddress: string | undefined
  /** The verified TLS client certificate's identity, when the listener passed one. */
  certificateIdentity: string | undefined
}
/** What a connection may do once in; consulted per PUBLISH, SUBSCRIBE and will. */
export interface MqttPrincipal {
  canPublish(topic: string): boolean
  canSubscribe(filter: string): boolean
}
export type AuthDecision =
  { ok: true; principal?: MqttPrincipal } | { ok: false; reason: 'bad-credentials' | 'not-authorized' | 'rate-limited' }
export type Authenticator = (request: AuthRequest) => AuthDecision | Promise<AuthDecision>

export interface MqttFrontEndOptions {
  store: LogStore
  logger?: Logger
  clock?: Clock
  options?: Partial<MqttOptions>
  /** Decides CONNECT credentials; everyone is let in without one. */
  authenticate?: Authenticator
}

interface SubscriptionEntry {
  session: Session
  sub: Subscription
}

const neverExpires = 0xffffffff

/**
 * The MQTT front end: sessions, subscriptions, retained messages, wills and the router that turns
 * committed records of the session stream into deliveries. It owns no socket: `handle(duplex)`
 * serves any stream, and gateway/ owns the listeners.
 */
export class MqttFrontEnd implements DeliveryHost {
  readonly store: LogStore
  readonly logger: Logger
  readonly clock: Clock
  readonly options: MqttOptions
  readonly sessionStream: string
  readonly sessionStore: SessionStore
  readonly retained: RetainedStore
  readonly authenticate: Authenticator | undefined
  readonly counters: MqttCounters = {
    connectionsAccepted: 0,
    messagesReceived: 0,
    messagesSent: 0,
    bytesReceived: 0,
    bytesSent: 0,
    publishesRefused: 0,
    publishesDenied: 0,
    subscriptionsDenied: 0,
    sessionRecordsSkipped: 0,
    sharedUndelivered: 0,
  }
  /** How often each limit was hit (limits.ts). */
  readonly limitCounters: MqttLimitCounters = newLimitCounters()
  readonly sessions = new Map<string, Session>()
  readonly #connected = new Map<string, MqttConnection>()
  readonly #connections = new Set<MqttConnection>()
  readonly #trie = new TopicTrie<SubscriptionEntry>()
  readonly #sharedTrie = new TopicTrie<SharedGroup>()
  readonly #sharedGroups = new Map<string, SharedGroup>()
  readonly #subjects: SubjectRouter
  readonly #routedEnds: number[] = []
  readonly #expiryTimers = new Map<string, TimerHandle>()
  readonly #willTimers = new Map<string, TimerHandle>()
  readonly #unwatch: Array<() => void> = []
  readonly #sys: SysTopics
  /** Cursors of shared groups read at start, taken by each group as its first member re-registers. */
  readonly #storedGroupCursors: Map<string, number[]>
  #closing = false
  #durability: Durability = 'fsync'

  constructor(o: MqttFrontEndOptions) {
    this.store = o.store
    this.logger = (o.logger ?? pino({ level: 'silent' })).child({ component: 'mqtt' })
    this.clock = o.clock ?? systemClock
    this.options = { ...defaultMqttOptions, ...o.options }
    this.authenticate = o.authenticate
    this.sessionStream = this.options.sessionStream
    if (!this.store.hasStream(this.sessionStream)) this.store.createStream(this.sessionStream, { subjects: ['#'] })
    this.#subjects = new SubjectRouter([])
    this.#streamsChanged()
    this.#unwatch.push(this.store.watchStreams(() => this.#streamsChanged()))
    this.#routedEnds.push(...this.logEnds())
    this.#unwatch.push(this.store.watchAppends(this.sessionStream, (batch) => this.#route(batch)))
    this.sessionStore = new SessionStore(this.store.database)
    this.retained = new RetainedStore(this.store.database)
    this.#storedGroupCursors = this.sessionStore.loadSharedGroups()
    this.#restoreSessions()
    this.#sys = new SysTopics(this)
  }

  get durability(): Durability {
    return this.#durability
  }

  /** Serves one client connection over any duplex stream. */
  handle(socket: Duplex, info: ConnectionInfo = {}): MqttConnection {
    const connection = new MqttConnection(this, socket, info)
    this.counters.connectionsAccepted++
    if (this.#closing) connection.close()
    else this.#connections.add(connection)
    return connection
  }

  #streamsChanged(): void {
    const streams = this.store.listStreams()
    this.#subjects.rebuild(streams)
    this.#durability = streams.find((s) => s.name === this.sessionStream)?.config.durability ?? 'fsync'
  }

  // ---- DeliveryHost ----

  routedEnds(): number[] {
    this.#growPartitions()
    return [...this.#routedEnds]
  }

  logEnds(): number[] {
    const count = this.store.partitionCount(this.sessionStream)
    const ends: number[] = []
    for (let p = 0; p < count; p++) ends.push(Number(this.store.latestOffset(this.sessionStream, p)))
    return ends
  }

  writeLater(work: () => void): void {
    this.store.enqueueWrite(work, 'os', (error) => {
      if (error !== null) this.logger.warn({ err: error }, 'session bookkeeping write failed')
    })
  }

  #growPartitions(): void {
    const count = this.store.partitionCount(this.sessionStream)
    while (this.#routedEnds.length < count) this.#routedEnds.push(0)
  }

  // ---- publishing ----

  /** A PUBLISH from a client (or its will): kept in the log, then acknowledged through `done`. */
  acceptPublish(
    clientId: string,
    packet: IPublishPacket,
    topicCache: TopicCache | undefined,
    beforeAppend: (() => void) | undefined,
    done: (error: BrokerError | null) => void,
  ): void {
    const timestamp = this.clock.now()
    const record = publishToRecord(packet, packet.topic, clientId, timestamp, topicCache)
    const message: OutgoingMessage = {
      topic: packet.topic,
      payload: record.value ?? new Uint8Array(0),
      qos: packet.qos,
      retain: packet.retain,
      timestamp,
      meta: record.meta as MqttRecordMeta,
      headers: record.headers ?? [],
      partition: -1,
      offset: -1,
    }
    this.counters.messagesReceived++
    this.publish(message, record, beforeAppend, done)
  }

  /**
   * Appends a message to every stream whose subjects match its topic and, with `beforeAppend`,
   * commits extra state in the same transaction (QoS 2 packet ids, retained copies). `done` runs
   * after the commit: only then may the publisher be acknowledged.
   */
  publish(
    message: OutgoingMessage,
    record: RecordInput,
    beforeAppend: (() => void) | undefined,
    done: (error: BrokerError | null) => void,
  ): void {
    const streams = this.#subjects.streamsFor(message.topic)
    let waiting = streams.length + (beforeAppend === undefined ? 0 : 1) + (message.retain ? 1 : 0)
    let failure: BrokerError | null = null
    const finish = (error: BrokerError | null): void => {
      failure ??= error
      if (--waiting > 0) return
      if (failure === null) {
        if (message.retain) this.retained.apply(message)
        // Records of the session stream reach subscribers through #route; the rest go out directly.
        if (!streams.includes(this.sessionStream)) this.dispatch({ ...message, partition: -1, offset: -1 })
      }
      done(failure)
    }
    if (waiting === 0) {
      waiting = 1
      finish(null)
      return
    }
    // Writes are queued before the appends so that a commit cut early by size still holds both.
    if (beforeAppend !== undefined) this.store.enqueueWrite(beforeAppend, this.durability, finish)
    if (message.retain) this.store.enqueueWrite(() => this.retained.persist(message), this.durability, finish)
    for (const stream of streams) {
      const partitions = this.store.partitionCount(stream)
      const partition = partitions === 1 || record.key == null ? 0 : partitionForKey(record.key, partitions)
      this.store.appendWithCallback(stream, partition, [record], (error) => finish(error))
    }
  }

  /** The last key the router decoded: a publisher's records share one key object (TopicCache). */
  #routedKey: Uint8Array | null = null
  #routedTopic = ''
  readonly #decodeRoutedKey = (key: Uint8Array): string => {
    if (key === this.#routedKey) return this.#routedTopic
    const topic = decodeTopic(key)
    if (isCachedTopicKey(key)) {
      this.#routedKey = key
      this.#routedTopic = topic
    }
    return topic
  }

  #route(batch: CommittedBatch): void {
    this.#growPartitions()
    for (const record of batch.records) {
      const message = recordToMessage(record, batch.partition, this.#decodeRoutedKey)
      if (message !== undefined) this.dispatch(message)
      this.#routedEnds[batch.partition] = Number(record.offset) + 1
    }
  }

  /** Offers a message to every matching subscription: live sessions take it now, others read it later. */
  dispatch(message: OutgoingMessage): void {
    const logged = message.offset >= 0
    const entries = this.#trie.match(message.topic)
    if (entries.length === 1) {
      const { session, sub } = entries[0] as SubscriptionEntry
      if (logged) session.offerLive(message, [sub])
      else session.offerUnlogged(message, [sub])
    } else if (entries.length > 1) {
      // [MQTT-3.3.4-2] overlapping subscriptions of one session: one delivery, the highest QoS.
      const bySession = new Map<Session, Subscription[]>()
      for (const { session, sub } of entries) {
        const subs = bySession.get(session)
        if (subs === undefined) bySession.set(session, [sub])
        else subs.push(sub)
      }
      for (const [session, subs] of bySession) {
        if (logged) session.offerLive(message, subs)
        else session.offerUnlogged(message, subs)
      }
    }
    // A shared group takes a logged record now or reads it from the log later, when a member has room.
    for (const group of this.#sharedTrie.match(message.topic)) {
      if (logged) group.offerLive(message)
      else if (!group.offerUnlogged(message)) this.counters.sharedUndelivered++
    }
  }

  // ---- subscriptions ----

  addSubscription(session: Session, sub: Subscription): void {
    const previous = session.subscriptions.get(sub.filter)
    const member = previous?.group?.members.find((m) => m.session === session)
    if (previous?.group !== undefined && !previous.group.closed && member !== undefined) {
      // The same shared filter again: the member's subscription is replaced, the group keeps its place.
      session.subscriptions.set(sub.filter, sub)
      sub.group = previous.group
      member.sub = sub
      sub.group.schedulePump()
      return
    }
    this.removeSubscription(session, sub.filter)
    session.subscriptions.set(sub.filter, sub)
    const entry = { session, sub }
    if (sub.shareName === null) {
      this.#trie.add(sub.matchFilter, entry)
      return
    }
    const key = `${sub.shareName}/${sub.matchFilter}`
    let group = this.#sharedGroups.get(key)
    if (group === undefined) {
      const stored = this.#storedGroupCursors.get(key)
      this.#storedGroupCursors.delete(key)
      group = new SharedGroup(this, key, sub.matchFilter, stored)
      this.#sharedGroups.set(key, group)
      this.#sharedTrie.add(sub.matchFilter, group)
      if (stored === undefined) group.saveSoon()
    }
    sub.group = group
    group.members.push(entry)
    group.schedulePump()
  }

  removeSubscription(session: Session, filter: string): boolean {
    const sub = session.subscriptions.get(filter)
    if (sub === undefined) return false
    session.subscriptions.delete(filter)
    if (sub.shareName === null) {
      this.#trie.removeWhere(sub.matchFilter, (e) => e.session === session)
      return true
    }
    const key = `${sub.shareName}/${sub.matchFilter}`
    const group = this.#sharedGroups.get(key)
    if (group !== undefined) {
      group.members = group.members.filter((m) => m.session !== session)
      if (group.members.length === 0) {
        this.#sharedGroups.delete(key)
        this.#sharedTrie.remove(sub.matchFilter, group)
        group.close()
      } else group.next %= group.members.length
    }
    return true
  }

  // ---- sessions ----

  /**
   * Binds a connection to its session: takes over a connection with the same client id, discards
   * or resumes the previous session. Returns the session and whether one was present.
   */
  openSession(
    connection: MqttConnection,
    cleanStart: boolean,
    expirySec: number,
  ): { session: Session; sessionPresent: boolean } {
    const { clientId } = connection
    const previous = this.#connected.get(clientId)
    if (previous !== undefined && previous !== connection) {
      // [MQTT-3.1.4-3] the existing connection is closed; v5 is told the session was taken over.
      previous.close(0x8e, 'session taken over')
    }
    this.#cancelTimer(this.#expiryTimers, clientId)
    this.#cancelTimer(this.#willTimers, clientId) // [MQTT-3.1.3-9] a reconnect before the will delay cancels it
    let session = this.sessions.get(clientId)
    if (session !== undefined && cleanStart) {
      this.#destroySession(session)
      session = undefined
    }
    const sessionPresent = session !== undefined
    if (session === undefined) {
      session = new Session(this, clientId, connection.protocolVersion, expirySec)
      this.sessions.set(clientId, session)
    }
    session.protocolVersion = connection.protocolVersion
    session.expirySec = expirySec
    this.#connected.set(clientId, connection)
    connection.session = session
    this.saveSession(session)
    return { session, sessionPresent }
  }

  /** Persists a persistent session's subscriptions, cursors and state; forgets a non-persistent one. */
  saveSession(session: Session, saved?: (error: BrokerError | null) => void): void {
    const clientId = session.clientId
    if (!session.persistent) {
      // Only a session that was saved has rows to delete: a clean session's CONNECT writes nothing.
      if (session.stored) {
        session.stored = false
        this.writeLater(() => this.sessionStore.deleteSession(clientId))
      }
      saved?.(null)
      return
    }
    session.stored = true
    // The state as it is at the commit: what the caller changes after this call in the same turn
    // (a replay's start, say) is saved too. `saved` runs after the commit: only then is it durable.
    const stored = () => ({
      clientId,
      protocolVersion: session.protocolVersion,
      expirySec: session.expirySec,
      subscriptions: [...session.subscriptions.values()].map(toStoredSubscription),
      cursors: session.currentCursors(),
      nextPacketId: session.nextPacketId,
      disconnectedMs: session.disconnectedMs,
    })
    this.store.enqueueWrite(
      () => {
        this.sessionStore.saveSession(stored())
        // A member's shared groups are saved with it: a restored member finds its group's cursor.
        for (const sub of session.subscriptions.values()) sub.group?.saveNow()
      },
      this.durability,
      (error) => {
        if (error !== null) this.logger.warn({ err: error, clientId }, 'session could not be saved')
        saved?.(error)
      },
    )
  }

  connectionClosed(connection: MqttConnection): void {
    const session = connection.session
    if (session === null || this.#connected.get(connection.clientId) !== connection) return
    this.#connected.delete(connection.clientId)
    session.detach(this.clock.now())
    const will = connection.gracefulDisconnect ? undefined : connection.will
    if (will !== undefined) this.#scheduleWill(connection.clientId, will, session.expirySec)
    if (!session.persistent) {
      this.#destroySession(session)
      return
    }
    this.saveSession(session)
    this.#armExpiry(session)
  }

  connectionEnded(connection: MqttConnection): void {
    this.#connections.delete(connection)
  }

  connectedCount(): number {
    return this.#connected.size
  }

  /** Network connections open now, CONNECT done or not. */
  get connectionCount(): number {
    return this.#connections.size
  }

  #armExpiry(session: Session): void {
    if (session.expirySec >= neverExpires) return
    const disconnected = session.disconnectedMs ?? this.clock.now()
    const delayMs = Math.max(0, disconnected + session.expirySec * 1000 - this.clock.now())
    this.#expiryTimers.set(
      session.clientId,
      this.clock.setTimeout(() => {
        this.#expiryTimers.delete(session.clientId)
        if (session.link === null && this.sessions.get(session.clientId) === session) this.#destroySession(session)
      }, delayMs),
    )
  }

  #destroySession(session: Session): void {
    // Shared-subscription messages it was sent and did not acknowledge go to the group's other
    // members (a group left without members is closed and drops them) [MQTT-4.8.2-?].
    const unacknowledged = session.takeInflightShared()
    for (const filter of [...session.subscriptions.keys()]) this.removeSubscription(session, filter)
    for (const { message, token } of unacknowledged) token.group.giveBack(message, token)
    this.sessions.delete(session.clientId)
    this.#cancelTimer(this.#expiryTimers, session.clientId)
    const clientId = session.clientId
    if (session.stored) {
      session.stored = false
      this.writeLater(() => this.sessionStore.deleteSession(clientId))
    }
  }

  #restoreSessions(): void {
    const now = this.clock.now()
    for (const stored of this.sessionStore.loadAll()) {
      const session = new Session(this, stored.clientId, stored.protocolVersion, stored.expirySec)
      session.cursors = stored.cursors
      session.stored = true
      session.nextPacketId = stored.nextPacketId
      // A session that was connected when the broker stopped counts as disconnected from now.
      session.disconnectedMs = stored.disconnectedMs ?? now
      session.restoreInflight(stored.inflight)
      for (const id of stored.qos2Received) session.qos2Received.add(id)
      this.sessions.set(session.clientId, session)
      for (const s of stored.subscriptions) this.addSubscription(session, subscriptionFromStored(s))
      this.#armExpiry(session)
    }
    for (const session of this.sessions.values()) session.bindRestoredShares((key) => this.#sharedGroups.get(key))
    // Rows of groups that no restored session is a member of any more.
    for (const key of this.#storedGroupCursors.keys()) this.writeLater(() => this.sessionStore.deleteSharedGroup(key))
    this.#storedGroupCursors.clear()
    if (this.sessions.size > 0) this.logger.info({ sessions: this.sessions.size }, 'persistent sessions restored')
  }

  // ---- wills ----

  #scheduleWill(clientId: string, will: Will, sessionExpirySec: number): void {
    // [MQTT-3.1.3-9] published after the will delay, or when the session ends, whichever is first.
    const delaySec = Math.min(will.properties?.willDelayInterval ?? 0, sessionExpirySec)
    if (delaySec <= 0) {
      this.publishWill(clientId, will)
      return
    }
    this.#willTimers.set(
      clientId,
      this.clock.setTimeout(() => {
        this.#willTimers.delete(clientId)
        this.publishWill(clientId, will)
      }, delaySec * 1000),
    )
  }

  publishWill(clientId: string, will: Will): void {
    const payload = typeof will.payload === 'string' ? Buffer.from(will.payload) : will.payload
    const packet = {
      cmd: 'publish' as const,
      topic: will.topic,
      payload,
      qos: will.qos ?? 0,
      retain: will.retain ?? false,
      dup: false,
      ...(will.properties === undefined ? {} : { properties: will.properties }),
    }
    this.acceptPublish(clientId, packet, undefined, undefined, (error) => {
      if (error !== null) this.logger.warn({ err: error, clientId }, 'will message could not be stored')
    })
  }

  #cancelTimer(timers: Map<string, TimerHandle>, clientId: string): void {
    const timer = timers.get(clientId)
    if (timer === undefined) return
    this.clock.clearTimeout(timer)
    timers.delete(clientId)
  }

  // ---- shutdown ----

  /** Disconnects every client (v5: 0x8B server shutting down), saves sessions, stops timers. */
  async close(): Promise<void> {
    if (this.#closing) return
    this.#closing = true
    this.#sys.stop()
    for (const connection of [...this.#connections]) connection.close(0x8b, 'server shutting down')
    for (const timer of [...this.#expiryTimers.values(), ...this.#willTimers.values()]) this.clock.clearTimeout(timer)
    for (const unwatch of this.#unwatch) unwatch()
    // Shared groups' cursors, so a clean restart re-reads as little as possible.
    this.store.enqueueWrite(
      () => {
        for (const group of this.#sharedGroups.values()) group.saveNow()
      },
      this.durability,
      (error) => {
        if (error !== null) this.logger.warn({ err: error }, 'shared subscription cursors could not be saved')
      },
    )
    await this.store.flush()
  }
}

export function subscriptionFromStored(s: {
  filter: string
  qos: 0 | 1 | 2
  noLocal: boolean
  retainAsPublished: boolean
  retainHandling: number
  subscriptionId?: number
  fromOffsets: number[]
}): Subscription {
  const shared = /^\$share\/([^/]+)\/(.+)$/.exec(s.filter)
  return {
    ...s,
    matchFilter: shared === null ? s.filter : (shared[2] as string),
    shareName: shared === null ? null : (shared[1] as string),
  }
}
