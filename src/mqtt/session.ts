import type { IPublishPacket, QoS } from 'mqtt-packet'
import { topicMatchesFilter } from '../topics/topics.ts'
import type { DeliveryHost } from './delivery-host.ts'
import { readChunk } from './log-cursor.ts'
import {
  addUserProperty,
  messageToPublish,
  recordToMessage,
  remainingExpirySec,
  type OutgoingMessage,
} from './message.ts'
import { timestampUserProperty } from './replay.ts'
import type { StoredInflight, StoredSubscription } from './session-store.ts'
import type { SharedGroup, ShareToken } from './shared-group.ts'

export interface Subscription extends StoredSubscription {
  /** The filter matched against topics (without a `$share/<name>/` prefix). */
  matchFilter: string
  shareName: string | null
  /** The group of a `$share/<name>/<filter>` subscription (memory only). */
  group?: SharedGroup
}

/** What a session needs from the connection it is attached to. */
export interface SessionLink {
  readonly protocolVersion: number
  /** The client's Receive Maximum (v5), or our own cap for 3.1.1 clients. */
  readonly clientReceiveMaximum: number
  /** True while the socket's buffer is over its high-water mark. */
  readonly congested: boolean
  /** Sends a PUBLISH; false if the client's Maximum Packet Size forbids it (it is then dropped [MQTT-3.1.2-25]). */
  sendPublish(packet: IPublishPacket): boolean
  sendPubrel(packetId: number): void
  /** Ends the connection after a failure that the session cannot recover from on this connection. */
  fail(reasonCode: number, reason: string): void
}

interface Inflight extends StoredInflight {
  /** Kept while the broker runs so a resend needs no read; after a restart it is read back from the log. */
  message: OutgoingMessage | undefined
  /** A shared-subscription message: its group, which keeps it until this session holds it for good. */
  share?: ShareToken | undefined
}

const maxPacketId = 65_535
const noSubscriptionIds: readonly number[] = []
/**
 * The look-ahead (see #pending): at most this many messages and payload bytes per session. Enough to
 * ride out a full window or a congested socket for a while; past it the session reads the log
 * instead, so a slow subscriber costs a bounded amount of memory.
 */
const pendingMaxMessages = 512
const pendingMaxBytes = 256 * 1024
/** Records one pump turn examines before yielding, so a long catch-up never starves other connections. */
const pumpTurnRecords = 2_000

/** A logged message waiting in the look-ahead, with the subscriptions it matched when it was taken. */
interface PendingMessage {
  message: OutgoingMessage
  subs: readonly Subscription[]
  /** Read from the log by the pump (a replayed message is marked as such), not routed live. */
  fromLog: boolean
}
/** Retained copies a session may hold outside the log (see #queued); beyond this they are dropped with a warning. */
const maxQueuedMessages = 50_000

/**
 * One MQTT session. Its queue is not a copy of messages but a position in the session stream:
 * `cursors[p]` is the first offset of partition p not yet handled. While `live`, committed records
 * reach it from the router as they commit; when it cannot take one (window full, socket congested,
 * disconnected) it leaves live mode and later reads the log from its cursor ("pumps") until it has
 * caught up, then goes live again. Offline queues, slow subscribers and replay are the same mechanism.
 *
 * Persistent sessions write in-flight packet ids and their cursor in the group commit before a
 * PUBLISH goes out, so after kill -9 a QoS 2 message is resent with its original packet id (the
 * client discards the duplicate) and a QoS 1 message is resent at least once.
 */
export class Session {
  readonly clientId: string
  protocolVersion: number
  expirySec: number
  readonly subscriptions = new Map<string, Subscription>()
  link: SessionLink | null = null
  cursors: number[]
  live = false
  readonly inflight = new Map<number, Inflight>()
  readonly qos2Received = new Set<number>()
  nextPacketId: number
  disconnectedMs: number | null = null
  /** Whether the session store may hold rows of this session (it was restored or saved as persistent). */
  stored = false
  /** Records skipped because retention or maxOfflineRecords moved past them while the session was away. */
  skippedRecords = 0

  readonly #host: DeliveryHost
  #pumpScheduled = false
  #staged: IPublishPacket[] = []
  #stagedRows: StoredInflight[] = []
  #stagedShares: ShareToken[] = []
  #stageOpen = false
  /**
   * Retained copies sent at SUBSCRIBE: not read from the log by this session, but it must still
   * deliver them. When the window or the socket is full they wait here, in order, and go out before
   * anything else as room frees up. Memory only: they do not survive a broker restart.
   * (Shared-subscription messages are not kept here: their group reads them from the log.)
   */
  #queued: Array<{ message: OutgoingMessage; subs: readonly Subscription[] }> = []
  #queueOverflowWarned = false
  /**
   * The look-ahead: logged messages this session has taken (routed live, or read by the pump) and not
   * yet sent because the window or the socket was full, in log order per partition, from #pendingHead.
   * Each record is read and decoded at most once, and short backpressure does not end live mode. It
   * is a window on the log, not a copy: the cursors (currentCursors) stay at its first message, so a
   * detach or a crash loses nothing (the messages are read again from the log).
   */
  #pending: PendingMessage[] = []
  #pendingHead = 0
  #pendingBytes = 0

  constructor(host: DeliveryHost, clientId: string, protocolVersion: number, expirySec: number) {
    this.#host = host
    this.clientId = clientId
    this.protocolVersion = protocolVersion
    this.expirySec = expirySec
    this.cursors = host.routedEnds()
    this.nextPacketId = 1
  }

  get persistent(): boolean {
    return this.expirySec > 0
  }

  /**
   * Where this session stands in the log now: the router's boundary while live, its read position
   * otherwise, but never past the first message of a partition still waiting in the look-ahead.
   */
  currentCursors(): number[] {
    const cursors = this.live ? this.#host.routedEnds() : [...this.cursors]
    for (let i = this.#pendingHead; i < this.#pending.length; i++) {
      const { partition, offset } = (this.#pending[i] as PendingMessage).message
      if (offset < (cursors[partition] ?? Number.POSITIVE_INFINITY)) cursors[partition] = offset
    }
    return cursors
  }

  restoreInflight(rows: readonly StoredInflight[]): void {
    for (const row of rows) this.inflight.set(row.packetId, { ...row, message: undefined })
  }

  /** After a restart: restored in-flight shared messages find their group again (see takeInflightShared). */
  bindRestoredShares(groupFor: (key: string) => SharedGroup | undefined): void {
    for (const entry of this.inflight.values()) {
      if (entry.shareKey === undefined || entry.share !== undefined || entry.state !== 'publish') continue
      entry.share = groupFor(entry.shareKey)?.heldToken(entry.partition, entry.offset)
    }
  }

  // ---- connection lifecycle ----

  attach(link: SessionLink): void {
    this.link = link
    this.disconnectedMs = null
    this.live = false
    this.#clearPending()
    this.#limitBacklog()
    // [MQTT-4.4.0-1] unacknowledged PUBLISH and PUBREL packets are sent again, in their original order.
    for (const [packetId, entry] of this.inflight) {
      if (entry.state === 'pubrel') {
        link.sendPubrel(packetId)
        continue
      }
      const message = entry.message ?? this.#readBack(entry)
      if (message === undefined) {
        this.#forgetInflight(packetId)
        continue
      }
      entry.message = message
      this.#send(this.#publishPacket(message, entry.qos, message.retain, [], packetId, true), undefined)
    }
    this.schedulePump()
  }

  detach(nowMs: number): void {
    this.cursors = this.currentCursors()
    this.live = false
    this.#clearPending()
    this.link = null
    this.disconnectedMs = nowMs
    this.#staged = []
  }

  // ---- delivery ----

  /** A record just committed and matched by `subs`; delivered now if this session is live and has room. */
  offerLive(message: OutgoingMessage, subs: readonly Subscription[]): void {
    if (!this.live || this.link === null) return
    if (this.#pendingHead === this.#pending.length && this.#queued.length === 0) {
      if (this.#deliver(message, subs) !== 'blocked') return
    }
    if (this.#pendingFull()) {
      // Beyond the look-ahead: read from the log later. routedEnd of this partition is this
      // record's offset, and what the look-ahead holds is before it: the pump resumes exactly here.
      this.cursors = this.#host.routedEnds()
      this.live = false
      return
    }
    this.#pushPending(message, subs, false)
  }

  /** A message that is not in the session stream (retained copy, $SYS): best effort, never queued. */
  offerUnlogged(message: OutgoingMessage, subs: readonly Subscription[]): boolean {
    if (this.link === null || this.#queued.length > 0) return false
    return this.#deliver(message, subs) === 'sent'
  }

  /**
   * A message that is not in this session's log order but must not be lost (retained copies at
   * SUBSCRIBE): sent now if there is room, otherwise queued until there is, also while disconnected.
   * False only when the queue is full and the message was dropped.
   */
  offerQueued(message: OutgoingMessage, subs: readonly Subscription[]): boolean {
    if (this.#queued.length === 0 && this.link !== null && this.#deliver(message, subs) !== 'blocked') return true
    if (this.#queued.length >= maxQueuedMessages) {
      if (!this.#queueOverflowWarned) {
        this.#queueOverflowWarned = true
        this.#host.logger.warn(
          { clientId: this.clientId, queued: this.#queued.length },
          'session queue full: retained messages are being dropped',
        )
      }
      return false
    }
    this.#queued.push({ message, subs })
    return true
  }

  /** A record of the session stream handed out by a shared group: taken only if there is room now. */
  offerShared(message: OutgoingMessage, sub: Subscription, group: SharedGroup): 'sent' | 'skipped' | 'blocked' {
    if (this.link === null || this.#queued.length > 0) return 'blocked'
    return this.#deliver(message, [sub], false, group)
  }

  /**
   * When the session ends: the shared-subscription messages it was sent and has not acknowledged
   * (PUBLISH state), so their groups give them to other members.
   */
  takeInflightShared(): Array<{ message: OutgoingMessage; token: ShareToken }> {
    const taken: Array<{ message: OutgoingMessage; token: ShareToken }> = []
    for (const entry of this.inflight.values()) {
      if (entry.share === undefined || entry.state !== 'publish') continue
      const message = entry.message ?? this.#readBack(entry)
      if (message !== undefined) taken.push({ message, token: entry.share })
      else entry.share.group.settle(entry.share)
      entry.share = undefined
    }
    return taken
  }

  #drainQueued(): void {
    while (this.link !== null) {
      const next = this.#queued[0]
      if (next === undefined) {
        this.#queueOverflowWarned = false
        return
      }
      if (this.#deliver(next.message, next.subs) === 'blocked') return
      this.#queued.shift()
    }
  }

  /** Room may have freed up (ack, drain, attach): sends what waits, and reads the log if behind. */
  schedulePump(): void {
    if (this.#queued.length > 0) this.#drainQueued()
    // The shared groups this session belongs to may have messages waiting for a member with room.
    if (this.link !== null) for (const sub of this.subscriptions.values()) sub.group?.schedulePump()
    // Sent at once, in this turn: an ack frees one slot, and the next message fills it.
    if (!this.#drainPending() || this.#pumpScheduled || this.live || this.link === null) return
    this.#pumpScheduled = true
    setImmediate(() => {
      this.#pumpScheduled = false
      this.#pump()
    })
  }

  /**
   * Reads the session stream from the cursors into the look-ahead and sends from it, until caught
   * up or blocked. It reads only when the look-ahead is empty and there is room to send, and at most
   * what the look-ahead holds, so every record is read and decoded once.
   */
  #pump(): void {
    let examined = 0
    while (this.link !== null && !this.live) {
      // Blocked: an ack or a drain calls schedulePump (and #queued goes first).
      if (!this.#drainPending() || !this.#canSend() || this.#queued.length > 0) return
      const read = readChunk(
        this.#host,
        this.cursors,
        pendingMaxMessages,
        pendingMaxBytes,
        (message, partition, offset) => {
          const subs = this.#matchOwn(message.topic, partition, offset)
          if (subs.length > 0) this.#pushPending(message, subs, true)
        },
        (partition, from, to) => this.#noteSkipped(partition, from, to),
      )
      if (read === 'caught-up') {
        // Committed records were all read; the next commit reaches us through the router.
        this.live = true
        return
      }
      examined += read + 1
      if (examined >= pumpTurnRecords) {
        if (this.#drainPending()) this.schedulePump()
        return
      }
    }
  }

  /** Sends from the look-ahead (after the retained copies of #queued) until it is empty (true) or blocked. */
  #drainPending(): boolean {
    const pending = this.#pending
    if (this.#pendingHead === pending.length) return true
    if (this.#queued.length > 0) return false
    while (this.#pendingHead < pending.length) {
      if (this.link === null) return false
      const entry = pending[this.#pendingHead] as PendingMessage
      if (this.#deliver(entry.message, this.#stillSubscribed(entry.subs), entry.fromLog) === 'blocked') return false
      this.#pendingHead++
      this.#pendingBytes -= entry.message.payload.byteLength
    }
    this.#clearPending()
    return true
  }

  #pushPending(message: OutgoingMessage, subs: readonly Subscription[], fromLog: boolean): void {
    // A look-ahead that never quite empties (steady backlog) drops its sent entries from time to time.
    if (this.#pendingHead >= pendingMaxMessages) {
      this.#pending.splice(0, this.#pendingHead)
      this.#pendingHead = 0
    }
    this.#pending.push({ message, subs, fromLog })
    this.#pendingBytes += message.payload.byteLength
  }

  #pendingFull(): boolean {
    return this.#pending.length - this.#pendingHead >= pendingMaxMessages || this.#pendingBytes >= pendingMaxBytes
  }

  #clearPending(): void {
    if (this.#pending.length > 0) this.#pending = []
    this.#pendingHead = 0
    this.#pendingBytes = 0
  }

  /**
   * The subscriptions a waiting message matched, as they are now: one replaced by a new SUBSCRIBE
   * to the same filter delivers with its new options [MQTT-3.8.4-3], one removed no longer delivers.
   */
  #stillSubscribed(subs: readonly Subscription[]): readonly Subscription[] {
    let current: Subscription[] | undefined
    for (let i = 0; i < subs.length; i++) {
      const sub = subs[i] as Subscription
      const now = this.subscriptions.get(sub.filter)
      if (now === sub) {
        current?.push(sub)
        continue
      }
      current ??= subs.slice(0, i)
      if (now !== undefined && now.shareName === null) current.push(now)
    }
    return current ?? subs
  }

  #matchOwn(topic: string, partition: number, offset: number): Subscription[] {
    const subs: Subscription[] = []
    for (const sub of this.subscriptions.values()) {
      if (sub.shareName !== null) continue
      if (offset < (sub.fromOffsets[partition] ?? 0)) continue
      if (topicMatchesFilter(topic, sub.matchFilter)) subs.push(sub)
    }
    return subs
  }

  #canSend(): boolean {
    const link = this.link
    return link !== null && !link.congested && this.inflight.size < this.#window()
  }

  #window(): number {
    return Math.min(this.#host.options.maxInflightOut, this.link?.clientReceiveMaximum ?? 0)
  }

  #deliver(
    message: OutgoingMessage,
    subs: readonly Subscription[],
    fromLog = false,
    group?: SharedGroup,
  ): 'sent' | 'skipped' | 'blocked' {
    const link = this.link
    if (link === null) return 'blocked'
    let qos: QoS = 0
    let retainAsPublished = false
    let matched = 0
    let replayed = false
    let subscriptionIds: readonly number[] = noSubscriptionIds
    for (const sub of subs) {
      // [MQTT-3.8.3-3] No Local: not to the connection that published it.
      if (sub.noLocal && message.meta.c === this.clientId) continue
      matched++
      if (sub.qos > qos) qos = sub.qos
      if (sub.retainAsPublished) retainAsPublished = true
      if (sub.subscriptionId !== undefined) subscriptionIds = [...subscriptionIds, sub.subscriptionId]
      if (fromLog && sub.replay === true) replayed = true
    }
    if (matched === 0) return 'skipped'
    // [MQTT-3.8.4-8] the delivered QoS is the lower of the published and the granted one.
    if (message.qos < qos) qos = message.qos
    if (link.congested || (qos > 0 && this.inflight.size >= this.#window())) return 'blocked'
    const expiry = this.#expiryOf(message)
    if (expiry !== undefined && expiry <= 0) return 'skipped' // [MQTT-3.3.2-5]
    const packetId = qos > 0 ? this.#allocatePacketId() : undefined
    // [MQTT-3.3.1-12] [MQTT-3.3.1-13] retain flag forwarded only with Retain As Published.
    const retain = message.offset < 0 ? message.retain : retainAsPublished && message.retain
    const packet = this.#publishPacket(message, qos, retain, subscriptionIds, packetId, false, expiry)
    if (replayed && link.protocolVersion === 5)
      addUserProperty(packet, timestampUserProperty, String(message.timestamp))
    // The in-flight entry is also the row a persistent session commits (addInflight reads its stored
    // fields); its state changes only at PUBREC, after the PUBLISH went out, so after that commit.
    let row: Inflight | undefined
    let share: ShareToken | undefined
    if (packetId !== undefined) {
      row = { packetId, partition: message.partition, offset: message.offset, qos, state: 'publish', message }
      if (group !== undefined && message.offset >= 0) {
        share = group.handedOut(message.partition, message.offset)
        row.share = share
        row.shareKey = group.key
      }
      this.inflight.set(packetId, row)
    }
    this.#host.counters.messagesSent++
    this.#send(packet, message.offset >= 0 ? row : undefined, share)
    return 'sent'
  }

  /** Seconds the message has left; the clock is read only for a message that expires. */
  #expiryOf(message: OutgoingMessage): number | undefined {
    return message.meta.e === undefined ? undefined : remainingExpirySec(message, this.#host.clock.now())
  }

  #publishPacket(
    message: OutgoingMessage,
    qos: QoS,
    retain: boolean,
    subscriptionIds: readonly number[],
    packetId: number | undefined,
    dup: boolean,
    expiry = this.#expiryOf(message),
  ): IPublishPacket {
    return messageToPublish(message, {
      qos,
      retain,
      dup,
      messageId: packetId,
      subscriptionIds,
      protocolVersion: this.link?.protocolVersion ?? this.protocolVersion,
      remainingExpirySec: expiry,
    })
  }

  /**
   * Non-persistent sessions send at once; persistent ones first commit the in-flight row and cursor,
   * and for a shared-subscription message its group's cursor in the same commit: from then on the
   * message is this session's (resent after a restart), so the group's persisted cursor may pass it.
   */
  #send(packet: IPublishPacket, row: StoredInflight | undefined, share?: ShareToken): void {
    if (!this.persistent) {
      this.#sendNow(packet)
      return
    }
    this.#staged.push(packet)
    if (row !== undefined) this.#stagedRows.push(row)
    if (share !== undefined) this.#stagedShares.push(share)
    if (this.#stageOpen) return
    this.#stageOpen = true
    let packets: IPublishPacket[] = []
    const host = this.#host
    host.store.enqueueWrite(
      () => {
        this.#stageOpen = false
        packets = this.#staged
        const rows = this.#stagedRows
        const shares = this.#stagedShares
        this.#staged = []
        this.#stagedRows = []
        this.#stagedShares = []
        for (const r of rows) host.sessionStore.addInflight(this.clientId, r)
        host.sessionStore.saveCursors(this.clientId, this.currentCursors(), this.nextPacketId)
        const groups = new Set<SharedGroup>()
        for (const token of shares) {
          token.group.settle(token)
          groups.add(token.group)
        }
        for (const group of groups) group.saveNow()
      },
      host.durability,
      (error) => {
        if (error !== null) {
          this.link?.fail(0x80, `session state could not be saved: ${error.message}`)
          return
        }
        for (const p of packets) this.#sendNow(p)
      },
    )
  }

  #sendNow(packet: IPublishPacket): void {
    const link = this.link
    if (link === null) return // still in flight: resent on the next attach
    if (!link.sendPublish(packet) && packet.messageId !== undefined) this.#forgetInflight(packet.messageId)
  }

  #allocatePacketId(): number {
    // [MQTT-2.2.1-3] a packet id is not reused while its exchange is unfinished.
    for (let tries = 0; tries < maxPacketId; tries++) {
      const id = this.nextPacketId
      this.nextPacketId = id >= maxPacketId ? 1 : id + 1
      if (!this.inflight.has(id)) return id
    }
    throw new Error('no free packet identifier') // unreachable: the window is far below 65535
  }

  // ---- acknowledgements from the client ----

  /** PUBACK (QoS 1) or PUBCOMP (QoS 2) ends an exchange; false if the id was unknown. */
  completeOutgoing(packetId: number, expected: 'publish' | 'pubrel'): boolean {
    const entry = this.inflight.get(packetId)
    if (entry === undefined || entry.state !== expected || (expected === 'publish' && entry.qos !== 1)) return false
    this.#forgetInflight(packetId)
    this.schedulePump()
    return true
  }

  /**
   * PUBREC: the client has the QoS 2 message; `release` sends PUBREL. A persistent session commits the
   * new state first: after kill -9 it must resend PUBREL (harmless), not the PUBLISH, which a client
   * that already got PUBREL and completed would take for a new message, a duplicate.
   */
  receivedOutgoing(packetId: number, release: () => void): boolean {
    const entry = this.inflight.get(packetId)
    if (entry === undefined || entry.qos !== 2) return false
    entry.state = 'pubrel'
    entry.message = undefined
    this.#settleShare(entry)
    if (!this.persistent) {
      release()
      return true
    }
    const host = this.#host
    host.store.enqueueWrite(
      () => host.sessionStore.markPubrel(this.clientId, packetId),
      host.durability,
      (error) => {
        if (error === null) release()
        else this.link?.fail(0x80, `session state could not be saved: ${error.message}`)
      },
    )
    return true
  }

  /** v5 PUBREC with an error reason: the client refused the message; the exchange is over. */
  abandonOutgoing(packetId: number): void {
    if (!this.inflight.has(packetId)) return
    this.#forgetInflight(packetId)
    this.schedulePump()
  }

  #forgetInflight(packetId: number): void {
    const entry = this.inflight.get(packetId)
    if (entry !== undefined) this.#settleShare(entry)
    this.inflight.delete(packetId)
    if (this.persistent) this.#host.writeLater(() => this.#host.sessionStore.removeInflight(this.clientId, packetId))
  }

  /** The client has the shared-subscription message (or it was dropped): its group may move past it. */
  #settleShare(entry: Inflight): void {
    const share = entry.share
    if (share === undefined) return
    entry.share = undefined
    share.group.settle(share)
    share.group.saveSoon()
  }

  #readBack(entry: StoredInflight): OutgoingMessage | undefined {
    if (entry.offset < 0) return undefined
    const host = this.#host
    try {
      const read = host.store.read(host.sessionStream, entry.partition, BigInt(entry.offset), { maxRecords: 1 })
      const record = read.records[0]
      return record !== undefined && Number(record.offset) === entry.offset
        ? recordToMessage(record, entry.partition)
        : undefined
    } catch {
      return undefined // deleted by retention while the client was away: nothing left to resend
    }
  }

  // ---- backlog limits and replay ----

  #limitBacklog(): void {
    const ends = this.#host.logEnds()
    const max = this.#host.options.maxOfflineRecords
    for (let p = 0; p < ends.length; p++) {
      const end = ends[p] as number
      // A partition added after the cursors were saved holds only newer records: read it from the start.
      const cursor = this.cursors[p] ?? 0
      if (end - cursor > max) this.#noteSkipped(p, cursor, end - max)
      this.cursors[p] = Math.max(cursor, end - max)
    }
  }

  #noteSkipped(partition: number, from: number, offset: number): void {
    this.skippedRecords += offset - from
    this.#host.counters.sessionRecordsSkipped += offset - from
    this.#host.logger.warn(
      { clientId: this.clientId, partition, from, to: offset },
      'session resumes past records it can no longer receive (retention or maxOfflineRecords)',
    )
  }

  /**
   * Makes `sub` start at `startOffsets` while every other subscription keeps its place: the session
   * rewinds, and the pump skips records before each subscription's own start. The seam between
   * history and live needs no special case: it is where the pump catches up.
   */
  replayFrom(sub: Subscription, startOffsets: readonly number[]): void {
    const current = this.currentCursors()
    for (const other of this.subscriptions.values()) {
      if (other === sub) continue
      other.fromOffsets = current.map((c, p) => Math.max(c, other.fromOffsets[p] ?? 0))
    }
    sub.fromOffsets = [...startOffsets]
    this.cursors = current.map((c, p) => Math.min(c, startOffsets[p] ?? c))
    this.live = false
    this.#clearPending() // read again from the cursors, which are at or before every waiting message
    this.schedulePump()
  }
}

export function toStoredSubscription(sub: Subscription): StoredSubscription {
  const stored: StoredSubscription = {
    filter: sub.filter,
    qos: sub.qos,
    noLocal: sub.noLocal,
    retainAsPublished: sub.retainAsPublished,
    retainHandling: sub.retainHandling,
    fromOffsets: sub.fromOffsets,
  }
  if (sub.subscriptionId !== undefined) stored.subscriptionId = sub.subscriptionId
  if (sub.replay === true) stored.replay = true
  return stored
}
