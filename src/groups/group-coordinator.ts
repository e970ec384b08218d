import { pino, type Logger } from 'pino'
import { BrokerError } from '../errors.ts'
import type { LogStore } from '../log/log-store.ts'
import type { OpRequest, OpResponse } from '../native/wire/ops.ts'
import { systemClock, type Clock } from '../util/clock.ts'
import type { AssignorName } from './assignors.ts'
import { Group, type GroupEnvironment } from './group.ts'
import { GroupOffsets, type StoredOffset } from './group-offsets.ts'

// The consumer-group coordinator: membership (in memory; after a broker restart members rejoin)
// and committed offsets (durable, in the broker's database). Every write goes through the log
// store's group commit.

export interface GroupDefaults {
  sessionTimeoutMs: number
  rebalanceTimeoutMs: number
  heartbeatIntervalMs: number
  assignor: AssignorName
}

export interface GroupCoordinatorOptions {
  store: LogStore
  clock?: Clock
  logger?: Logger
  defaults?: Partial<GroupDefaults>
}

export type CommitOffset = { stream: string; partition: number; offset: bigint; metadata?: string }

export const defaultGroupDefaults: Readonly<GroupDefaults> = {
  sessionTimeoutMs: 45_000,
  rebalanceTimeoutMs: 60_000,
  heartbeatIntervalMs: 3_000,
  assignor: 'sticky',
}

type OffsetInfo = OpResponse<'offsetFetch'>['offsets'][number]
type ResetResult = OpResponse<'resetOffsets'>['offsets'][number]

const maxGroupNameLength = 249
/** Kafka's offset.metadata.max.bytes default, counted in characters. */
const maxMetadataLength = 4096

export class GroupCoordinator {
  readonly #store: LogStore
  readonly #clock: Clock
  readonly #logger: Logger
  readonly #defaults: GroupDefaults
  readonly #offsets: GroupOffsets
  readonly #groups = new Map<string, Group>()
  readonly #environment: GroupEnvironment
  readonly #unwatch: () => void
  #knownStreams: Set<string>

  constructor(options: GroupCoordinatorOptions) {
    const store = options.store
    this.#store = store
    this.#clock = options.clock ?? systemClock
    this.#logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'groups' })
    this.#defaults = { ...defaultGroupDefaults, ...options.defaults }
    this.#offsets = new GroupOffsets(store.database)
    this.#environment = {
      clock: this.#clock,
      logger: this.#logger,
      partitionCount: (stream) => (store.hasStream(stream) ? store.partitionCount(stream) : 0),
      sessionTimeoutMs: this.#defaults.sessionTimeoutMs,
      rebalanceTimeoutMs: this.#defaults.rebalanceTimeoutMs,
      heartbeatIntervalMs: this.#defaults.heartbeatIntervalMs,
      onEmpty: (group) => {
        if (this.#groups.get(group.name) === group) this.#groups.delete(group.name)
      },
    }
    this.#knownStreams = new Set(store.listStreams().map((s) => s.name))
    this.#unwatch = store.watchStreams(() => this.#streamsChanged())
    // A crash between a stream's deletion and the commit dropping its offsets leaves them behind.
    const orphaned = this.#offsets.streams().filter((s) => !store.hasStream(s))
    if (orphaned.length > 0) this.#dropStreamOffsets(orphaned)
  }

  heartbeat(request: OpRequest<'groupHeartbeat'>): OpResponse<'groupHeartbeat'> {
    validateGroupName(request.group)
    const existing = this.#groups.get(request.group)
    if (existing !== undefined) return existing.heartbeat(request)
    if (request.memberEpoch !== 0 || request.memberId !== '') {
      throw new BrokerError(
        'CAIRN_GROUP_MEMBER_UNKNOWN',
        `group "${request.group}" has no member "${request.memberId}"`,
        { details: { group: request.group, memberId: request.memberId } },
      )
    }
    const group = new Group(request.group, request.assignor ?? this.#defaults.assignor, this.#environment)
    const response = group.heartbeat(request)
    this.#groups.set(group.name, group)
    return response
  }

  async commitOffsets(request: OpRequest<'offsetCommit'>): Promise<void> {
    this.checkCommit(request.group, request.memberId, request.memberEpoch, request.offsets)
    await this.#write(() => this.writeOffsets(request.group, request.offsets))
  }

  /**
   * Throws unless these offsets may be committed now: by a member holding the partitions at its
   * current epoch, or without a member ("simple consumer") while the group has no members.
   */
  checkCommit(
    group: string,
    memberId: string | undefined,
    memberEpoch: number | undefined,
    offsets: readonly CommitOffset[],
  ): void {
    validateGroupName(group)
    const state = this.#groups.get(group)
    if (memberId !== undefined) {
      if (state === undefined) {
        throw new BrokerError('CAIRN_GROUP_MEMBER_UNKNOWN', `group "${group}" has no member "${memberId}"`, {
          details: { group, memberId },
        })
      }
      state.checkCommitter(memberId, memberEpoch)
    } else if (state !== undefined && state.size > 0) {
      throw new BrokerError(
        'CAIRN_GROUP_NOT_EMPTY',
        `group "${group}" has members: commit as one of them (memberId and memberEpoch)`,
        { details: { group } },
      )
    }
    for (const o of offsets) {
      const logEnd = this.#store.latestOffset(o.stream, o.partition)
      if (o.offset > logEnd) {
        throw new BrokerError(
          'CAIRN_OFFSET_OUT_OF_RANGE',
          `offset ${o.offset} is past the end of ${o.stream}/${o.partition} (${logEnd})`,
          { details: { stream: o.stream, partition: o.partition, offset: o.offset.toString() } },
        )
      }
      if (o.metadata !== undefined && o.metadata.length > maxMetadataLength) {
        throw new BrokerError('CAIRN_REQUEST_INVALID', `offset metadata is longer than ${maxMetadataLength} characters`)
      }
      if (memberId !== undefined && !state?.holds(memberId, o.stream, o.partition)) {
        throw new BrokerError(
          'CAIRN_PARTITION_NOT_ASSIGNED',
          `group "${group}": ${o.stream}/${o.partition} is not assigned to member ${memberId}`,
          { details: { group, memberId, stream: o.stream, partition: o.partition } },
        )
      }
    }
  }

  /** Plain SQL: run it inside LogStore.enqueueWrite work (after checkCommit). */
  writeOffsets(group: string, offsets: readonly CommitOffset[]): void {
    this.#offsets.write(group, offsets, this.#clock.now())
  }

  committedOffset(group: string, stream: string, partition: number): bigint | undefined {
    return this.#offsets.get(group, stream, partition)?.offset
  }

  fetchOffsets(request: OpRequest<'offsetFetch'>): OpResponse<'offsetFetch'> {
    validateGroupName(request.group)
    const streams = request.streams === undefined ? undefined : new Set(request.streams)
    return { offsets: this.#offsetInfos(request.group, streams) }
  }

  listGroups(): OpResponse<'listGroups'> {
    const names = new Set([...this.#groups.keys(), ...this.#offsets.groups()])
    return {
      groups: [...names].sort(compareText).map((group) => {
        const state = this.#groups.get(group)
        return { group, state: state?.state() ?? 'empty', members: state?.size ?? 0 }
      }),
    }
  }

  describeGroup(group: string): OpResponse<'describeGroup'> {
    validateGroupName(group)
    const state = this.#groups.get(group)
    if (state === undefined && !this.#offsets.hasGroup(group)) throw groupNotFound(group)
    return {
      group,
      state: state?.state() ?? 'empty',
      groupEpoch: state?.epoch ?? 0,
      assignor: state?.assignor ?? this.#defaults.assignor,
      members: state?.describeMembers() ?? [],
      offsets: this.#offsetInfos(group, undefined),
    }
  }

  /** An operator's tool: only while no member is active (static members away do not count). */
  async resetOffsets(request: OpRequest<'resetOffsets'>): Promise<OpResponse<'resetOffsets'>> {
    const { group, stream, to } = request
    validateGroupName(group)
    const state = this.#groups.get(group)
    if (state !== undefined && state.activeMembers > 0) {
      throw new BrokerError('CAIRN_GROUP_NOT_EMPTY', `group "${group}" has active members: stop them first`, {
        details: { group },
      })
    }
    if (('earliest' in to && !to.earliest) || ('latest' in to && !to.latest)) {
      throw new BrokerError('CAIRN_REQUEST_INVALID', 'reset to earliest or latest is written { earliest: true }')
    }
    const count = this.#store.partitionCount(stream)
    const partitions = request.partitions ?? Array.from({ length: count }, (_, p) => p)
    const results: ResetResult[] = []
    for (const partition of new Set(partitions)) {
      const start = this.#store.earliestOffset(stream, partition)
      const end = this.#store.latestOffset(stream, partition)
      const previous = this.committedOffset(group, stream, partition)
      let offset: bigint
      if ('earliest' in to) {
        offset = start
      } else if ('latest' in to) {
        offset = end
      } else if ('timestamp' in to) {
        offset = this.#store.offsetForTimestamp(stream, partition, to.timestamp)?.offset ?? end
      } else if ('shift' in to) {
        const moved = (previous ?? start) + to.shift
        offset = moved < start ? start : moved > end ? end : moved
      } else {
        offset = to.offset
        if (offset < start || offset > end) {
          throw new BrokerError(
            'CAIRN_OFFSET_OUT_OF_RANGE',
            `offset ${offset} is outside ${stream}/${partition} [${start}, ${end}]`,
            { details: { stream, partition, offset: offset.toString() } },
          )
        }
      }
      results.push({ stream, partition, ...(previous === undefined ? {} : { previous }), offset })
    }
    if (request.dryRun !== true) {
      await this.#write(() => this.writeOffsets(group, results))
      this.#logger.info({ group, stream, to: describeTarget(to), partitions: results.length }, 'group offsets reset')
    }
    return { offsets: results }
  }

  async deleteGroup(group: string): Promise<void> {
    validateGroupName(group)
    const state = this.#groups.get(group)
    if (state !== undefined && state.size > 0) {
      throw new BrokerError('CAIRN_GROUP_NOT_EMPTY', `group "${group}" has members`, { details: { group } })
    }
    if (!this.#offsets.hasGroup(group)) throw groupNotFound(group)
    await this.#write(() => this.#offsets.deleteGroup(group))
    this.#logger.info({ group }, 'group deleted')
  }

  /** Stops timers and stream watching; members are forgotten (they rejoin after a restart). */
  close(): void {
    this.#unwatch()
    for (const group of this.#groups.values()) group.close()
    this.#groups.clear()
  }

  #offsetInfos(group: string, streams: ReadonlySet<string> | undefined): OffsetInfo[] {
    const infos: OffsetInfo[] = []
    for (const row of this.#offsets.list(group)) {
      if (streams !== undefined && !streams.has(row.stream)) continue
      // Offsets of a stream deleted moments ago go with the next commit.
      if (!this.#store.hasStream(row.stream) || row.partition >= this.#store.partitionCount(row.stream)) continue
      infos.push(this.#offsetInfo(row))
    }
    return infos
  }

  #offsetInfo(row: StoredOffset): OffsetInfo {
    const logEndOffset = this.#store.latestOffset(row.stream, row.partition)
    return {
      stream: row.stream,
      partition: row.partition,
      offset: row.offset,
      metadata: row.metadata,
      commitMs: row.commitMs,
      logEndOffset,
      lag: logEndOffset > row.offset ? Number(logEndOffset - row.offset) : 0,
    }
  }

  #write(work: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#store.enqueueWrite(work, 'fsync', (error) => (error === null ? resolve() : reject(error)))
    })
  }

  #streamsChanged(): void {
    try {
      const deleted = [...this.#knownStreams].filter((s) => !this.#store.hasStream(s))
      this.#knownStreams = new Set(this.#store.listStreams().map((s) => s.name))
      if (deleted.length > 0) this.#dropStreamOffsets(deleted)
      for (const group of this.#groups.values()) group.streamsChanged()
    } catch (err) {
      // Called from inside the store's stream operations, which must not fail because of us.
      this.#logger.error({ err }, 'reacting to a stream change failed')
    }
  }

  #dropStreamOffsets(streams: readonly string[]): void {
    this.#store.enqueueWrite(
      () => {
        for (const s of streams) this.#offsets.deleteStream(s)
      },
      'fsync',
      (error) => {
        if (error !== null) this.#logger.error({ err: error, streams }, 'dropping offsets of deleted streams failed')
        else this.#logger.info({ streams }, 'offsets of deleted streams dropped')
      },
    )
  }
}

function validateGroupName(group: string): void {
  if (typeof group !== 'string' || group.length === 0 || group.length > maxGroupNameLength) {
    throw new BrokerError(
      'CAIRN_GROUP_INVALID',
      `a group name has 1 to ${maxGroupNameLength} characters (got ${JSON.stringify(group)})`,
      { details: { group } },
    )
  }
}

function groupNotFound(group: string): BrokerError {
  return new BrokerError('CAIRN_GROUP_NOT_FOUND', `unknown group "${group}"`, { details: { group } })
}

function describeTarget(to: OpRequest<'resetOffsets'>['to']): string {
  const entry: [string, unknown] | undefined = Object.entries(to)[0]
  if (entry === undefined) return '?'
  return typeof entry[1] === 'boolean' ? entry[0] : `${entry[0]} ${String(entry[1])}`
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
