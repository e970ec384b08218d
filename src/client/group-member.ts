import type { Logger } from 'pino'
import { BrokerError } from '../errors.ts'
import type { OpRequest, OpResponse } from '../native/wire/ops.ts'
import type { TimerHandle } from '../util/clock.ts'
import { Backoff } from './backoff.ts'
import type { CairnClient } from './cairn-client.ts'
import { asBrokerError } from './client-errors.ts'
import { fromStreamPartitions, partitionKey, toStreamPartitions, type StreamPartition } from './types.ts'

/** What the member needs from its consumer. */
export interface GroupMemberHost {
  /** The partitions the consumer owns now (reported in every heartbeat). */
  owned(): StreamPartition[]
  /** New partitions: the consumer starts them (position from the committed offset or reset policy). */
  assign(partitions: StreamPartition[]): Promise<void>
  /**
   * Partitions to give up. `lost`: the broker no longer knows this member (its session expired or
   * it was fenced), so they already belong to someone else and commits for them will be refused.
   */
  revoke(partitions: StreamPartition[], lost: boolean): Promise<void>
  /** The membership stopped on an error it cannot recover from. */
  failed(error: BrokerError): void
}

export interface GroupMemberOptions {
  group: string
  instanceId?: string | undefined
  assignor?: 'range' | 'roundrobin' | 'sticky' | undefined
  sessionTimeoutMs?: number | undefined
  rebalanceTimeoutMs?: number | undefined
}

/**
 * Consumer-group membership through `groupHeartbeat` (ops.ts), in the broker-driven style of
 * Kafka's KIP-848:
 *
 *   join:       memberId "", memberEpoch 0, streams                → memberId, epoch, assignment
 *   heartbeat:  every heartbeatIntervalMs with `owned`             → assignment (may change)
 *   reconcile:  revoked = owned − assignment → host.revoke (onRevoke, commit, stop fetching)
 *               added   = assignment − owned → host.assign
 *               then heartbeat at once to report the new `owned`
 *   fenced:     CAIRN_GROUP_MEMBER_UNKNOWN / CAIRN_GROUP_STALE_EPOCH → drop everything, rejoin
 *   leave:      memberEpoch -1 (-2 for a static member, which keeps its assignment for a while)
 */
export class GroupMember {
  readonly #client: CairnClient
  readonly #host: GroupMemberHost
  readonly #options: GroupMemberOptions
  readonly #logger: Logger
  readonly #backoff: Backoff
  #streams: string[] = []
  #streamsChanged = false
  #memberId = ''
  #memberEpoch = 0
  #running: Promise<void> | undefined
  #stopped = false
  #wake: (() => void) | undefined
  #timer: TimerHandle | undefined
  /** interrupt() came while no sleep was waiting: the next sleep is skipped. */
  #woken = false

  constructor(client: CairnClient, host: GroupMemberHost, options: GroupMemberOptions) {
    this.#client = client
    this.#host = host
    this.#options = options
    this.#logger = client.logger.child({ component: 'group-member', group: options.group })
    this.#backoff = new Backoff({ initialDelayMs: 100, maxDelayMs: 5000 })
  }

  get memberId(): string {
    return this.#memberId
  }

  get memberEpoch(): number {
    return this.#memberEpoch
  }

  /** Joined and not fenced: commits may carry memberId/memberEpoch. */
  get isMember(): boolean {
    return this.#memberId !== '' && this.#memberEpoch > 0
  }

  /** Sets the subscription and starts (or nudges) the heartbeat loop. */
  subscribe(streams: readonly string[]): void {
    if (this.#stopped) throw new BrokerError('CAIRN_GROUP_INVALID', 'this consumer has left its group')
    this.#streams = [...new Set(streams)]
    this.#streamsChanged = true
    if (this.#running === undefined) {
      this.#running = this.#run()
    } else {
      this.#interrupt()
    }
  }

  /** Heartbeats at once (e.g. after a commit was refused as stale). */
  nudge(): void {
    this.#interrupt()
  }

  /** Revokes everything (the host commits), then leaves the group. */
  async leave(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    this.#interrupt()
    await this.#running
    const owned = this.#host.owned()
    if (owned.length > 0) await this.#host.revoke(owned, false)
    if (this.#memberId === '') return
    const leaveEpoch = this.#options.instanceId === undefined ? -1 : -2
    try {
      await this.#client.request('groupHeartbeat', { ...this.#base(), memberEpoch: leaveEpoch })
    } catch (error) {
      this.#logger.debug({ err: error }, 'leaving the group failed; the session will expire')
    }
    this.#memberEpoch = leaveEpoch
  }

  /** Stops without a word to the broker (client closed). */
  stop(): void {
    this.#stopped = true
    this.#interrupt()
  }

  #base(): OpRequest<'groupHeartbeat'> {
    const body: OpRequest<'groupHeartbeat'> = {
      group: this.#options.group,
      memberId: this.#memberId,
      memberEpoch: this.#memberEpoch,
      clientId: this.#client.clientId,
    }
    if (this.#options.instanceId !== undefined) body.instanceId = this.#options.instanceId
    return body
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      let delayMs: number
      try {
        const response = await this.#heartbeat()
        if (this.#stopped) return
        this.#backoff.reset()
        const changed = await this.#reconcile(response.assignment)
        delayMs = changed ? 0 : response.heartbeatIntervalMs
      } catch (caught) {
        const error = asBrokerError(caught, 'CAIRN_GROUP_INVALID', 'group heartbeat failed')
        if (this.#stopped) return
        if (error.code === 'CAIRN_GROUP_MEMBER_UNKNOWN' || error.code === 'CAIRN_GROUP_STALE_EPOCH') {
          this.#logger.info({ err: error, memberId: this.#memberId }, 'fenced from the group; rejoining')
          const owned = this.#host.owned()
          // A stale member rejoins under its id, owning nothing (the broker frees its partitions at
          // once); an unknown one joins afresh.
          if (error.code === 'CAIRN_GROUP_MEMBER_UNKNOWN') this.#memberId = ''
          this.#memberEpoch = 0
          if (owned.length > 0) await this.#host.revoke(owned, true)
          delayMs = 0
        } else if (error.retriable) {
          delayMs = this.#backoff.next()
          this.#logger.debug({ err: error, delayMs }, 'heartbeat failed; retrying')
        } else {
          this.#stopped = true
          this.#host.failed(error)
          return
        }
      }
      await this.#sleep(delayMs)
    }
  }

  async #heartbeat(): Promise<OpResponse<'groupHeartbeat'>> {
    const body = this.#base()
    const joining = this.#memberEpoch === 0
    if (joining || this.#streamsChanged) body.streams = this.#streams
    if (joining) {
      if (this.#options.assignor !== undefined) body.assignor = this.#options.assignor
      if (this.#options.sessionTimeoutMs !== undefined) body.sessionTimeoutMs = this.#options.sessionTimeoutMs
      if (this.#options.rebalanceTimeoutMs !== undefined) body.rebalanceTimeoutMs = this.#options.rebalanceTimeoutMs
    }
    body.owned = toStreamPartitions(this.#host.owned())
    const streamsSent = body.streams !== undefined
    const response = await this.#client.request('groupHeartbeat', body)
    if (streamsSent) this.#streamsChanged = false
    if (response.memberId !== this.#memberId || response.memberEpoch !== this.#memberEpoch) {
      this.#logger.debug({ memberId: response.memberId, memberEpoch: response.memberEpoch }, 'member epoch')
    }
    this.#memberId = response.memberId
    this.#memberEpoch = response.memberEpoch
    return response
  }

  /** Applies an assignment; true when what the member owns changed (so it reports at once). */
  async #reconcile(assignment: OpResponse<'groupHeartbeat'>['assignment']): Promise<boolean> {
    const target = fromStreamPartitions(assignment)
    const targetKeys = new Set(target.map((p) => partitionKey(p.stream, p.partition)))
    const owned = this.#host.owned()
    const ownedKeys = new Set(owned.map((p) => partitionKey(p.stream, p.partition)))
    const revoked = owned.filter((p) => !targetKeys.has(partitionKey(p.stream, p.partition)))
    const added = target.filter((p) => !ownedKeys.has(partitionKey(p.stream, p.partition)))
    if (revoked.length > 0) await this.#host.revoke(revoked, false)
    if (added.length > 0 && !this.#stopped) await this.#host.assign(added)
    return revoked.length > 0 || added.length > 0
  }

  #sleep(delayMs: number): Promise<void> {
    if (this.#stopped || this.#woken) {
      this.#woken = false
      return Promise.resolve()
    }
    return new Promise((resolve) => {
      this.#wake = resolve
      this.#timer = this.#client.clock.setTimeout(() => this.#interrupt(), delayMs)
    })
  }

  #interrupt(): void {
    if (this.#timer !== undefined) this.#client.clock.clearTimeout(this.#timer)
    this.#timer = undefined
    const wake = this.#wake
    this.#wake = undefined
    if (wake === undefined) this.#woken = true
    else wake()
  }
}
