import type { Logger } from 'pino'
import { BrokerError, hasErrorCode } from '../errors.ts'
import type { LogStore } from '../log/log-store.ts'
import type { RecordRow } from '../log/partition-log.ts'
import type { Durability } from '../log/types.ts'
import type { Clock } from '../util/clock.ts'
import type { KafkaSink } from './kafka-sink.ts'
import { MirrorBatchEncoder, type MirrorBatch } from './mirror-batch.ts'
import type { Gap, Intent, MirrorState, PartitionCursor, PartitionState } from './mirror-state.ts'
import type { OffsetMap, OffsetMapPlan, OffsetMapWriter, OffsetRun } from './offset-map.ts'
import { parseProvenance } from './replication-policy.ts'

// One local partition's mirror (mirror.md B4, B5): select a batch at the cursor, record the intent
// (durably: the barrier), send it, confirm it (offset map + cursor + intent removal in one SQLite
// transaction). A batch whose outcome is unknown (timeout, cut connection, crash) keeps its intent,
// and nothing more is sent for this partition until a read-back of the upstream partition has
// shown which of its records arrived: only the others are sent again.

export type UnmirroredPolicy = { kind: 'block' } | { kind: 'evict' } | { kind: 'hold-then-evict'; maxAgeMs: number }

export interface PartitionMirrorOptions {
  store: LogStore
  state: MirrorState
  sink: KafkaSink
  map: OffsetMap
  mapWriter: OffsetMapWriter
  clock: Clock
  logger: Logger
  gatewayAlias: string
  timestampMode: 'origin' | 'send'
  batchMaxRecords: number
  /** Largest encoded record batch: what Kafka's message.max.bytes limits. */
  batchMaxBytes: number
  /** An intent is settled by reading upstream back only once it is this old (mirror.md B5.1). */
  recoveryGraceMs: number
  policy: UnmirroredPolicy
  /** Counts records re-sent without proof they were absent upstream (the at-least-once fallback). */
  onRedelivered: (records: number) => void
}

export type StepResult = 'sent' | 'idle' | 'blocked'

/** What an operator may do about a partition the mirror stopped (mirror.md B5.3). */
export const resolveActions = ['retry', 'skip', 'remirror', 'continue', 'rebase'] as const
export type ResolveAction = (typeof resolveActions)[number]

/** The actions that end each stopped state. */
export const actionsFor: Readonly<Record<Exclude<PartitionState, 'active'>, readonly ResolveAction[]>> = {
  // retry: after the cause upstream is fixed (topic created, max.message.bytes raised); skip: drop the refused record.
  'blocked-poison': ['retry', 'skip'],
  // remirror: everything still held locally goes up again; continue: only what was not mirrored yet.
  'paused-upstream-reset': ['remirror', 'continue'],
  'paused-stream-recreated': ['remirror'],
  // rebase: a new map epoch; the upstream records that did not fit stay there, ignored from now on.
  diverged: ['rebase'],
}

interface Confirmation {
  cursor: PartitionCursor
  work: () => void
  /** The offset-map runs to adopt in memory once committed; undefined when nothing is confirmed. */
  planned: OffsetMapPlan | undefined
}

/** Retention holds this mirror sets are named so, per link. */
export function holdName(link: string): string {
  return `mirror:${link}`
}

/** A batch upstream acknowledged whose confirmation is not committed yet: it rides on the next commit. */
interface Acknowledged {
  intent: Intent
  runs: OffsetRun[]
  records: number
  bytes: number
}

/** Rows read and encoded ahead, while the previous batch was in flight. */
interface Prepared {
  from: bigint
  rows: RecordRow[]
  nextOffset: bigint
  batch: MirrorBatch
}

/** Lets a request just handed to the sink reach its socket before the CPU is busy again. */
const yieldToIo = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

export class PartitionMirror {
  readonly #o: PartitionMirrorOptions
  #cursor: PartitionCursor
  /** Set when a reconciliation could not prove what arrived: the next batch is marked as possibly redelivered. */
  #redeliverNext = false
  /** The open intent whose outcome is not known, as committed (this mirror is the only writer of its intent row). */
  #intent: Intent | undefined
  /** The last batch sent, acknowledged, its intent row still in place until its confirmation commits. */
  #acknowledged: Acknowledged | undefined
  #prepared: Prepared | undefined
  /** After a refused batch: records up to this offset go one per batch, so the partition stops exactly at the refused one. */
  #isolateThrough: bigint | undefined
  #batchEncoder: { epoch: number; encoder: MirrorBatchEncoder } | undefined

  constructor(options: PartitionMirrorOptions, cursor: PartitionCursor) {
    this.#o = options
    this.#cursor = cursor
    this.#intent = options.state.intent(cursor.link, cursor.stream, cursor.partition)
  }

  get cursor(): Readonly<PartitionCursor> {
    return this.#cursor
  }

  /** The exact offset map of this partition (committed runs only). */
  get map(): OffsetMap {
    return this.#o.map
  }

  /** Local records not yet resolved (mirrored or recorded as a gap). */
  get lagRecords(): bigint {
    const end = this.#o.store.latestOffset(this.#cursor.stream, this.#cursor.partition)
    return end > this.#cursor.nextLocal ? end - this.#cursor.nextLocal : 0n
  }

  /** An intent row is in place: a batch of unknown outcome, or an acknowledged one not yet confirmed. */
  hasIntent(): boolean {
    return this.#intent !== undefined || this.#acknowledged !== undefined
  }

  /**
   * When this partition may work again: at once, or, with an unsettled intent, once the intent is
   * recoveryGraceMs old — a request of a killed process (or one that timed out) may still be on
   * its way to the broker, and a read-back before it lands would send its records twice.
   */
  readyAtMs(): number {
    return this.#intent === undefined ? 0 : this.#intent.createdMs + this.#o.recoveryGraceMs
  }

  /** Persists a new state (paused, blocked) for this partition, with the confirmation of an acknowledged batch. */
  async setState(state: PartitionCursor['state']): Promise<void> {
    this.#prepared = undefined
    const confirmation = this.#confirmation(this.#acknowledged)
    await this.#commit({ ...confirmation, cursor: { ...confirmation.cursor, state } })
  }

  /** Commits the confirmation of an acknowledged batch, if any (the link calls this when it stops). */
  async settle(): Promise<void> {
    if (this.#acknowledged !== undefined) await this.#commit(this.#confirmation(this.#acknowledged))
  }

  /**
   * Ends a stopped state by the operator's `action` (see actionsFor), in one transaction. The link
   * then loads the partition afresh: a new map epoch starts an empty offset map.
   */
  async resolve(action: ResolveAction): Promise<void> {
    await this.settle()
    const c = this.#cursor
    const { link, stream, partition } = c
    const where = `${link}: ${stream}/${partition}`
    if (c.state === 'active') throw new BrokerError('CAIRN_REQUEST_INVALID', `${where} is active: nothing to resolve`)
    const allowed = actionsFor[c.state]
    if (!allowed.includes(action)) {
      throw new BrokerError(
        'CAIRN_REQUEST_INVALID',
        `${where} is ${c.state}: ${action} does not apply (use ${allowed.join(' or ')})`,
        { details: { state: c.state, action, allowed: [...allowed] } },
      )
    }
    const { store, state, clock } = this.#o
    const gaps: Gap[] = []
    let next: PartitionCursor = { ...c, state: 'active' }
    if (action === 'skip') {
      gaps.push({ localStart: c.nextLocal, localEnd: c.nextLocal, reason: 'poison-skip', detectedMs: clock.now() })
      next = { ...next, nextLocal: c.nextLocal + 1n, pendingGap: c.pendingGap + 1 }
    } else if (action !== 'retry') {
      next = { ...next, mapEpoch: c.mapEpoch + 1, pendingGap: 0 }
      if (action !== 'rebase') next.lastUpstream = -1n
      if (action === 'remirror') {
        const start = store.earliestOffset(stream, partition)
        next = { ...next, nextLocal: start, streamCreatedMs: store.describeStream(stream).createdMs }
        // What upstream lost and retention removed here since: gone on both sides, and said so.
        const firstMirrored = this.#o.map.runs[0]?.localStart
        if (c.state === 'paused-upstream-reset' && firstMirrored !== undefined && start > firstMirrored) {
          const localEnd = (c.nextLocal < start ? c.nextLocal : start) - 1n
          if (localEnd >= firstMirrored) {
            gaps.push({ localStart: firstMirrored, localEnd, reason: 'upstream-reset-loss', detectedMs: clock.now() })
            next.pendingGap = Number(localEnd - firstMirrored + 1n)
          }
        }
      }
    }
    this.#prepared = undefined
    await this.#write(next, () => {
      state.deleteIntent(link, stream, partition)
      for (const gap of gaps) state.saveGap(link, stream, partition, gap)
    })
    this.#intent = undefined
    this.#o.logger.warn(
      { stream, partition, from: c.state, action, mapEpoch: next.mapEpoch },
      'mirror partition resolved',
    )
  }

  /**
   * Does one unit of work: reconcile an open intent, or send one batch (committing the previous
   * batch's confirmation together with this one's intent: one fsync per batch). Throws on link failures.
   */
  async step(): Promise<StepResult> {
    if (this.#cursor.state !== 'active') return 'blocked'
    const { store } = this.#o
    const { link, stream, partition } = this.#cursor
    const intent = this.#intent
    if (intent !== undefined) {
      if (this.#o.clock.now() < intent.createdMs + this.#o.recoveryGraceMs) return 'idle'
      await this.#reconcile(intent)
      return 'sent'
    }
    const acknowledged = this.#acknowledged
    const from = acknowledged === undefined ? this.#cursor.nextLocal : acknowledged.intent.lastLocal + 1n
    if (acknowledged === undefined) await this.#skipEvicted()
    else if (store.earliestOffset(stream, partition) > from || from >= store.latestOffset(stream, partition)) {
      // Nothing to send after it, or records evicted behind it (counted as a gap by the next step).
      await this.settle()
      return 'sent'
    }
    if (this.#cursor.nextLocal >= store.latestOffset(stream, partition)) return 'idle'
    const next =
      this.#takePrepared(from) ?? this.#prepare(from, acknowledged === undefined ? this.#cursor.pendingGap : 0)
    if (next === undefined) {
      // Compaction removed everything in the range: nothing to send, the cursor moves past it.
      await this.settle()
      const read = store.readRows(stream, partition, this.#cursor.nextLocal, { maxRecords: 1, maxBytes: 1 })
      if (read.rows.length === 0) await this.#write({ ...this.#cursor, nextLocal: read.nextOffset }, () => {})
      return 'sent'
    }
    const newIntent: Intent = {
      firstLocal: from,
      lastLocal: next.nextOffset - 1n,
      records: next.rows.length,
      createdMs: this.#o.clock.now(),
    }
    // The durability barrier: nothing is sent before the intent is committed (fsync), and that
    // commit also makes every record in the batch durable, so no power loss can undo a record
    // that is already upstream.
    const confirmation = this.#confirmation(acknowledged)
    await this.#commit(confirmation, () => this.#o.state.saveIntent(link, stream, partition, newIntent))
    this.#intent = newIntent
    await this.#send(newIntent, next)
    return 'sent'
  }

  /** Reads and encodes the batch at `from`; undefined if compaction left no record there. */
  #prepare(from: bigint, gapBefore: number): Prepared | undefined {
    const { stream, partition } = this.#cursor
    if (this.#isolateThrough !== undefined && from > this.#isolateThrough) this.#isolateThrough = undefined
    const read = this.#o.store.readRows(stream, partition, from, {
      maxRecords: this.#isolateThrough === undefined ? this.#o.batchMaxRecords : 1,
      maxBytes: this.#o.batchMaxBytes,
    })
    if (read.rows.length === 0) return undefined
    const options = {
      redelivered: this.#redeliverNext,
      gapBefore,
      sendTimestampMs: this.#o.timestampMode === 'send' ? this.#o.clock.now() : null,
    }
    // The read is bounded by key and value bytes; the encoder keeps what fits with headers and framing.
    const batch = this.#encoder().encode(read.rows, options, this.#o.batchMaxBytes)
    if (batch.count === read.rows.length) return { from, rows: read.rows, nextOffset: read.nextOffset, batch }
    const rows = read.rows.slice(0, batch.count)
    return { from, rows, nextOffset: BigInt((rows.at(-1) as RecordRow)[0]) + 1n, batch }
  }

  /** The batch read ahead, if it still fits: same position, no gap or redelivery mark since. */
  #takePrepared(from: bigint): Prepared | undefined {
    const prepared = this.#prepared
    this.#prepared = undefined
    const { stream, partition } = this.#cursor
    if (prepared?.from !== from || this.#redeliverNext || this.#o.store.earliestOffset(stream, partition) > from) {
      return undefined
    }
    return prepared
  }

  async #send(intent: Intent, next: Prepared): Promise<void> {
    const { link, stream, partition, upstreamTopic, upstreamPartition } = this.#cursor
    const redelivered = this.#redeliverNext
    const sending = this.#o.sink.send(upstreamTopic, upstreamPartition, next.batch)
    // Handled below, after the yield; without this a failure during the yield is an unhandled rejection.
    sending.catch(() => {})
    // While the batch is in flight, the next one is read and encoded.
    await yieldToIo()
    this.#prepareAhead(next.nextOffset)
    let base: bigint
    try {
      base = await sending
    } catch (error) {
      this.#prepared = undefined
      if (hasErrorCode(error, 'CAIRN_UPSTREAM_REJECTED') && next.rows.length > 1) {
        // Proven not written, but which record is refused is not known: its records go again one at a time.
        this.#o.logger.warn({ err: error, stream, partition, intent }, 'upstream refused a batch; isolating the record')
        await this.#write(this.#cursor, () => this.#o.state.deleteIntent(link, stream, partition))
        this.#intent = undefined
        this.#isolateThrough = intent.lastLocal
        return
      }
      if (hasErrorCode(error, 'CAIRN_UPSTREAM_REJECTED')) {
        // Proven not written: a poison record. The partition stops (nothing behind it may overtake it).
        this.#o.logger.error({ err: error, stream, partition, intent }, 'upstream refused a record; partition blocked')
        await this.#write({ ...this.#cursor, state: 'blocked-poison' }, () =>
          this.#o.state.deleteIntent(link, stream, partition),
        )
        this.#intent = undefined
        return
      }
      throw error
    }
    if (redelivered) this.#o.onRedelivered(next.rows.length)
    this.#redeliverNext = false
    this.#intent = undefined
    this.#acknowledged = {
      intent,
      runs: rowRuns(next.rows, base),
      records: next.rows.length,
      bytes: next.batch.payloadBytes,
    }
  }

  #prepareAhead(from: bigint): void {
    const { stream, partition } = this.#cursor
    if (from >= this.#o.store.latestOffset(stream, partition)) return
    try {
      this.#prepared = this.#prepare(from, 0)
    } catch {
      // Only an optimization: the next step reads this range again and raises the failure there.
      this.#prepared = undefined
    }
  }

  /** The batch encoder of this partition's current map epoch (the epoch is part of the provenance). */
  #encoder(): MirrorBatchEncoder {
    const { stream, partition, mapEpoch } = this.#cursor
    if (this.#batchEncoder?.epoch !== mapEpoch) {
      const encoder = new MirrorBatchEncoder({ gatewayAlias: this.#o.gatewayAlias, stream, partition, epoch: mapEpoch })
      this.#batchEncoder = { epoch: mapEpoch, encoder }
    }
    return this.#batchEncoder.encoder
  }

  /**
   * What confirming `acknowledged` writes: its runs (local to upstream offsets) into the map, the
   * cursor past its intent (or past the last record found upstream) and the intent row removed.
   * Nothing to confirm: the cursor as it is.
   */
  #confirmation(acknowledged: Acknowledged | undefined): Confirmation {
    if (acknowledged === undefined) return { cursor: this.#cursor, work: () => {}, planned: undefined }
    const { intent, runs, records, bytes } = acknowledged
    const { link, stream, partition } = this.#cursor
    const last = runs.at(-1)
    const cursor: PartitionCursor = {
      ...this.#cursor,
      nextLocal: intent.lastLocal + 1n,
      lastUpstream: last === undefined ? this.#cursor.lastUpstream : last.upstreamStart + last.length - 1n,
      confirmedRecords: this.#cursor.confirmedRecords + records,
      confirmedBytes: this.#cursor.confirmedBytes + bytes,
      lastConfirmedMs: this.#o.clock.now(),
      pendingGap: 0,
    }
    const planned = this.#o.map.plan(runs)
    const key = { linkId: link, stream, partition, mapEpoch: this.#cursor.mapEpoch }
    const work = (): void => {
      this.#o.mapWriter.apply(key, planned)
      this.#o.state.deleteIntent(link, stream, partition)
    }
    return { cursor, work, planned }
  }

  /** Commits a confirmation, with `more` in the same transaction. */
  async #commit(confirmation: Confirmation, more: () => void = () => {}): Promise<void> {
    await this.#write(confirmation.cursor, () => {
      confirmation.work()
      more()
    })
    if (confirmation.planned === undefined) return
    this.#acknowledged = undefined
    this.#o.map.commit(confirmation.planned)
  }

  /**
   * After a crash or an uncertain send: reads the upstream partition after the last confirmed
   * record, finds this partition's records of the intent there (by provenance header), confirms
   * those, and leaves the rest to be sent again (mirror.md B5.2).
   */
  async #reconcile(intent: Intent): Promise<void> {
    const { link, stream, partition, upstreamTopic, upstreamPartition, lastUpstream } = this.#cursor
    const { earliest, latest } = await this.#o.sink.offsets(upstreamTopic, upstreamPartition)
    if (latest <= lastUpstream) {
      this.#o.logger.error(
        { stream, partition, upstreamTopic, upstreamPartition, lastUpstream, latest },
        'upstream partition ends before the last record confirmed there: it was reset or truncated; partition paused',
      )
      await this.#write({ ...this.#cursor, state: 'paused-upstream-reset' }, () => {})
      return
    }
    const from = lastUpstream + 1n
    const windowLost = from < earliest
    const fetched =
      latest > from
        ? await this.#o.sink.read(upstreamTopic, upstreamPartition, windowLost ? earliest : from, latest)
        : []
    const found: Array<[bigint, bigint]> = []
    for (const r of fetched) {
      const p = parseProvenance(r.headers)
      if (
        p === undefined ||
        p.gatewayAlias !== this.#o.gatewayAlias ||
        p.stream !== stream ||
        p.partition !== partition ||
        p.epoch !== this.#cursor.mapEpoch
      ) {
        // Not this partition's, or of an earlier map epoch (records left upstream by a rebase or a reset).
        continue
      }
      if (p.offset < intent.firstLocal || p.offset > intent.lastLocal) {
        if (p.offset < intent.firstLocal && windowLost) continue
        return this.#diverged(`upstream offset ${r.offset} holds local offset ${p.offset}, outside the intent`, intent)
      }
      found.push([p.offset, r.offset])
    }
    // Records of the intent that local retention removed since (policy evict) cannot be compared.
    const localStart = this.#o.store.earliestOffset(stream, partition)
    const readFrom = intent.firstLocal > localStart ? intent.firstLocal : localStart
    const expected =
      readFrom > intent.lastLocal
        ? []
        : this.#o.store
            .read(stream, partition, readFrom, { maxRecords: intent.records + 1 })
            .records.filter((r) => r.offset <= intent.lastLocal)
    const comparable = found.filter(([offset]) => offset >= localStart)
    // Per-partition order and atomic batches: what arrived is a prefix of the intent's records.
    const outOfOrder = comparable.findIndex(([offset], i) => expected[i]?.offset !== offset)
    if (outOfOrder >= 0) return this.#diverged(`found local offset ${comparable[outOfOrder]?.[0]} out of order`, intent)
    if (windowLost && found.length === 0) {
      // The upstream records that would prove what arrived are gone: send again, and say so.
      this.#redeliverNext = true
      this.#o.logger.warn(
        { stream, partition, upstreamTopic, from, earliest },
        'reconciliation window already deleted upstream; re-sending the uncertain batch as possibly redelivered',
      )
    }
    this.#o.logger.info({ stream, partition, intent, found: found.length }, 'reconciled an uncertain batch')
    // The cursor moves to just after the last record found upstream, never further: records of the
    // intent that neither arrived nor are still here (evicted meanwhile, policy evict) are then
    // counted as a gap by #skipEvicted, and the rest is sent again.
    const lastFound = found.at(-1)
    if (lastFound === undefined) {
      await this.#write(this.#cursor, () => this.#o.state.deleteIntent(link, stream, partition))
      this.#intent = undefined
      return
    }
    const confirmedBytes = expected
      .slice(0, comparable.length)
      .reduce((sum, r) => sum + (r.key?.length ?? 0) + (r.value?.length ?? 0), 0)
    await this.#commit(
      this.#confirmation({
        intent: { ...intent, lastLocal: lastFound[0] },
        runs: toRuns(found),
        records: found.length,
        bytes: confirmedBytes,
      }),
    )
    this.#intent = undefined
  }

  /** Upstream holds records claiming to be ours that do not fit: the partition stops (persisted), and says why. */
  async #diverged(reason: string, intent: Intent): Promise<never> {
    const { stream, partition } = this.#cursor
    await this.setState('diverged')
    throw new BrokerError('CAIRN_MIRROR_DIVERGED', `${stream}/${partition}: ${reason}`, {
      details: { stream, partition, firstLocal: intent.firstLocal.toString(), lastLocal: intent.lastLocal.toString() },
    })
  }

  /** Records evicted locally before they were mirrored (policy `evict`) become a counted gap. */
  async #skipEvicted(): Promise<void> {
    const { link, stream, partition, nextLocal } = this.#cursor
    const start = this.#o.store.earliestOffset(stream, partition)
    if (start <= nextLocal) return
    const evicted = Number(start - nextLocal)
    this.#o.logger.warn(
      { stream, partition, from: nextLocal, to: start - 1n, records: evicted },
      'unmirrored records were evicted locally',
    )
    await this.#write({ ...this.#cursor, nextLocal: start, pendingGap: this.#cursor.pendingGap + evicted }, () =>
      this.#o.state.saveGap(link, stream, partition, {
        localStart: nextLocal,
        localEnd: start - 1n,
        reason: 'retention-evict',
        detectedMs: this.#o.clock.now(),
      }),
    )
  }

  /** Commits `cursor` with `work` in one transaction (fsync), then adopts it and moves the retention hold. */
  #write(cursor: PartitionCursor, work: () => void, durability: Durability = 'fsync'): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#o.store.enqueueWrite(
        () => {
          work()
          this.#o.state.saveCursor(cursor)
        },
        durability,
        (error) => {
          if (error !== null) {
            reject(error)
            return
          }
          this.#cursor = cursor
          this.updateHold()
          resolve()
        },
      )
    })
  }

  /** Retention may delete only what is mirrored (policy block), or what is older than maxAge (hold-then-evict). */
  updateHold(): void {
    const { stream, partition, link, nextLocal } = this.#cursor
    const { policy, store } = this.#o
    let hold: bigint | null = null
    if (policy.kind === 'block') hold = nextLocal
    else if (policy.kind === 'hold-then-evict') {
      const aged = store.offsetForTimestamp(stream, partition, this.#o.clock.now() - policy.maxAgeMs)
      const agedOffset = aged?.offset ?? store.latestOffset(stream, partition)
      hold = agedOffset > nextLocal ? agedOffset : nextLocal
    }
    store.setRetentionHold(holdName(link), stream, partition, hold)
  }
}

/** Consecutive (local, upstream) pairs that continue both sequences form one run. */
export function toRuns(pairs: ReadonlyArray<readonly [bigint, bigint]>): OffsetRun[] {
  const runs: Array<{ localStart: bigint; upstreamStart: bigint; length: bigint }> = []
  for (const [local, upstream] of pairs) {
    const last = runs.at(-1)
    if (
      last !== undefined &&
      last.localStart + last.length === local &&
      last.upstreamStart + last.length === upstream
    ) {
      last.length++
    } else runs.push({ localStart: local, upstreamStart: upstream, length: 1n })
  }
  return runs
}

/** The runs of a batch sent as `rows` and appended upstream from `base` on: one per stretch of consecutive local offsets. */
export function rowRuns(rows: readonly RecordRow[], base: bigint): OffsetRun[] {
  const runs: OffsetRun[] = []
  let start = 0
  for (let i = 1; i <= rows.length; i++) {
    const row = rows[i]
    const previous = rows[i - 1] as RecordRow
    if (row !== undefined && row[0] === previous[0] + 1) continue
    const first = rows[start] as RecordRow
    runs.push({ localStart: BigInt(first[0]), upstreamStart: base + BigInt(start), length: BigInt(i - start) })
    start = i
  }
  return runs
}
