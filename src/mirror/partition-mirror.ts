import type { Logger } from 'pino'
import { BrokerError, hasErrorCode } from '../errors.ts'
import type { LogStore } from '../log/log-store.ts'
import type { Durability, LogRecord } from '../log/types.ts'
import type { Clock } from '../util/clock.ts'
import type { KafkaSink, UpstreamRecord } from './kafka-sink.ts'
import type { MirrorState, PartitionCursor, Intent } from './mirror-state.ts'
import type { OffsetMap, OffsetMapWriter } from './offset-map.ts'
import { parseProvenance, ProvenanceEncoder } from './replication-policy.ts'

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
  batchMaxBytes: number
  /** An intent is settled by reading upstream back only once it is this old (mirror.md B5.1). */
  recoveryGraceMs: number
  policy: UnmirroredPolicy
  /** Counts records re-sent without proof they were absent upstream (the at-least-once fallback). */
  onRedelivered: (records: number) => void
}

export type StepResult = 'sent' | 'idle' | 'blocked'

/** Retention holds this mirror sets are named so, per link. */
export function holdName(link: string): string {
  return `mirror:${link}`
}

export class PartitionMirror {
  readonly #o: PartitionMirrorOptions
  #cursor: PartitionCursor
  /** Set when a reconciliation could not prove what arrived: the next batch is marked as possibly redelivered. */
  #redeliverNext = false
  /** The open intent, as committed (this mirror is the only writer of its intent row). */
  #intent: Intent | undefined
  #provenance: { epoch: number; encoder: ProvenanceEncoder } | undefined

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

  hasIntent(): boolean {
    return this.#intent !== undefined
  }

  /**
   * When this partition may work again: at once, or, with an unsettled intent, once the intent is
   * recoveryGraceMs old — a request of a killed process (or one that timed out) may still be on
   * its way to the broker, and a read-back before it lands would send its records twice.
   */
  readyAtMs(): number {
    return this.#intent === undefined ? 0 : this.#intent.createdMs + this.#o.recoveryGraceMs
  }

  /** Persists a new state (paused, blocked) for this partition. */
  setState(state: PartitionCursor['state']): Promise<void> {
    return this.#write({ ...this.#cursor, state }, () => {})
  }

  /** Does one unit of work: reconcile an open intent, or send one batch. Throws on link failures. */
  async step(): Promise<StepResult> {
    if (this.#cursor.state !== 'active') return 'blocked'
    const { state } = this.#o
    const { link, stream, partition } = this.#cursor
    const intent = this.#intent
    if (intent !== undefined) {
      if (this.#o.clock.now() < intent.createdMs + this.#o.recoveryGraceMs) return 'idle'
      await this.#reconcile(intent)
      return 'sent'
    }
    await this.#skipEvicted()
    const end = this.#o.store.latestOffset(stream, partition)
    if (this.#cursor.nextLocal >= end) return 'idle'
    const read = this.#o.store.read(stream, partition, this.#cursor.nextLocal, {
      maxRecords: this.#o.batchMaxRecords,
      maxBytes: this.#o.batchMaxBytes,
    })
    const lastLocal = read.nextOffset - 1n
    if (read.records.length === 0) {
      // Compaction removed everything in the range: nothing to send, the cursor moves past it.
      await this.#write({ ...this.#cursor, nextLocal: read.nextOffset }, () => {})
      return 'sent'
    }
    const newIntent: Intent = {
      firstLocal: this.#cursor.nextLocal,
      lastLocal,
      records: read.records.length,
      createdMs: this.#o.clock.now(),
    }
    // The durability barrier: nothing is sent before the intent is committed (fsync), and that
    // commit also makes every record in the batch durable, so no power loss can undo a record
    // that is already upstream.
    await this.#write(this.#cursor, () => state.saveIntent(link, stream, partition, newIntent))
    this.#intent = newIntent
    await this.#send(newIntent, read.records)
    return 'sent'
  }

  async #send(intent: Intent, records: readonly LogRecord[]): Promise<void> {
    const { link, stream, partition, upstreamTopic, upstreamPartition } = this.#cursor
    const redelivered = this.#redeliverNext
    const upstream = records.map((r, i) => this.#toUpstream(r, redelivered, i === 0 ? this.#cursor.pendingGap : 0))
    let base: bigint
    try {
      base = await this.#o.sink.send(upstreamTopic, upstreamPartition, upstream)
    } catch (error) {
      if (hasErrorCode(error, 'CAIRN_UPSTREAM_REJECTED')) {
        // Proven not written: a poison batch. The partition stops (nothing behind it may overtake it).
        this.#o.logger.error({ err: error, stream, partition, intent }, 'upstream refused a batch; partition blocked')
        await this.#write({ ...this.#cursor, state: 'blocked-poison' }, () =>
          this.#o.state.deleteIntent(link, stream, partition),
        )
        this.#intent = undefined
        return
      }
      throw error
    }
    if (redelivered) this.#o.onRedelivered(records.length)
    this.#redeliverNext = false
    await this.#confirm(
      intent,
      records.map((r, i) => [r.offset, base + BigInt(i)]),
      records,
    )
  }

  #toUpstream(record: LogRecord, redelivered: boolean, gapBefore: number): UpstreamRecord {
    const { stream, partition, mapEpoch } = this.#cursor
    if (this.#provenance?.epoch !== mapEpoch) {
      const encoder = new ProvenanceEncoder({ gatewayAlias: this.#o.gatewayAlias, stream, partition, epoch: mapEpoch })
      this.#provenance = { epoch: mapEpoch, encoder }
    }
    const provenance = this.#provenance.encoder.headers(record.offset, record.timestamp, redelivered, BigInt(gapBefore))
    return {
      key: record.key,
      value: record.value,
      headers: [...record.headers.map((h): [string, Uint8Array] => [h.key, h.value]), ...provenance],
      timestamp: this.#o.timestampMode === 'origin' ? record.timestamp : this.#o.clock.now(),
    }
  }

  /**
   * Records `pairs` (local offset, upstream offset) as mirrored, advances the cursor past
   * `intent` (or to the first record not found) and removes the intent: one transaction.
   */
  async #confirm(
    intent: Intent,
    pairs: ReadonlyArray<readonly [bigint, bigint]>,
    records: readonly LogRecord[],
  ): Promise<void> {
    const { link, stream, partition } = this.#cursor
    const last = pairs.at(-1)
    const bytes = records.reduce((sum, r) => sum + (r.key?.length ?? 0) + (r.value?.length ?? 0), 0)
    const next: PartitionCursor = {
      ...this.#cursor,
      nextLocal: intent.lastLocal + 1n,
      lastUpstream: last === undefined ? this.#cursor.lastUpstream : last[1],
      confirmedRecords: this.#cursor.confirmedRecords + pairs.length,
      confirmedBytes: this.#cursor.confirmedBytes + bytes,
      lastConfirmedMs: this.#o.clock.now(),
      pendingGap: 0,
    }
    const planned = this.#o.map.plan(toRuns(pairs))
    const key = { linkId: link, stream, partition, mapEpoch: this.#cursor.mapEpoch }
    await this.#write(next, () => {
      this.#o.mapWriter.apply(key, planned)
      this.#o.state.deleteIntent(link, stream, partition)
    })
    this.#intent = undefined
    this.#o.map.commit(planned)
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
        p.partition !== partition
      ) {
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
    await this.#confirm({ ...intent, lastLocal: lastFound[0] }, found, expected.slice(0, comparable.length))
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
export function toRuns(
  pairs: ReadonlyArray<readonly [bigint, bigint]>,
): Array<{ localStart: bigint; upstreamStart: bigint; length: bigint }> {
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
