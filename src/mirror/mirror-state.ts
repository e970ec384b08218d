import type Database from 'better-sqlite3'
import type { SqliteDatabase } from '../log/open-database.ts'

// The mirror's durable state, beside the log in the same database (mirror.md B3): a cursor per
// mirrored partition, at most one intent (a batch that may have reached upstream) per partition,
// and the ranges resolved without an upstream copy (gaps). Every write here runs inside a
// LogStore.enqueueWrite work, so cursor, offset map and intent change in one SQLite transaction.

export type PartitionState =
  'active' | 'paused-upstream-reset' | 'paused-stream-recreated' | 'blocked-poison' | 'diverged'

export interface PartitionCursor {
  link: string
  stream: string
  partition: number
  upstreamTopic: string
  upstreamPartition: number
  state: PartitionState
  /** Every local offset below it is mirrored (confirmed upstream) or recorded as a gap. */
  nextLocal: bigint
  /** Upstream offset of the last confirmed mirrored record; -1n before the first. */
  lastUpstream: bigint
  mapEpoch: number
  confirmedRecords: number
  confirmedBytes: number
  lastConfirmedMs: number | null
  /** Local records evicted (policy `evict`) since the last mirrored record: stamped on the next one. */
  pendingGap: number
  /** Creation time of the local stream this cursor belongs to: a stream deleted and created again is another log. */
  streamCreatedMs: number
}

export interface Intent {
  firstLocal: bigint
  lastLocal: bigint
  records: number
  createdMs: number
}

export type GapReason = 'retention-evict' | 'poison-skip' | 'upstream-reset-loss'

export interface GapTotal {
  link: string
  stream: string
  partition: number
  reason: GapReason
  records: number
}

export interface Gap {
  localStart: bigint
  localEnd: bigint
  reason: GapReason
  detectedMs: number
}

interface CursorRow {
  link_id: string
  stream: string
  partition: number
  upstream_topic: string
  upstream_partition: number
  state: PartitionState
  next_local: number
  last_up: number
  map_epoch: number
  confirmed_records: number
  confirmed_bytes: number
  last_confirmed_ms: number | null
  pending_gap: number
  stream_created_ms: number
}

export class MirrorState {
  readonly #upsertCursor: Database.Statement
  readonly #selectCursor: Database.Statement
  readonly #insertIntent: Database.Statement
  readonly #selectIntent: Database.Statement
  readonly #deleteIntent: Database.Statement
  readonly #insertGap: Database.Statement
  readonly #selectGaps: Database.Statement
  readonly #gapTotals: Database.Statement
  readonly #gapTotalsByReason: Database.Statement

  constructor(db: SqliteDatabase) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS mirror_partition (
        link_id TEXT NOT NULL, stream TEXT NOT NULL, partition INTEGER NOT NULL,
        upstream_topic TEXT NOT NULL, upstream_partition INTEGER NOT NULL,
        state TEXT NOT NULL, next_local INTEGER NOT NULL, last_up INTEGER NOT NULL,
        map_epoch INTEGER NOT NULL, confirmed_records INTEGER NOT NULL, confirmed_bytes INTEGER NOT NULL,
        last_confirmed_ms INTEGER, pending_gap INTEGER NOT NULL, stream_created_ms INTEGER NOT NULL,
        PRIMARY KEY (link_id, stream, partition)
      ) STRICT, WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS mirror_inflight (
        link_id TEXT NOT NULL, stream TEXT NOT NULL, partition INTEGER NOT NULL,
        first_local INTEGER NOT NULL, last_local INTEGER NOT NULL, records INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        PRIMARY KEY (link_id, stream, partition)
      ) STRICT, WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS mirror_gap (
        link_id TEXT NOT NULL, stream TEXT NOT NULL, partition INTEGER NOT NULL,
        local_start INTEGER NOT NULL, local_end INTEGER NOT NULL, reason TEXT NOT NULL,
        detected_ms INTEGER NOT NULL,
        PRIMARY KEY (link_id, stream, partition, local_start)
      ) STRICT, WITHOUT ROWID;
    `)
    this.#upsertCursor = db.prepare(`
      INSERT OR REPLACE INTO mirror_partition (link_id, stream, partition, upstream_topic, upstream_partition,
        state, next_local, last_up, map_epoch, confirmed_records, confirmed_bytes, last_confirmed_ms, pending_gap,
        stream_created_ms)
      VALUES (@link, @stream, @partition, @upstreamTopic, @upstreamPartition, @state, @nextLocal, @lastUpstream,
        @mapEpoch, @confirmedRecords, @confirmedBytes, @lastConfirmedMs, @pendingGap, @streamCreatedMs)`)
    this.#selectCursor = db.prepare('SELECT * FROM mirror_partition WHERE link_id = ? AND stream = ? AND partition = ?')
    this.#insertIntent = db.prepare(
      'INSERT OR REPLACE INTO mirror_inflight (link_id, stream, partition, first_local, last_local, records, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)',
    )
    this.#selectIntent = db.prepare(
      'SELECT first_local, last_local, records, created_ms FROM mirror_inflight WHERE link_id = ? AND stream = ? AND partition = ?',
    )
    this.#deleteIntent = db.prepare('DELETE FROM mirror_inflight WHERE link_id = ? AND stream = ? AND partition = ?')
    this.#insertGap = db.prepare(
      'INSERT OR REPLACE INTO mirror_gap (link_id, stream, partition, local_start, local_end, reason, detected_ms) VALUES (?, ?, ?, ?, ?, ?, ?)',
    )
    this.#selectGaps = db.prepare(
      'SELECT local_start, local_end, reason, detected_ms FROM mirror_gap WHERE link_id = ? AND stream = ? AND partition = ? ORDER BY local_start',
    )
    this.#gapTotalsByReason = db.prepare(
      'SELECT link_id, stream, partition, reason, SUM(local_end - local_start + 1) AS records FROM mirror_gap GROUP BY link_id, stream, partition, reason',
    )
    this.#gapTotals = db
      .prepare(
        'SELECT COALESCE(SUM(local_end - local_start + 1), 0) FROM mirror_gap WHERE link_id = ? AND stream = ? AND partition = ?',
      )
      .pluck()
  }

  cursor(link: string, stream: string, partition: number): PartitionCursor | undefined {
    const row = this.#selectCursor.get(link, stream, partition) as CursorRow | undefined
    if (row === undefined) return undefined
    return {
      link: row.link_id,
      stream: row.stream,
      partition: row.partition,
      upstreamTopic: row.upstream_topic,
      upstreamPartition: row.upstream_partition,
      state: row.state,
      nextLocal: BigInt(row.next_local),
      lastUpstream: BigInt(row.last_up),
      mapEpoch: row.map_epoch,
      confirmedRecords: row.confirmed_records,
      confirmedBytes: row.confirmed_bytes,
      lastConfirmedMs: row.last_confirmed_ms,
      pendingGap: row.pending_gap,
      streamCreatedMs: row.stream_created_ms,
    }
  }

  /** Inside a write: saves the cursor as given. */
  saveCursor(c: PartitionCursor): void {
    this.#upsertCursor.run({
      ...c,
      nextLocal: safe(c.nextLocal),
      lastUpstream: safe(c.lastUpstream),
    })
  }

  intent(link: string, stream: string, partition: number): Intent | undefined {
    const row = this.#selectIntent.get(link, stream, partition) as
      { first_local: number; last_local: number; records: number; created_ms: number } | undefined
    if (row === undefined) return undefined
    return {
      firstLocal: BigInt(row.first_local),
      lastLocal: BigInt(row.last_local),
      records: row.records,
      createdMs: row.created_ms,
    }
  }

  /** Inside a write: records that a batch is about to be sent (the durability barrier). */
  saveIntent(link: string, stream: string, partition: number, intent: Intent): void {
    this.#insertIntent.run(
      link,
      stream,
      partition,
      safe(intent.firstLocal),
      safe(intent.lastLocal),
      intent.records,
      intent.createdMs,
    )
  }

  /** Inside a write. */
  deleteIntent(link: string, stream: string, partition: number): void {
    this.#deleteIntent.run(link, stream, partition)
  }

  /** Inside a write. */
  saveGap(link: string, stream: string, partition: number, gap: Gap): void {
    this.#insertGap.run(link, stream, partition, safe(gap.localStart), safe(gap.localEnd), gap.reason, gap.detectedMs)
  }

  gaps(link: string, stream: string, partition: number): Gap[] {
    const rows = this.#selectGaps.all(link, stream, partition) as Array<{
      local_start: number
      local_end: number
      reason: GapReason
      detected_ms: number
    }>
    return rows.map((r) => ({
      localStart: BigInt(r.local_start),
      localEnd: BigInt(r.local_end),
      reason: r.reason,
      detectedMs: r.detected_ms,
    }))
  }

  gapRecords(link: string, stream: string, partition: number): number {
    return this.#gapTotals.get(link, stream, partition) as number
  }

  /** Records resolved without an upstream copy, per partition and reason (the metrics). */
  gapRecordsByReason(): GapTotal[] {
    const rows = this.#gapTotalsByReason.all() as Array<{
      link_id: string
      stream: string
      partition: number
      reason: GapReason
      records: number
    }>
    return rows.map((r) => ({
      link: r.link_id,
      stream: r.stream,
      partition: r.partition,
      reason: r.reason,
      records: r.records,
    }))
  }
}

function safe(offset: bigint): number {
  const n = Number(offset)
  if (!Number.isSafeInteger(n)) throw new RangeError(`offset ${offset} is beyond 2^53`)
  return n
}
