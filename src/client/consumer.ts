import type { Logger } from 'pino'
import { BrokerError } from '../errors.ts'
import type { OpRequest, OpResponse } from '../native/wire/ops.ts'
import type { TimerHandle } from '../util/clock.ts'
import { wireCommitOffset } from './admin.ts'
import { sleep } from './backoff.ts'
import type { CairnClient } from './cairn-client.ts'
import { asBrokerError, clientClosed, errorFromWire } from './client-errors.ts'
import { GroupMember } from './group-member.ts'
import { notAssigned, partitionKey, type CommitOffset, type ConsumerRecord, type StreamPartition } from './types.ts'

export interface ConsumerOptions {
  /** Consumer group: needed for subscribe(), commits and committed start positions. */
  group?: string
  /** Static membership: a restart with the same id takes its partitions back. */
  instanceId?: string
  /** Subscribe to these at once (with `group`). */
  streams?: string[]
  assignor?: 'range' | 'roundrobin' | 'sticky'
  /** Commit returned positions every autoCommitIntervalMs, on revoke and on close. Default false. */
  autoCommit?: boolean
  autoCommitIntervalMs?: number
  /** Where to start without a committed offset, or after CAIRN_OFFSET_OUT_OF_RANGE. Default earliest. */
  reset?: 'earliest' | 'latest'
  /** Fetch long-poll. Default 500. */
  maxWaitMs?: number
  /** Fetch response budget. Default 4 MiB. */
  maxBytes?: number
  sessionTimeoutMs?: number
  rebalanceTimeoutMs?: number
  /** After partitions are assigned (may seek). */
  onAssign?: (partitions: StreamPartition[]) => void | Promise<void>
  /** Before partitions are released, so the application can commit them. */
  onRevoke?: (partitions: StreamPartition[]) => void | Promise<void>
}

export interface PartitionLag extends StreamPartition {
  /** Next offset to consume (committed position of what was returned). */
  position: bigint
  logEndOffset: bigint
  lag: bigint
}

interface OwnedPartition extends StreamPartition {
  readonly key: string
  /** Next offset to fetch; undefined until resolved (committed offset or reset policy). */
  position: bigint | undefined
  /** Position after the last record handed to the application. */
  consumed: bigint | undefined
  /** Last offset this consumer committed. */
  committed: bigint | undefined
  /** Skip the committed offset and apply the reset policy (after out of range). */
  resetToPolicy: boolean
  /** Being revoked: not fetched any more. */
  revoking: boolean
}

/**
 * Reads records from owned partitions with long-poll fetches. Partitions are owned through a
 * group (subscribe) or given by the application (assign). poll() fetches once over every owned
 * partition; iterating yields records one by one. Positions: `position` is the next offset to
 * fetch, and what commit() sends by default is the position after the last record returned.
 */
export class Consumer implements AsyncIterable<ConsumerRecord> {
  readonly #client: CairnClient
  readonly #options: ConsumerOptions
  readonly #logger: Logger
  readonly #maxWaitMs: number
  readonly #maxBytes: number
  readonly #owned = new Map<string, OwnedPartition>()
  readonly #onClientClose = (): void => this.#stop(clientClosed('client'))
  #member: GroupMember | undefined
  #closed = false
  /** Why later calls fail: the membership failed, or the client or consumer was closed. */
  #failure: BrokerError | undefined
  #polling = false
  #autoCommitTimer: TimerHandle | undefined
  #idleWaiters = new Set<() => void>()

  constructor(client: CairnClient, options: ConsumerOptions = {}) {
    this.#client = client
    this.#options = options
    this.#logger = client.logger.child({
      component: 'consumer',
      ...(options.group === undefined ? {} : { group: options.group }),
    })
    this.#maxWaitMs = options.maxWaitMs ?? 500
    this.#maxBytes = options.maxBytes ?? 4 * 1024 * 1024
    client.once('close', this.#onClientClose)
    if (options.streams !== undefined && options.group !== undefined) this.subscribe(options.streams)
    if (options.autoCommit === true) this.#armAutoCommit()
  }

  /** Joins the group (or changes the subscription); partitions arrive through the heartbeat. */
  subscribe(streams: readonly string[]): void {
    this.#checkUsable()
    const group = this.#options.group
    if (group === undefined) throw new BrokerError('CAIRN_GROUP_INVALID', 'subscribe() needs the group option')
    if (this.#owned.size > 0 && this.#member === undefined) {
      throw new BrokerError('CAIRN_GROUP_INVALID', 'this consumer uses assign(); it cannot also subscribe')
    }
    this.#member ??= new GroupMember(this.#client, this.#memberHost(), {
      group,
      instanceId: this.#options.instanceId,
      assignor: this.#options.assignor,
      sessionTimeoutMs: this.#options.sessionTimeoutMs,
      rebalanceTimeoutMs: this.#options.rebalanceTimeoutMs,
    })
    this.#member.subscribe(streams)
  }

  /**
   * Takes these partitions (no group membership), replacing any earlier assign(). Without an
   * offset a partition starts at the group's committed offset (with `group`) or the reset policy.
   */
  assign(partitions: readonly (StreamPartition & { offset?: bigint })[]): void {
    this.#checkUsable()
    if (this.#member !== undefined) {
      throw new BrokerError('CAIRN_GROUP_INVALID', 'this consumer subscribed to a group; it cannot also assign()')
    }
    this.#owned.clear()
    for (const { stream, partition, offset } of partitions) {
      const owned = this.#add({ stream, partition })
      if (offset !== undefined) this.#setPosition(owned, offset)
    }
    this.#wakeIdle()
  }

  /** The next fetch of this partition starts at `offset`. */
  seek(stream: string, partition: number, offset: bigint): void {
    const owned = this.#owned.get(partitionKey(stream, partition))
    if (owned === undefined) throw notAssigned(stream, partition)
    this.#setPosition(owned, offset)
  }

  /** Moves to the first record at or after `timeMs` (one partition, or every owned one of the stream). */
  async seekToTime(stream: string, partition: number | undefined, timeMs: number): Promise<void> {
    const targets =
      partition === undefined
        ? [...this.#owned.values()].filter((p) => p.stream === stream)
        : [this.#owned.get(partitionKey(stream, partition)) ?? this.#throw(notAssigned(stream, partition))]
    if (targets.length === 0) return
    const offsets = await this.#listOffsets(targets, { timestamp: Math.max(0, Math.floor(timeMs)) })
    for (const target of targets) {
      const offset = offsets.get(target.key)
      if (offset !== undefined && this.#owned.get(target.key) === target) this.#setPosition(target, offset)
    }
  }

  position(stream: string, partition: number): bigint | undefined {
    return this.#owned.get(partitionKey(stream, partition))?.position
  }

  /** The partitions owned now. */
  assignment(): StreamPartition[] {
    return [...this.#owned.values()].filter((p) => !p.revoking).map(({ stream, partition }) => ({ stream, partition }))
  }

  /** For transactional offset commits (producer.sendOffsets). */
  groupMetadata(): { group: string; memberId?: string; memberEpoch?: number } | undefined {
    const group = this.#options.group
    if (group === undefined) return undefined
    const member = this.#member
    return member?.isMember === true ? { group, memberId: member.memberId, memberEpoch: member.memberEpoch } : { group }
  }

  /** How far each owned partition is behind its log end. */
  async lag(): Promise<PartitionLag[]> {
    const owned = [...this.#owned.values()]
    if (owned.length === 0) return []
    const ends = await this.#listOffsets(owned, { latest: true })
    return owned.map((p) => {
      const logEndOffset = ends.get(p.key) ?? 0n
      const position = p.consumed ?? p.position ?? logEndOffset
      return {
        stream: p.stream,
        partition: p.partition,
        position,
        logEndOffset,
        lag: logEndOffset > position ? logEndOffset - position : 0n,
      }
    })
  }

  /**
   * One fetch over the owned partitions: waits up to maxWaitMs for records. Returns [] when nothing
   * arrived, while no partition is owned yet, or after a retriable failure (logged).
   */
  async poll(): Promise<ConsumerRecord[]> {
    const records = await this.#poll()
    for (const record of records) {
      const owned = this.#owned.get(partitionKey(record.stream, record.partition))
      if (owned !== undefined) owned.consumed = record.offset + 1n
    }
    return records
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<ConsumerRecord, void, undefined> {
    while (!this.#closed) {
      const records = await this.#poll()
      for (const record of records) {
        const owned = this.#owned.get(partitionKey(record.stream, record.partition))
        // Revoked (or sought away) since the fetch: its records go to the next owner.
        if (owned === undefined || owned.revoking) continue
        owned.consumed = record.offset + 1n
        yield record
        if (this.#closed) return
      }
    }
  }

  /**
   * Commits offsets for the group: the given ones, or by default the position after the last
   * record returned on every owned partition (when it moved since the last commit).
   */
  async commit(offsets?: readonly CommitOffset[]): Promise<void> {
    const group = this.#options.group
    if (group === undefined) throw new BrokerError('CAIRN_GROUP_INVALID', 'commit() needs the group option')
    const list =
      offsets?.map(wireCommitOffset) ??
      [...this.#owned.values()]
        .filter((p) => p.consumed !== undefined && p.consumed !== p.committed)
        .map((p) => ({ stream: p.stream, partition: p.partition, offset: p.consumed as bigint }))
    if (list.length === 0) return
    const body: OpRequest<'offsetCommit'> = { group, offsets: list }
    const member = this.#member
    if (member?.isMember === true) {
      body.memberId = member.memberId
      body.memberEpoch = member.memberEpoch
    }
    try {
      await this.#client.request('offsetCommit', body)
    } catch (error) {
      if (error instanceof BrokerError && error.code === 'CAIRN_GROUP_STALE_EPOCH') member?.nudge()
      throw error
    }
    for (const { stream, partition, offset } of list) {
      const owned = this.#owned.get(partitionKey(stream, partition))
      if (owned !== undefined) owned.committed = offset
    }
  }

  /** Commits (autoCommit), revokes and leaves the group, and stops. */
  async close(): Promise<void> {
    if (this.#closed) return
    try {
      if (this.#failure === undefined) {
        if (this.#member !== undefined) await this.#member.leave()
        else if (this.#options.autoCommit === true) await this.#autoCommit()
      }
    } finally {
      this.#stop(clientClosed('consumer'))
    }
  }

  #stop(error: BrokerError): void {
    if (this.#closed) return
    this.#closed = true
    this.#failure ??= error
    this.#member?.stop()
    if (this.#autoCommitTimer !== undefined) this.#client.clock.clearTimeout(this.#autoCommitTimer)
    this.#autoCommitTimer = undefined
    this.#client.off('close', this.#onClientClose)
    this.#wakeIdle()
  }

  #checkUsable(): void {
    if (this.#failure !== undefined) throw this.#failure
  }

  #throw(error: BrokerError): never {
    throw error
  }

  async #poll(): Promise<ConsumerRecord[]> {
    this.#checkUsable()
    if (this.#polling) throw new Error('poll() is already running on this consumer')
    this.#polling = true
    try {
      await this.#resolvePositions()
      const fetched = [...this.#owned.values()].filter((p) => !p.revoking && p.position !== undefined)
      if (fetched.length === 0) {
        await this.#idle(this.#maxWaitMs)
        return []
      }
      const request: OpRequest<'fetch'> = {
        maxWaitMs: this.#maxWaitMs,
        maxBytes: this.#maxBytes,
        partitions: fetched.map((p) => ({ stream: p.stream, partition: p.partition, offset: p.position as bigint })),
      }
      const positions = new Map(fetched.map((p) => [p.key, p.position]))
      const response = await this.#client.request('fetch', request, {
        timeoutMs: this.#client.requestTimeoutMs + this.#maxWaitMs,
      })
      return this.#collect(response, positions)
    } catch (error) {
      if (this.#closed) return []
      const failure = asBrokerError(error, 'CAIRN_REQUEST_INVALID', 'poll failed')
      if (!failure.retriable) throw failure
      this.#logger.debug({ err: failure }, 'fetch failed; retrying on the next poll')
      await sleep(this.#client.clock, 100)
      return []
    } finally {
      this.#polling = false
    }
  }

  #collect(response: OpResponse<'fetch'>, positions: Map<string, bigint | undefined>): ConsumerRecord[] {
    const records: ConsumerRecord[] = []
    if (this.#closed) return records
    for (const part of response.partitions) {
      const key = partitionKey(part.stream, part.partition)
      const owned = this.#owned.get(key)
      // Revoked, released or sought while the fetch was out: these records are not ours to return.
      if (owned === undefined || owned.revoking || owned.position !== positions.get(key)) continue
      if (part.error !== undefined) {
        const error = errorFromWire(part.error, 'fetch')
        if (error.code === 'CAIRN_OFFSET_OUT_OF_RANGE') {
          this.#logger.info(
            { stream: part.stream, partition: part.partition, position: owned.position },
            'offset out of range; applying the reset policy',
          )
          owned.position = undefined
          owned.resetToPolicy = true
        } else {
          if (error.code === 'CAIRN_STREAM_NOT_FOUND' || error.code === 'CAIRN_PARTITION_NOT_FOUND') {
            this.#client.metadata.invalidate(part.stream)
          }
          this.#logger.warn({ err: error, stream: part.stream, partition: part.partition }, 'fetch error for partition')
        }
        continue
      }
      let next = owned.position as bigint
      for (const [offset, timestamp, key2, value, headers, meta] of part.records) {
        if (offset < next) continue
        records.push({
          stream: part.stream,
          partition: part.partition,
          offset,
          timestamp,
          key: key2,
          value,
          headers,
          meta: meta ?? null,
        })
        next = offset + 1n
      }
      if (part.nextOffset > next) next = part.nextOffset
      owned.position = next
    }
    return records
  }

  /** Resolves positions of partitions that have none: committed offset (group), else the reset policy. */
  async #resolvePositions(): Promise<void> {
    const missing = [...this.#owned.values()].filter((p) => p.position === undefined && !p.revoking)
    if (missing.length === 0) return
    const group = this.#options.group
    const byPolicy: OwnedPartition[] = []
    const committed = new Map<string, bigint>()
    if (group !== undefined && missing.some((p) => !p.resetToPolicy)) {
      const streams = [...new Set(missing.map((p) => p.stream))]
      const response = await this.#client.request('offsetFetch', { group, streams })
      for (const info of response.offsets) committed.set(partitionKey(info.stream, info.partition), info.offset)
    }
    for (const p of missing) {
      const offset = p.resetToPolicy ? undefined : committed.get(p.key)
      if (offset === undefined) byPolicy.push(p)
      else if (this.#owned.get(p.key) === p && p.position === undefined) {
        p.position = offset
        p.committed = offset
      }
    }
    if (byPolicy.length === 0) return
    const at = this.#options.reset === 'latest' ? { latest: true } : { earliest: true }
    const offsets = await this.#listOffsets(byPolicy, at)
    for (const p of byPolicy) {
      const offset = offsets.get(p.key)
      if (offset !== undefined && this.#owned.get(p.key) === p && p.position === undefined) {
        p.position = offset
        p.resetToPolicy = false
      }
    }
  }

  async #listOffsets(
    partitions: readonly OwnedPartition[],
    at: OpRequest<'listOffsets'>['partitions'][number]['at'],
  ): Promise<Map<string, bigint>> {
    const response = await this.#client.request('listOffsets', {
      partitions: partitions.map((p) => ({ stream: p.stream, partition: p.partition, at: { ...at } })),
    })
    const out = new Map<string, bigint>()
    for (const p of response.partitions) {
      if (p.error !== undefined) throw errorFromWire(p.error, 'listOffsets')
      if (p.offset !== undefined) out.set(partitionKey(p.stream, p.partition), p.offset)
    }
    return out
  }

  #add(partition: StreamPartition): OwnedPartition {
    const key = partitionKey(partition.stream, partition.partition)
    const owned: OwnedPartition = {
      key,
      stream: partition.stream,
      partition: partition.partition,
      position: undefined,
      consumed: undefined,
      committed: undefined,
      resetToPolicy: false,
      revoking: false,
    }
    this.#owned.set(key, owned)
    return owned
  }

  #setPosition(owned: OwnedPartition, offset: bigint): void {
    if (typeof offset !== 'bigint' || offset < 0n) throw new RangeError(`offset must be a non-negative bigint`)
    owned.position = offset
    owned.consumed = offset
    owned.resetToPolicy = false
  }

  #memberHost(): ConstructorParameters<typeof GroupMember>[1] {
    return {
      owned: () => [...this.#owned.values()].map(({ stream, partition }) => ({ stream, partition })),
      assign: async (partitions) => {
        for (const p of partitions) this.#add(p)
        this.#logger.debug({ partitions }, 'partitions assigned')
        this.#wakeIdle()
        await this.#callback('onAssign', partitions)
      },
      revoke: async (partitions, lost) => {
        const owned = partitions
          .map((p) => this.#owned.get(partitionKey(p.stream, p.partition)))
          .filter((p): p is OwnedPartition => p !== undefined)
        for (const p of owned) p.revoking = true
        this.#logger.debug({ partitions, lost }, 'partitions revoked')
        await this.#callback('onRevoke', partitions)
        if (!lost && this.#options.autoCommit === true) await this.#autoCommit()
        for (const p of owned) if (this.#owned.get(p.key) === p) this.#owned.delete(p.key)
      },
      failed: (error) => {
        this.#logger.error({ err: error }, 'group membership failed')
        this.#failure = error
        this.#wakeIdle()
      },
    }
  }

  async #callback(name: 'onAssign' | 'onRevoke', partitions: StreamPartition[]): Promise<void> {
    try {
      await this.#options[name]?.(partitions)
    } catch (error) {
      this.#logger.error({ err: error }, `${name} callback failed`)
    }
  }

  async #autoCommit(): Promise<void> {
    if (this.#options.group === undefined) return
    try {
      await this.commit()
    } catch (error) {
      this.#logger.warn({ err: error }, 'auto-commit failed')
    }
  }

  #armAutoCommit(): void {
    const intervalMs = this.#options.autoCommitIntervalMs ?? 5000
    this.#autoCommitTimer = this.#client.clock.setTimeout(() => {
      if (this.#closed) return
      void this.#autoCommit().finally(() => {
        if (!this.#closed) this.#armAutoCommit()
      })
    }, intervalMs)
  }

  #idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.#client.clock.clearTimeout(timer)
        this.#idleWaiters.delete(done)
        resolve()
      }
      const timer = this.#client.clock.setTimeout(done, ms)
      this.#idleWaiters.add(done)
    })
  }

  #wakeIdle(): void {
    for (const wake of [...this.#idleWaiters]) wake()
  }
}
