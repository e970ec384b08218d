import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import { BrokerError } from '../errors.ts'
import type { OpRequest, OpResponse } from '../native/wire/ops.ts'
import type { Clock, TimerHandle } from '../util/clock.ts'
import { assignors, type AssignorMember, type AssignorName } from './assignors.ts'
import { keysOf, partitionKey, toStreamMap, toStreamPartitions } from './partition-keys.ts'

// One consumer group's membership and its cooperative reconciliation (Kafka KIP-848, simplified).
// The group epoch bumps when membership, subscriptions or the subscribed streams' partition counts
// change; the assignor then computes every member's target. A member is handed the partitions of
// its target that nobody else holds; a partition leaving a member stays "pending revocation" (still
// held by it) until that member's heartbeat reports it no longer owns it. So no partition is ever
// held by two members, and only moved partitions stop. Reconciliation of a member happens in its
// own heartbeat: its epoch changes only in a response it is about to receive.

export type GroupState = 'empty' | 'stable' | 'reconciling'
export type MemberInfo = OpResponse<'describeGroup'>['members'][number]
type HeartbeatRequest = OpRequest<'groupHeartbeat'>
type HeartbeatResponse = OpResponse<'groupHeartbeat'>

export interface GroupEnvironment {
  readonly clock: Clock
  readonly logger: Logger
  /** 0 for a stream that does not exist (yet). */
  partitionCount(stream: string): number
  readonly sessionTimeoutMs: number
  readonly rebalanceTimeoutMs: number
  readonly heartbeatIntervalMs: number
  /** The last member is gone (left or timed out): the coordinator forgets the group. */
  onEmpty(group: Group): void
}

interface Member {
  readonly memberId: string
  readonly instanceId: string | undefined
  clientId: string
  streams: string[]
  sessionTimeoutMs: number
  rebalanceTimeoutMs: number
  epoch: number
  /** Still accepted from the member: the response that carried `epoch` may have been lost. */
  previousEpoch: number
  /** A static member that left for now (epoch -2): its assignment stays reserved until its session times out. */
  away: boolean
  target: Set<string>
  /** What the member was told it may own (partition keys). */
  assigned: Set<string>
  /** Told to give up, not yet reported released: still the member's. */
  pending: Set<string>
  sessionTimer: TimerHandle | undefined
  rebalanceTimer: TimerHandle | undefined
}

export class Group {
  readonly name: string
  readonly assignor: AssignorName
  readonly #env: GroupEnvironment
  readonly #logger: Logger
  readonly #members = new Map<string, Member>()
  /** Partition key → the member holding it (assigned or pending revocation); at most one each. */
  readonly #holders = new Map<string, Member>()
  #epoch = 0
  /** The subscribed streams' partition counts the current targets were computed from. */
  #partitionSignature = ''

  constructor(name: string, assignor: AssignorName, env: GroupEnvironment) {
    this.name = name
    this.assignor = assignor
    this.#env = env
    this.#logger = env.logger.child({ group: name })
  }

  get epoch(): number {
    return this.#epoch
  }

  /** Members, static members away included. */
  get size(): number {
    return this.#members.size
  }

  get activeMembers(): number {
    let n = 0
    for (const m of this.#members.values()) if (!m.away) n++
    return n
  }

  heartbeat(request: HeartbeatRequest): HeartbeatResponse {
    if (request.memberEpoch === 0) return this.#join(request)
    const member = this.#activeMember(request.memberId)
    if (request.memberEpoch === -1 || (request.memberEpoch === -2 && member.instanceId === undefined)) {
      this.#remove(member, 'left')
      return { memberId: member.memberId, memberEpoch: -1, heartbeatIntervalMs: this.#interval(member), assignment: [] }
    }
    if (request.memberEpoch === -2) {
      this.#goAway(member)
      return { memberId: member.memberId, memberEpoch: -2, heartbeatIntervalMs: this.#interval(member), assignment: [] }
    }
    if (request.memberEpoch !== member.epoch && request.memberEpoch !== member.previousEpoch) {
      throw new BrokerError(
        'CAIRN_GROUP_STALE_EPOCH',
        `group "${this.name}": member epoch ${request.memberEpoch} is stale (current ${member.epoch}); rejoin`,
        { details: { group: this.name, memberId: member.memberId, memberEpoch: member.epoch } },
      )
    }
    this.#checkFields(request, member)
    const resubscribed = this.#applyFields(member, request)
    if (request.owned !== undefined) this.#release(member, keysOf(request.owned), false)
    if (resubscribed) this.#bump('subscription changed')
    return this.#answer(member)
  }

  /** Throws unless the member may commit offsets at this epoch. */
  checkCommitter(memberId: string, memberEpoch: number | undefined): void {
    const member = this.#activeMember(memberId)
    if (memberEpoch === undefined) {
      throw new BrokerError('CAIRN_REQUEST_INVALID', 'an offset commit with memberId needs memberEpoch')
    }
    // A member that has not heard of its new epoch yet may still be finishing its old partitions.
    const previousAllowed = memberEpoch === member.previousEpoch && this.#reconciling(member)
    if (memberEpoch !== member.epoch && !previousAllowed) {
      throw new BrokerError(
        'CAIRN_GROUP_STALE_EPOCH',
        `group "${this.name}": member epoch ${memberEpoch} is stale (current ${member.epoch})`,
        { details: { group: this.name, memberId, memberEpoch: member.epoch } },
      )
    }
  }

  /** True if the member holds the partition: assigned to it, or pending its revocation. */
  holds(memberId: string, stream: string, partition: number): boolean {
    const member = this.#holders.get(partitionKey(stream, partition))
    return member !== undefined && member.memberId === memberId
  }

  state(): GroupState {
    if (this.#members.size === 0) return 'empty'
    for (const m of this.#members.values()) if (!m.away && this.#reconciling(m)) return 'reconciling'
    return 'stable'
  }

  describeMembers(): MemberInfo[] {
    return [...this.#members.values()].map((m) => ({
      memberId: m.memberId,
      ...(m.instanceId === undefined ? {} : { instanceId: m.instanceId }),
      clientId: m.clientId,
      memberEpoch: m.away ? -2 : m.epoch,
      streams: [...m.streams],
      assignment: toStreamPartitions([...m.assigned, ...m.pending]),
    }))
  }

  /** Streams were created, grown or deleted: a subscribed one changing its partitions is a rebalance. */
  streamsChanged(): void {
    if (this.#members.size > 0 && this.#signature() !== this.#partitionSignature) this.#bump('partitions changed')
  }

  close(): void {
    for (const m of this.#members.values()) this.#clearTimers(m)
  }

  #join(request: HeartbeatRequest): HeartbeatResponse {
    if (request.streams === undefined || request.streams.length === 0) {
      throw new BrokerError('CAIRN_REQUEST_INVALID', `group "${this.name}": joining needs a non-empty streams list`)
    }
    let member: Member
    let rebalance: boolean
    if (request.memberId !== '') {
      // A known member starting over (e.g. after a stale-epoch fence): it owns only what it reports.
      member = this.#activeMember(request.memberId)
      this.#checkFields(request, member)
      rebalance = this.#applyFields(member, request)
    } else {
      this.#checkFields(request, undefined)
      const previous = request.instanceId === undefined ? undefined : this.#byInstance(request.instanceId)
      member = this.#newMember(request)
      this.#members.set(member.memberId, member)
      if (previous === undefined) {
        rebalance = true
      } else {
        this.#takeOver(previous, member)
        rebalance = !sameStreams(previous.streams, member.streams)
      }
      this.#logger.info(
        {
          memberId: member.memberId,
          instanceId: member.instanceId,
          clientId: member.clientId,
          streams: member.streams,
        },
        previous === undefined ? 'member joined' : 'static member rejoined',
      )
    }
    this.#release(member, keysOf(request.owned ?? []), true)
    if (rebalance) this.#bump('member joined')
    return this.#answer(member)
  }

  #answer(member: Member): HeartbeatResponse {
    this.#reconcile(member)
    this.#armSession(member)
    return {
      memberId: member.memberId,
      memberEpoch: member.epoch,
      heartbeatIntervalMs: this.#interval(member),
      assignment: toStreamPartitions(member.assigned),
    }
  }

  /** Heartbeats well inside the session timeout, however short the member asked it to be. */
  #interval(member: Member): number {
    return Math.max(1, Math.min(this.#env.heartbeatIntervalMs, Math.floor(member.sessionTimeoutMs / 3)))
  }

  #activeMember(memberId: string): Member {
    const member = this.#members.get(memberId)
    if (member === undefined || member.away) {
      throw new BrokerError('CAIRN_GROUP_MEMBER_UNKNOWN', `group "${this.name}" has no member "${memberId}"`, {
        details: { group: this.name, memberId },
      })
    }
    return member
  }

  #byInstance(instanceId: string): Member | undefined {
    for (const m of this.#members.values()) if (m.instanceId === instanceId) return m
    return undefined
  }

  #checkFields(request: HeartbeatRequest, member: Member | undefined): void {
    if (request.assignor !== undefined && request.assignor !== this.assignor) {
      throw new BrokerError(
        'CAIRN_GROUP_INVALID',
        `group "${this.name}" uses the ${this.assignor} assignor, not ${request.assignor}`,
        { details: { group: this.name, assignor: this.assignor } },
      )
    }
    if (
      request.instanceId === '' ||
      (member !== undefined && (request.instanceId ?? member.instanceId) !== member.instanceId)
    ) {
      throw new BrokerError(
        'CAIRN_REQUEST_INVALID',
        `group "${this.name}": instanceId must be non-empty and cannot change`,
      )
    }
    for (const field of ['sessionTimeoutMs', 'rebalanceTimeoutMs'] as const) {
      if (request[field] === 0) throw new BrokerError('CAIRN_REQUEST_INVALID', `${field} must be positive`)
    }
  }

  #newMember(request: HeartbeatRequest): Member {
    return {
      memberId: randomUUID(),
      instanceId: request.instanceId,
      clientId: request.clientId ?? '',
      streams: unique(request.streams ?? []),
      sessionTimeoutMs: request.sessionTimeoutMs ?? this.#env.sessionTimeoutMs,
      rebalanceTimeoutMs: request.rebalanceTimeoutMs ?? this.#env.rebalanceTimeoutMs,
      epoch: 0,
      previousEpoch: 0,
      away: false,
      target: new Set(),
      assigned: new Set(),
      pending: new Set(),
      sessionTimer: undefined,
      rebalanceTimer: undefined,
    }
  }

  /** Updates what the member may change by heartbeat; true if its subscription changed. */
  #applyFields(member: Member, request: HeartbeatRequest): boolean {
    if (request.clientId !== undefined) member.clientId = request.clientId
    if (request.sessionTimeoutMs !== undefined) member.sessionTimeoutMs = request.sessionTimeoutMs
    if (request.rebalanceTimeoutMs !== undefined) member.rebalanceTimeoutMs = request.rebalanceTimeoutMs
    if (request.streams === undefined || sameStreams(member.streams, request.streams)) return false
    member.streams = unique(request.streams)
    return true
  }

  /** The new incarnation of a static member inherits the old one's place; the old member id is fenced. */
  #takeOver(previous: Member, member: Member): void {
    this.#clearTimers(previous)
    this.#members.delete(previous.memberId)
    member.target = previous.target
    member.assigned = previous.assigned
    member.pending = previous.pending
    member.epoch = previous.epoch
    member.previousEpoch = previous.epoch
    for (const key of [...member.assigned, ...member.pending]) this.#holders.set(key, member)
  }

  /**
   * The member reported what it owns: partitions pending revocation that it no longer lists are
   * released; with `all` (a join: the member starts from nothing) assigned ones are too.
   */
  #release(member: Member, owned: ReadonlySet<string>, all: boolean): void {
    for (const key of member.pending) if (!owned.has(key)) this.#drop(member, key)
    if (all) for (const key of member.assigned) if (!owned.has(key)) this.#drop(member, key)
    if (member.pending.size === 0) this.#clearRebalanceTimer(member)
  }

  #drop(member: Member, key: string): void {
    member.pending.delete(key)
    member.assigned.delete(key)
    if (this.#holders.get(key) === member) this.#holders.delete(key)
  }

  /**
   * Moves the member towards its target: what left the target becomes pending revocation, what
   * returned to it is simply kept, and target partitions nobody holds are handed over. The member's
   * epoch reaches the group epoch once it has nothing left to give up.
   */
  #reconcile(member: Member): void {
    let revoked = false
    for (const key of member.assigned) {
      if (member.target.has(key)) continue
      member.assigned.delete(key)
      member.pending.add(key)
      revoked = true
    }
    for (const key of member.pending) {
      if (!member.target.has(key)) continue
      member.pending.delete(key)
      member.assigned.add(key)
    }
    for (const key of member.target) {
      if (member.assigned.has(key) || this.#holders.has(key)) continue
      member.assigned.add(key)
      this.#holders.set(key, member)
    }
    if (member.pending.size === 0) {
      this.#clearRebalanceTimer(member)
      if (member.epoch !== this.#epoch) {
        member.previousEpoch = member.epoch
        member.epoch = this.#epoch
      }
    } else if (revoked) {
      this.#armRebalanceTimer(member)
    }
  }

  #reconciling(member: Member): boolean {
    return member.epoch !== this.#epoch || member.pending.size > 0 || !sameSet(member.assigned, member.target)
  }

  #bump(reason: string): void {
    this.#epoch++
    this.#partitionSignature = this.#signature()
    const members = [...this.#members.values()]
    const input: AssignorMember[] = members.map((m) => ({
      memberId: m.memberId,
      instanceId: m.instanceId,
      streams: m.streams,
      current: toStreamMap(m.target),
    }))
    const counts = new Map<string, number>()
    for (const m of members) for (const s of m.streams) counts.set(s, this.#env.partitionCount(s))
    const targets = assignors[this.assignor](input, counts)
    for (const m of members) {
      m.target = new Set()
      for (const [stream, partitions] of targets.get(m.memberId) ?? []) {
        for (const p of partitions) m.target.add(partitionKey(stream, p))
      }
      // An away member consumes nothing: what leaves its target is free at once.
      if (m.away) for (const key of m.assigned) if (!m.target.has(key)) this.#drop(m, key)
    }
    this.#logger.info({ groupEpoch: this.#epoch, reason, members: members.length }, 'group rebalance')
  }

  #signature(): string {
    const streams = new Set<string>()
    for (const m of this.#members.values()) for (const s of m.streams) streams.add(s)
    return [...streams]
      .sort()
      .map((s) => `${this.#env.partitionCount(s)}:${s}`)
      .join('\n')
  }

  #goAway(member: Member): void {
    member.away = true
    this.#clearRebalanceTimer(member)
    for (const key of member.pending) this.#drop(member, key)
    for (const key of member.assigned) if (!member.target.has(key)) this.#drop(member, key)
    this.#armSession(member)
    this.#logger.info({ memberId: member.memberId, instanceId: member.instanceId }, 'static member away')
  }

  #remove(member: Member, reason: string): void {
    this.#clearTimers(member)
    for (const key of [...member.assigned, ...member.pending]) this.#drop(member, key)
    this.#members.delete(member.memberId)
    this.#logger.info({ memberId: member.memberId, instanceId: member.instanceId, reason }, 'member removed')
    if (this.#members.size === 0) this.#env.onEmpty(this)
    else this.#bump(`member removed: ${reason}`)
  }

  #armSession(member: Member): void {
    if (member.sessionTimer !== undefined) this.#env.clock.clearTimeout(member.sessionTimer)
    member.sessionTimer = this.#env.clock.setTimeout(() => {
      member.sessionTimer = undefined
      if (this.#members.get(member.memberId) === member) this.#remove(member, 'session timeout')
    }, member.sessionTimeoutMs)
  }

  #armRebalanceTimer(member: Member): void {
    this.#clearRebalanceTimer(member)
    member.rebalanceTimer = this.#env.clock.setTimeout(() => {
      member.rebalanceTimer = undefined
      if (this.#members.get(member.memberId) === member) this.#remove(member, 'rebalance timeout')
    }, member.rebalanceTimeoutMs)
  }

  #clearRebalanceTimer(member: Member): void {
    if (member.rebalanceTimer === undefined) return
    this.#env.clock.clearTimeout(member.rebalanceTimer)
    member.rebalanceTimer = undefined
  }

  #clearTimers(member: Member): void {
    this.#clearRebalanceTimer(member)
    if (member.sessionTimer !== undefined) this.#env.clock.clearTimeout(member.sessionTimer)
    member.sessionTimer = undefined
  }
}

function unique(streams: readonly string[]): string[] {
  return [...new Set(streams)]
}

function sameStreams(a: readonly string[], b: readonly string[]): boolean {
  return sameSet(new Set(a), new Set(b))
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false
  for (const x of a) if (!b.has(x)) return false
  return true
}
