import { pino, type Logger } from 'pino'
import { BrokerError } from '../errors.ts'
import type { LogStore } from '../log/log-store.ts'
import { systemClock, type Clock, type TimerHandle } from '../util/clock.ts'
import type { CheckpointGroupSource } from './checkpoints.ts'
import type { KafkaSink } from './kafka-sink.ts'
import { LinkBackoff, type BackoffConfig } from './link-backoff.ts'
import { MirrorLink, type LinkStatus, type MirroredStream } from './mirror-link.ts'
import { MirrorState, type GapTotal, type PartitionState } from './mirror-state.ts'
import { createOffsetMapTable, OffsetMapWriter, type TranslatedPosition } from './offset-map.ts'
import type { ResolveAction, UnmirroredPolicy } from './partition-mirror.ts'
import { createReplicationPolicy, type NamingConfig } from './replication-policy.ts'

// The upstream mirror: one MirrorLink per configured Kafka cluster, each mirroring the streams its
// rules select (mirror.md). Owns the mirror's tables and the retention holds that keep
// unmirrored records (policy block / hold-then-evict).

/** Which streams a link mirrors, and how: the first rule whose `match` fits a stream name applies. */
export interface MirrorStreamRule {
  /** A stream name, or a pattern with `*` (any run of characters). */
  match: string
  policy: UnmirroredPolicy
  /** Higher goes first when several streams have something to send. */
  priority: number
}

export interface MirrorLinkConfig {
  name: string
  gatewayAlias: string
  naming: NamingConfig
  /** Empty: every stream, policy block, priority 0. */
  streams: MirrorStreamRule[]
  exclude: string[]
  timestampMode: 'origin' | 'send'
  batchMaxRecords: number
  /** Largest encoded record batch (keys, values, headers, framing): keep it under the cluster's message.max.bytes. */
  batchMaxBytes: number
  /**
   * How old a batch's intent must be before upstream is read back to settle it (mirror.md B5.1): a
   * request still on its way when the process died or the send timed out must have landed first.
   */
  recoveryGraceMs: number
  maxBytesPerSec: number
  backoff: Partial<BackoffConfig>
  /** MM2 group checkpoints every this many ms and at link-up (checkpoints.ts); 0 = off. Default 60000. */
  checkpointIntervalMs?: number
  /** MM2 heartbeats every this many ms (heartbeats.ts); 0 = off. Default 60000. */
  heartbeatIntervalMs?: number
  /** Local groups whose positions are checkpointed: names or patterns with `*`. Default ["*"]. */
  checkpointGroups?: string[]
}

export const defaultLinkSettings = {
  naming: { policy: 'prefix' } as NamingConfig,
  streams: [] as MirrorStreamRule[],
  exclude: [] as string[],
  timestampMode: 'origin' as const,
  // Measured (BENCHMARKS.md, mirror drain): one fsync'd commit per batch, so bigger batches drain faster.
  // The byte limit is the encoded record batch (keys, values, headers, framing), which Kafka's
  // message.max.bytes bounds (default 1048588): 1 000 000 stays under it.
  batchMaxRecords: 4000,
  batchMaxBytes: 1_000_000,
  recoveryGraceMs: 30_000,
  maxBytesPerSec: 0,
  backoff: {},
  checkpointIntervalMs: 60_000,
  heartbeatIntervalMs: 60_000,
  checkpointGroups: ['*'] as string[],
}

export interface MirrorOptions {
  store: LogStore
  links: MirrorLinkConfig[]
  /** The Kafka client of a link (KafkajsSink in the gateway; a fake in tests). */
  sinkFor: (link: MirrorLinkConfig) => KafkaSink
  /** The local consumer groups (the GroupCoordinator), for checkpoint export; absent: no checkpoints. */
  groups?: CheckpointGroupSource
  clock?: Clock
  logger?: Logger
}

export interface TranslateRequest {
  link?: string
  stream: string
  partition: number
  /** `record`: where this record is upstream. `position`: where a consumer at this offset resumes upstream. */
  kind: 'record' | 'position'
  /** local → upstream, or upstream → local. */
  direction: 'to-upstream' | 'to-local'
  offset: bigint
}

export interface ResolveRequest {
  link?: string
  stream: string
  partition: number
  action: ResolveAction
}

export interface ResolveResult {
  link: string
  stream: string
  partition: number
  action: ResolveAction
  previousState: PartitionState
  state: PartitionState
  nextLocal: bigint
  mapEpoch: number
}

export interface TranslateResult {
  link: string
  stream: string
  partition: number
  upstreamTopic: string
  upstreamPartition: number
  kind: 'record' | 'position'
  direction: 'to-upstream' | 'to-local'
  from: bigint
  to: bigint
  /** Positions only: the answer is the nearest frontier, not an exact image. */
  clamped: boolean
}

const holdRefreshMs = 60_000

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')
  return new RegExp(`^${escaped}$`)
}

function interval(ms: number | undefined, fallback: number): number {
  const value = ms ?? fallback
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`interval ${value} ms is not an integer >= 0`)
  return value
}

export class Mirror {
  readonly #store: LogStore
  readonly #clock: Clock
  readonly #logger: Logger
  readonly #links: MirrorLink[] = []
  readonly #state: MirrorState
  #holdTimer: TimerHandle | undefined
  readonly #unwatch: Array<() => void> = []

  constructor(options: MirrorOptions) {
    this.#store = options.store
    this.#clock = options.clock ?? systemClock
    this.#logger = options.logger ?? pino({ level: 'silent' })
    const db = options.store.database
    const state = new MirrorState(db)
    this.#state = state
    createOffsetMapTable(db)
    const mapWriter = new OffsetMapWriter(db)
    for (const config of options.links) {
      const path = `mirror.links.${config.name}`
      const policy = createReplicationPolicy(config.gatewayAlias, config.naming, path)
      const rules = (
        config.streams.length > 0 ? config.streams : [{ match: '*', policy: { kind: 'block' }, priority: 0 }]
      ).map((r) => ({ ...r, pattern: globToRegExp(r.match) }))
      const exclude = config.exclude.map(globToRegExp)
      // The selection is asked for on every turn of the link loop: computed once per change of the streams.
      let selected: MirroredStream[] | undefined
      this.#unwatch.push(this.#store.watchStreams(() => (selected = undefined)))
      const select = (): MirroredStream[] =>
        this.#store
          .listStreams()
          .map((s) => s.name)
          .filter((name) => !exclude.some((x) => x.test(name)))
          .flatMap((name) => {
            const rule = rules.find((r) => r.pattern.test(name))
            return rule === undefined
              ? []
              : [
                  {
                    stream: name,
                    upstreamTopic: policy.upstreamTopic(name),
                    priority: rule.priority,
                    policy: rule.policy as UnmirroredPolicy,
                  },
                ]
          })
      const streams = (): MirroredStream[] => (selected ??= select())
      this.#links.push(
        new MirrorLink({
          name: config.name,
          gatewayAlias: config.gatewayAlias,
          store: this.#store,
          state,
          sink: options.sinkFor(config),
          mapWriter,
          backoff: new LinkBackoff({ clock: this.#clock, config: config.backoff, path: `${path}.backoff` }),
          clock: this.#clock,
          logger: this.#logger.child({ link: config.name }),
          streams,
          timestampMode: config.timestampMode,
          batchMaxRecords: config.batchMaxRecords,
          batchMaxBytes: config.batchMaxBytes,
          recoveryGraceMs: config.recoveryGraceMs,
          maxBytesPerSec: config.maxBytesPerSec,
          ...(options.groups === undefined ? {} : { groups: options.groups }),
          checkpointGroups: config.checkpointGroups ?? defaultLinkSettings.checkpointGroups,
          checkpointIntervalMs: interval(config.checkpointIntervalMs, defaultLinkSettings.checkpointIntervalMs),
          heartbeatIntervalMs: interval(config.heartbeatIntervalMs, defaultLinkSettings.heartbeatIntervalMs),
        }),
      )
    }
  }

  /** Sets the retention holds of every mirrored partition. Call right after the store opens. */
  prepare(): void {
    for (const link of this.#links) link.prepare()
  }

  start(): void {
    for (const link of this.#links) link.start()
    const refresh = (): void => {
      for (const link of this.#links) link.refreshHolds()
      this.#holdTimer = this.#clock.setTimeout(refresh, holdRefreshMs)
    }
    this.#holdTimer = this.#clock.setTimeout(refresh, holdRefreshMs)
  }

  /** Changes a link's catch-up rate limit (0 = none) while it runs (configuration reload). */
  setMaxBytesPerSec(link: string, maxBytesPerSec: number): void {
    const found = this.#links.find((l) => l.name === link)
    if (found === undefined) throw new RangeError(`no mirror link ${link}`)
    found.setMaxBytesPerSec(maxBytesPerSec)
  }

  status(): LinkStatus[] {
    return this.#links.map((l) => l.status())
  }

  /** Records resolved without an upstream copy, per link, partition and reason (retention-evict, poison-skip, upstream-reset-loss). */
  gapRecordsByReason(): GapTotal[] {
    return this.#state.gapRecordsByReason()
  }

  /** Exact offset translation, for a record or for a consumer position (see offset-map.ts for the difference). */
  translate(request: TranslateRequest): TranslateResult {
    const link = this.#link(request.link)
    const pm = link.partitionMirror(request.stream, request.partition)
    const { map } = pm
    const c = pm.cursor
    let to: TranslatedPosition
    if (request.kind === 'record') {
      const position =
        request.direction === 'to-upstream' ? map.requireUpstream(request.offset) : map.requireLocal(request.offset)
      to = { position, clamped: false }
    } else {
      to =
        request.direction === 'to-upstream'
          ? map.positionToUpstream(request.offset, { nextLocal: c.nextLocal, lastUpstream: c.lastUpstream })
          : map.positionToLocal(request.offset)
    }
    return {
      link: link.name,
      stream: request.stream,
      partition: request.partition,
      upstreamTopic: c.upstreamTopic,
      upstreamPartition: c.upstreamPartition,
      kind: request.kind,
      direction: request.direction,
      from: request.offset,
      to: to.position,
      clamped: to.clamped,
    }
  }

  /** An operator's answer to a stopped partition (see actionsFor in partition-mirror.ts); the partition's new cursor. */
  async resolve(request: ResolveRequest): Promise<ResolveResult> {
    const link = this.#link(request.link)
    const before = link.partitionMirror(request.stream, request.partition).cursor.state
    const after = await link.resolve(request.stream, request.partition, request.action)
    return {
      link: link.name,
      stream: request.stream,
      partition: request.partition,
      action: request.action,
      previousState: before,
      state: after.state,
      nextLocal: after.nextLocal,
      mapEpoch: after.mapEpoch,
    }
  }

  #link(name: string | undefined): MirrorLink {
    const link = name === undefined ? this.#links[0] : this.#links.find((l) => l.name === name)
    if (link === undefined)
      throw new BrokerError('CAIRN_REQUEST_INVALID', `no mirror link ${name ?? '(none configured)'}`)
    return link
  }

  async close(): Promise<void> {
    if (this.#holdTimer !== undefined) this.#clock.clearTimeout(this.#holdTimer)
    for (const unwatch of this.#unwatch) unwatch()
    await Promise.all(this.#links.map((l) => l.close()))
  }
}
