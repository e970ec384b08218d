import type { Logger } from 'pino'
import { BrokerError, hasErrorCode, isBrokerError } from '../errors.ts'
import type { LogStore } from '../log/log-store.ts'
import type { Clock, TimerHandle } from '../util/clock.ts'
import { CheckpointExporter, type CheckpointGroupSource } from './checkpoints.ts'
import { sendHeartbeat } from './heartbeats.ts'
import type { KafkaSink } from './kafka-sink.ts'
import { linkErrorClass, type LinkBackoff } from './link-backoff.ts'
import type { MirrorState, PartitionCursor } from './mirror-state.ts'
import { loadOffsetMap, type OffsetMapWriter } from './offset-map.ts'
import { PartitionMirror, type ResolveAction, type UnmirroredPolicy } from './partition-mirror.ts'

// One upstream link (mirror.md B8): connecting → streaming ⇄ backoff, until closed. While
// streaming, it works through its partitions one batch at a time: the highest-priority stream with
// something to send goes first (a backlog never holds up live data of a more important stream),
// partitions of equal priority take turns. With nothing to send it waits for the next commit.
// Between batches it also emits, when due, MM2 group checkpoints (checkpoints.ts: at link-up and
// every checkpointIntervalMs) and heartbeats (heartbeats.ts: every heartbeatIntervalMs); each costs
// one Produce request, so data waits at most that long for them.

export type LinkState = 'connecting' | 'streaming' | 'backoff' | 'closed'

type SideChannel = 'checkpoint' | 'heartbeat'

export interface MirroredStream {
  stream: string
  upstreamTopic: string
  priority: number
  policy: UnmirroredPolicy
}

export interface MirrorLinkOptions {
  name: string
  gatewayAlias: string
  store: LogStore
  state: MirrorState
  sink: KafkaSink
  mapWriter: OffsetMapWriter
  backoff: LinkBackoff
  clock: Clock
  logger: Logger
  streams: () => MirroredStream[]
  timestampMode: 'origin' | 'send'
  batchMaxRecords: number
  batchMaxBytes: number
  recoveryGraceMs: number
  /** Catch-up rate limit; 0 = none. */
  maxBytesPerSec: number
  /** Local consumer groups whose positions are exported as MM2 checkpoints; absent: no export. */
  groups?: CheckpointGroupSource
  /** Group names or patterns with `*` to export. */
  checkpointGroups: readonly string[]
  /** 0 = no checkpoints. */
  checkpointIntervalMs: number
  /** 0 = no heartbeats. */
  heartbeatIntervalMs: number
}

export interface LinkStatus {
  link: string
  state: LinkState
  lastError: { code: string; message: string; atMs: number } | null
  redeliveredRecords: number
  /** When the group checkpoints upstream were last brought up to date (absent: not yet, or off). */
  lastCheckpointMs?: number
  /** When the last heartbeat was sent (absent: not yet, or off). */
  lastHeartbeatMs?: number
  partitions: Array<{
    stream: string
    partition: number
    upstreamTopic: string
    upstreamPartition: number
    state: PartitionCursor['state']
    nextLocal: bigint
    lastUpstream: bigint
    lagRecords: bigint
    oldestUnmirroredMs: number | null
    confirmedRecords: number
    gapRecords: number
  }>
}

export class MirrorLink {
  readonly #o: MirrorLinkOptions
  readonly #partitions = new Map<string, PartitionMirror>()
  #priorities = new Map<PartitionMirror, number>()
  #state: LinkState = 'connecting'
  #lastError: LinkStatus['lastError'] = null
  #redelivered = 0
  #closed = false
  #wake: (() => void) | undefined
  #sleeper: (() => void) | undefined
  #unwatch: Array<() => void> = []
  readonly #watched = new Set<string>()
  #turn = 0
  /** Set when streams were created or deleted: cursors are checked against the streams' incarnations. */
  #streamsChanged = true
  #running: Promise<void> | undefined
  readonly #checkpoints: CheckpointExporter | undefined
  /** Side channels whose time has come; their timers (monotonic) run only while the link streams. */
  readonly #due = new Set<SideChannel>()
  readonly #sideTimers = new Map<SideChannel, TimerHandle>()
  #lastCheckpointMs: number | undefined
  #lastHeartbeatMs: number | undefined
  /** In the pause after a batch that the rate limit imposes. */
  #throttling = false

  constructor(options: MirrorLinkOptions) {
    this.#o = options
    const { groups } = options
    this.#checkpoints =
      groups === undefined || options.checkpointIntervalMs <= 0
        ? undefined
        : new CheckpointExporter({
            link: options.name,
            gatewayAlias: options.gatewayAlias,
            store: options.store,
            sink: options.sink,
            groups,
            groupPatterns: options.checkpointGroups,
            clock: options.clock,
            logger: options.logger,
            batchMaxRecords: options.batchMaxRecords,
            batchMaxBytes: options.batchMaxBytes,
          })
  }

  get name(): string {
    return this.#o.name
  }

  get state(): LinkState {
    return this.#state
  }

  /**
   * Loads every mirrored partition's cursor (creating it at the log start the first time) and sets
   * its retention hold. Call before the store's maintenance can delete anything: right after open.
   */
  prepare(): void {
    for (const s of this.#o.streams()) {
      if (!this.#o.store.hasStream(s.stream)) continue
      const count = this.#o.store.partitionCount(s.stream)
      for (let p = 0; p < count; p++) this.#partition(s, p).updateHold()
    }
  }

  #partition(s: MirroredStream, partition: number): PartitionMirror {
    const key = `${s.stream}\u0000${partition}`
    let pm = this.#partitions.get(key)
    if (pm !== undefined) return pm
    const { name, state, store } = this.#o
    const cursor: PartitionCursor = state.cursor(name, s.stream, partition) ?? {
      link: name,
      stream: s.stream,
      partition,
      upstreamTopic: s.upstreamTopic,
      upstreamPartition: partition,
      state: 'active',
      nextLocal: store.earliestOffset(s.stream, partition),
      lastUpstream: -1n,
      mapEpoch: 0,
      confirmedRecords: 0,
      confirmedBytes: 0,
      lastConfirmedMs: null,
      pendingGap: 0,
      streamCreatedMs: store.describeStream(s.stream).createdMs,
    }
    pm = new PartitionMirror(
      {
        store,
        state,
        sink: this.#o.sink,
        map: loadOffsetMap(store.database, name, s.stream, partition, cursor.mapEpoch),
        mapWriter: this.#o.mapWriter,
        clock: this.#o.clock,
        logger: this.#o.logger.child({ link: name, stream: s.stream, partition }),
        gatewayAlias: this.#o.gatewayAlias,
        timestampMode: this.#o.timestampMode,
        batchMaxRecords: this.#o.batchMaxRecords,
        batchMaxBytes: this.#o.batchMaxBytes,
        recoveryGraceMs: this.#o.recoveryGraceMs,
        policy: s.policy,
        onRedelivered: (n) => (this.#redelivered += n),
      },
      cursor,
    )
    this.#partitions.set(key, pm)
    this.#priorities.set(pm, s.priority)
    return pm
  }

  /** Starts the link loop (returns at once; close() stops it). */
  start(): void {
    this.prepare()
    this.#watchNewStreams()
    this.#unwatch.push(
      this.#o.store.watchStreams(() => {
        this.#streamsChanged = true
        this.#wake?.()
      }),
    )
    this.#running = this.#run()
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      try {
        this.#state = 'connecting'
        await this.#o.sink.connect()
        this.#state = 'streaming'
        this.#o.backoff.connected()
        await this.#stream()
      } catch (error) {
        if (this.#closed) break
        this.#noteError(error)
        this.#state = 'backoff'
        const delayMs = this.#o.backoff.nextDelayMs(linkErrorClass(error))
        this.#o.logger.warn({ err: error, delayMs }, 'mirror link failed; backing off')
        await this.#sleep(delayMs)
      }
    }
    this.#state = 'closed'
  }

  async #stream(): Promise<void> {
    // Checkpoints at once on link-up (positions may have moved while it was down), heartbeats after an interval (as MM2).
    if (this.#checkpoints !== undefined) this.#due.add('checkpoint')
    this.#arm('heartbeat', this.#o.heartbeatIntervalMs)
    try {
      await this.#streamLoop()
    } finally {
      for (const timer of this.#sideTimers.values()) this.#o.clock.clearTimeout(timer)
      this.#sideTimers.clear()
      this.#due.clear()
    }
  }

  async #streamLoop(): Promise<void> {
    while (!this.#closed) {
      if (this.#streamsChanged) await this.#checkIncarnations()
      await this.#sideChannels()
      const pm = this.#nextWithWork()
      if (pm === undefined) {
        await this.#sleep(this.#idleWaitMs())
        continue
      }
      const before = pm.cursor.confirmedBytes
      const result = await pm.step()
      if (result === 'idle' || result === 'blocked') continue
      await this.#throttle(pm.cursor.confirmedBytes - before)
    }
  }

  /** Marks `channel` due in `ms` (0 = never) and wakes an idle link then. */
  #arm(channel: SideChannel, ms: number): void {
    if (ms <= 0 || this.#closed) return
    this.#sideTimers.set(
      channel,
      this.#o.clock.setTimeout(() => {
        this.#sideTimers.delete(channel)
        this.#due.add(channel)
        this.#wake?.()
      }, ms),
    )
  }

  /**
   * Emits what is due. A failure is a link failure (the link backs off; checkpoints go out again at
   * the next link-up), except a refusal (CAIRN_UPSTREAM_REJECTED, e.g. no write access to the
   * checkpoints topic): that is logged and retried at the next interval, and data goes on.
   */
  async #sideChannels(): Promise<void> {
    if (this.#due.delete('checkpoint')) {
      const exporter = this.#checkpoints as CheckpointExporter
      const partitions = [...this.#partitions.values()].filter((pm) => this.#o.store.hasStream(pm.cursor.stream))
      // Positions translate through committed map runs only: confirm what upstream already acknowledged.
      for (const pm of partitions) await pm.settle()
      await this.#refusable('checkpoints', async () => {
        await exporter.export(partitions)
        this.#lastCheckpointMs = this.#o.clock.now()
      })
      this.#arm('checkpoint', this.#o.checkpointIntervalMs)
    }
    if (this.#due.delete('heartbeat')) {
      const { sink, gatewayAlias, name, clock } = this.#o
      await this.#refusable('heartbeat', async () => {
        this.#lastHeartbeatMs = await sendHeartbeat(sink, gatewayAlias, name, clock.now())
      })
      this.#arm('heartbeat', this.#o.heartbeatIntervalMs)
    }
  }

  async #refusable(what: string, work: () => Promise<void>): Promise<void> {
    try {
      await work()
    } catch (error) {
      if (!hasErrorCode(error, 'CAIRN_UPSTREAM_REJECTED')) throw error
      this.#noteError(error)
      this.#o.logger.error({ err: error }, `upstream refused the ${what}; trying again at the next interval`)
    }
  }

  /** The partition to serve next: highest priority with unresolved records; turns among equals. */
  #nextWithWork(): PartitionMirror | undefined {
    for (const s of this.#o.streams()) {
      if (!this.#o.store.hasStream(s.stream)) continue
      const count = this.#o.store.partitionCount(s.stream)
      for (let p = 0; p < count; p++) this.#partition(s, p)
    }
    const now = this.#o.clock.now()
    const candidates = [...this.#partitions.values()].filter(
      (pm) =>
        pm.cursor.state === 'active' &&
        this.#o.store.hasStream(pm.cursor.stream) &&
        pm.readyAtMs() <= now &&
        (pm.lagRecords > 0n || pm.hasIntent()),
    )
    if (candidates.length === 0) return undefined
    const top = Math.max(...candidates.map((pm) => this.#priorities.get(pm) ?? 0))
    const best = candidates.filter((pm) => (this.#priorities.get(pm) ?? 0) === top)
    this.#turn = (this.#turn + 1) % best.length
    return best[this.#turn]
  }

  /**
   * A cursor of a stream that was deleted and created again points into a log that no longer
   * exists: mirroring the new one from there would skip records silently, and its offsets would
   * collide upstream with the old incarnation's provenance. Such a partition is paused, loudly.
   */
  async #checkIncarnations(): Promise<void> {
    this.#streamsChanged = false
    this.#watchNewStreams()
    const created = new Map<string, number>()
    for (const pm of this.#partitions.values()) {
      const { stream, partition, state, streamCreatedMs } = pm.cursor
      if (state !== 'active' || !this.#o.store.hasStream(stream)) continue
      let createdMs = created.get(stream)
      if (createdMs === undefined) created.set(stream, (createdMs = this.#o.store.describeStream(stream).createdMs))
      if (createdMs === streamCreatedMs) continue
      this.#o.logger.error(
        { stream, partition, cursorStreamCreatedMs: streamCreatedMs, streamCreatedMs: createdMs },
        'stream was deleted and created again since it was mirrored; its mirror is paused',
      )
      await pm.setState('paused-stream-recreated')
    }
  }

  /** New commits wake the link: for every mirrored stream, including streams created since the start. */
  #watchNewStreams(): void {
    for (const s of this.#o.streams()) {
      if (this.#watched.has(s.stream)) continue
      this.#watched.add(s.stream)
      this.#unwatch.push(this.#o.store.watchAppends(s.stream, () => this.#wake?.()))
    }
  }

  /** Until the next commit, or the moment the first waiting intent may be settled (at most 1 s). */
  #idleWaitMs(): number {
    const now = this.#o.clock.now()
    let waitMs = 1000
    for (const pm of this.#partitions.values()) {
      const readyAt = pm.readyAtMs()
      if (readyAt > now) waitMs = Math.min(waitMs, readyAt - now)
    }
    return waitMs
  }

  /**
   * Changes the catch-up rate limit (0 = none): a pause the old limit imposed ends now, and the next batch pauses
   * by the new one, so that lifting a limit that held the link for minutes takes effect at once.
   */
  setMaxBytesPerSec(maxBytesPerSec: number): void {
    if (!Number.isSafeInteger(maxBytesPerSec) || maxBytesPerSec < 0) {
      throw new RangeError(`maxBytesPerSec ${maxBytesPerSec} is not an integer >= 0`)
    }
    this.#o.maxBytesPerSec = maxBytesPerSec
    if (this.#throttling) this.#sleeper?.()
  }

  async #throttle(bytes: number): Promise<void> {
    const { maxBytesPerSec } = this.#o
    if (maxBytesPerSec <= 0 || bytes <= 0) return
    this.#throttling = true
    try {
      await this.#sleep(Math.ceil((bytes / maxBytesPerSec) * 1000), false)
    } finally {
      this.#throttling = false
    }
  }

  /** Waits `ms`, or less when close() is called or (while streaming) a commit or stream change wakes the link. */
  #sleep(ms: number, wakeOnData = true): Promise<void> {
    if (this.#closed) return Promise.resolve()
    return new Promise((resolve) => {
      const holder: { timer?: TimerHandle } = {}
      const done = (): void => {
        if (holder.timer !== undefined) this.#o.clock.clearTimeout(holder.timer)
        this.#sleeper = undefined
        this.#wake = undefined
        resolve()
      }
      holder.timer = this.#o.clock.setTimeout(done, ms)
      this.#sleeper = done
      // A backoff is not cut short by new data, nor is a rate-limit pause (commits would end it at once under
      // live traffic): only close() and a changed rate limit end those early.
      if (this.#state === 'streaming' && wakeOnData) this.#wake = done
    })
  }

  #noteError(error: unknown): void {
    const code = isBrokerError(error) ? error.code : 'CAIRN_INTERNAL'
    const message = error instanceof Error ? error.message : String(error)
    this.#lastError = { code, message, atMs: this.#o.clock.now() }
  }

  /** Refreshes time-based retention holds (hold-then-evict ages out as time passes). */
  refreshHolds(): void {
    for (const pm of this.#partitions.values()) if (this.#o.store.hasStream(pm.cursor.stream)) pm.updateHold()
  }

  status(): LinkStatus {
    const { store, state, name } = this.#o
    return {
      link: name,
      state: this.#state,
      lastError: this.#lastError,
      redeliveredRecords: this.#redelivered,
      ...(this.#lastCheckpointMs === undefined ? {} : { lastCheckpointMs: this.#lastCheckpointMs }),
      ...(this.#lastHeartbeatMs === undefined ? {} : { lastHeartbeatMs: this.#lastHeartbeatMs }),
      partitions: [...this.#partitions.values()]
        .filter((pm) => store.hasStream(pm.cursor.stream))
        .map((pm) => {
          const c = pm.cursor
          const oldest = pm.lagRecords > 0n ? oldestFrom(store, c.stream, c.partition, c.nextLocal) : null
          return {
            stream: c.stream,
            partition: c.partition,
            upstreamTopic: c.upstreamTopic,
            upstreamPartition: c.upstreamPartition,
            state: c.state,
            nextLocal: c.nextLocal,
            lastUpstream: c.lastUpstream,
            lagRecords: pm.lagRecords,
            oldestUnmirroredMs: oldest,
            confirmedRecords: c.confirmedRecords,
            gapRecords: state.gapRecords(name, c.stream, c.partition),
          }
        }),
    }
  }

  /** Ends a stopped partition's state by an operator's action (PartitionMirror.resolve), then reloads it. */
  async resolve(stream: string, partition: number, action: ResolveAction): Promise<PartitionCursor> {
    const key = `${stream}\u0000${partition}`
    const pm = this.partitionMirror(stream, partition)
    await pm.resolve(action)
    // A new map epoch needs its own (empty) offset map: the next loop turn loads the partition from its row.
    this.#partitions.delete(key)
    this.#priorities.delete(pm)
    const rule = this.#o.streams().find((s) => s.stream === stream)
    const reloaded = rule === undefined ? pm : this.#partition(rule, partition)
    reloaded.updateHold()
    this.#wake?.()
    return reloaded.cursor
  }

  /** The partition mirror of a local partition, for offset translation. */
  partitionMirror(stream: string, partition: number): PartitionMirror {
    const pm = this.#partitions.get(`${stream}\u0000${partition}`)
    if (pm === undefined) {
      throw new BrokerError(
        'CAIRN_OFFSET_NOT_MIRRORED',
        `${stream}/${partition} is not mirrored by link ${this.#o.name}`,
      )
    }
    return pm
  }

  async close(): Promise<void> {
    this.#closed = true
    for (const unwatch of this.#unwatch) unwatch()
    this.#sleeper?.()
    await this.#o.sink.close()
    await this.#running
    // Acknowledged batches wait for the next batch's commit to confirm them; without this a restart
    // would find their intents open and read upstream back (after the recovery grace) to settle them.
    for (const pm of this.#partitions.values()) {
      if (this.#o.store.hasStream(pm.cursor.stream)) await pm.settle()
    }
  }
}

/** Timestamp of the oldest local record at or after the cursor (retention may have removed the cursor's own). */
function oldestFrom(store: LogStore, stream: string, partition: number, cursor: bigint): number | null {
  const start = store.earliestOffset(stream, partition)
  return store.read(stream, partition, cursor > start ? cursor : start, { maxRecords: 1 }).records[0]?.timestamp ?? null
}
