import { topicMatchesFilter } from '../topics/topics.ts'
import type { DeliveryHost } from './delivery-host.ts'
import { readFromCursors } from './log-cursor.ts'
import type { OutgoingMessage } from './message.ts'
import type { Session, Subscription } from './session.ts'

export interface SharedMember {
  session: Session
  sub: Subscription
}

/**
 * A QoS 1/2 message handed to a member and not yet durably its own: until the member's in-flight row
 * is committed (persistent member) or the member has acknowledged it (non-persistent member), the
 * group's persisted cursor stays at or before it.
 */
export interface ShareToken {
  readonly group: SharedGroup
  readonly partition: number
  readonly offset: number
}

/**
 * `$share/<name>/<filter>`: each message goes to one member, in turn [MQTT-4.8.2-3]. The group is a
 * consumer of the session stream like a session: `cursors[p]` is the first offset of partition p it
 * has not handed out. While `live`, committed records reach it from the router; when no member can
 * take one (every window full or every member offline) it leaves live mode and later reads the log
 * from its cursor ("pumps") as members get room, then goes live again once caught up. Messages
 * waiting for a member are thus the log itself and survive a restart: the cursor is persisted
 * (mqtt_shared_group), and never past a message that no member durably holds yet.
 */
export class SharedGroup {
  readonly key: string
  /** The filter matched against topics (without the `$share/<name>/` prefix). */
  readonly filter: string
  members: SharedMember[] = []
  next = 0
  cursors: number[]
  live: boolean
  /** Set once the group has no members left: it is forgotten and its row deleted. */
  closed = false

  readonly #host: DeliveryHost
  readonly #outstanding = new Set<ShareToken>()
  /** Messages given back by a member whose session ended while they were in flight; handed out first. */
  #returned: OutgoingMessage[] = []
  #pumpScheduled = false
  #saveScheduled = false

  constructor(host: DeliveryHost, key: string, filter: string, storedCursors: number[] | undefined) {
    this.#host = host
    this.key = key
    this.filter = filter
    this.cursors = storedCursors ?? host.routedEnds()
    // A restored group catches up from its stored cursor before it takes live records.
    this.live = storedCursors === undefined
  }

  /** Where the group stands in the log now: the router's boundary while live, its cursors otherwise. */
  currentCursors(): number[] {
    return this.live ? this.#host.routedEnds() : [...this.cursors]
  }

  /**
   * The cursor that is safe to persist: not past any message handed to a member that does not
   * durably hold it yet, nor past one given back. After a crash the group reads again from there,
   * so a message may be delivered twice but is never lost.
   */
  persistedCursors(): number[] {
    const cursors = this.currentCursors()
    const lower = (partition: number, offset: number): void => {
      if (offset < (cursors[partition] ?? Number.MAX_SAFE_INTEGER)) cursors[partition] = offset
    }
    for (const token of this.#outstanding) lower(token.partition, token.offset)
    for (const message of this.#returned) lower(message.partition, message.offset)
    return cursors
  }

  // ---- delivery ----

  /** A record just committed and matching the filter: to a member that can take it now, if live. */
  offerLive(message: OutgoingMessage): void {
    if (!this.live || this.closed) return
    if (this.#hand(message) === 'blocked') {
      // routedEnd of this partition is this record's offset: the pump resumes exactly here.
      this.cursors = this.#host.routedEnds()
      this.live = false
    }
  }

  /** A message that is not in the session stream ($SYS, other streams): best effort, never kept. */
  offerUnlogged(message: OutgoingMessage): boolean {
    const count = this.members.length
    for (let i = 0; i < count; i++) {
      const member = this.members[(this.next + i) % count] as SharedMember
      if (member.session.offerUnlogged(message, [member.sub])) {
        this.next = (this.next + i + 1) % count
        return true
      }
    }
    return false
  }

  /** Round robin over the members, from the one whose turn it is, to the first that can take it now. */
  #hand(message: OutgoingMessage): 'sent' | 'skipped' | 'blocked' {
    const count = this.members.length
    for (let i = 0; i < count; i++) {
      const member = this.members[(this.next + i) % count] as SharedMember
      const result = member.session.offerShared(message, member.sub, this)
      if (result === 'blocked') continue
      if (result === 'sent') this.next = (this.next + i + 1) % count
      return result
    }
    return 'blocked'
  }

  /** A member may have room now (ack, drain, attach, new member): read the log from the cursor. */
  schedulePump(): void {
    if (this.#pumpScheduled || this.live || this.closed || this.members.length === 0) return
    this.#pumpScheduled = true
    setImmediate(() => {
      this.#pumpScheduled = false
      this.#pump()
    })
  }

  #pump(): void {
    const before = this.persistedCursors()
    try {
      while (!this.live && !this.closed && this.members.length > 0) {
        const returned = this.#returned[0]
        if (returned === undefined) break
        if (this.#hand(returned) === 'blocked') return
        this.#returned.shift()
      }
      if (this.live || this.closed || this.members.length === 0) return
      const outcome = readFromCursors(
        this.#host,
        this.cursors,
        () => !this.closed && this.members.length > 0,
        (message) =>
          message === undefined || !topicMatchesFilter(message.topic, this.filter) || this.#hand(message) !== 'blocked',
        (partition, from, to) =>
          this.#host.logger.warn(
            { group: this.key, partition, from, to },
            'shared subscription resumes past records deleted by retention',
          ),
      )
      if (outcome === 'caught-up')
        this.live = true // the next commit reaches the group through the router
      else if (outcome === 'yield') this.schedulePump()
    } finally {
      const after = this.persistedCursors()
      if (after.some((c, p) => c !== before[p])) this.saveSoon()
    }
  }

  // ---- messages members hold ----

  /** A QoS 1/2 message handed to a member: it holds the persisted cursor back until settled. */
  handedOut(partition: number, offset: number): ShareToken {
    const token: ShareToken = { group: this, partition, offset }
    this.#outstanding.add(token)
    return token
  }

  /** A message a restored member holds durably (its in-flight row): given back if that member ends. */
  heldToken(partition: number, offset: number): ShareToken {
    return { group: this, partition, offset }
  }

  /** The member holds the message durably (row committed) or has acknowledged it. */
  settle(token: ShareToken): void {
    this.#outstanding.delete(token)
  }

  /** A member's session ended with this message unacknowledged: another member gets it [MQTT-4.8.2-?]. */
  giveBack(message: OutgoingMessage, token: ShareToken): void {
    this.#outstanding.delete(token)
    if (this.closed) return
    this.#returned.push(message)
    if (this.live) {
      this.cursors = this.#host.routedEnds()
      this.live = false
    }
    this.schedulePump()
  }

  // ---- persistence ----

  /** Saves the safe cursor in the next group commit (at most one pending save). */
  saveSoon(): void {
    if (this.#saveScheduled || this.closed) return
    this.#saveScheduled = true
    this.#host.writeLater(() => {
      this.#saveScheduled = false
      this.saveNow()
    })
  }

  /** Inside enqueueWrite work only. */
  saveNow(): void {
    if (!this.closed) this.#host.sessionStore.saveSharedGroup(this.key, this.persistedCursors())
  }

  /** The last member left: the group is forgotten, its row deleted. */
  close(): void {
    this.closed = true
    this.live = false
    this.#returned = []
    this.#outstanding.clear()
    const key = this.key
    this.#host.writeLater(() => this.#host.sessionStore.deleteSharedGroup(key))
  }
}
