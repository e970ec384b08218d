import type Database from 'better-sqlite3'
import { BrokerError } from '../errors.ts'
import type { SqliteDatabase } from './open-database.ts'
import { decodeHeaders, decodeMeta } from './record-codec.ts'
import { createKeyIndex, recordTableName } from './schema.ts'
import type { LogRecord, PartitionInfo, StreamConfig, TimestampLookup } from './types.ts'

/** A record ready for the INSERT: encoded once, when it was handed to append(). */
export interface EncodedRecord {
  timestamp: number
  key: Uint8Array | null
  value: Uint8Array | null
  headers: Uint8Array | null
  meta: Uint8Array | null
  bytes: number
}

export interface PartitionRow {
  log_start_offset: number
  log_end_offset: number
  record_count: number
  live_bytes: number
  appended_bytes: number
  max_timestamp: number
}

export interface SegmentTuning {
  /** A segment_index entry is written at the first batch boundary past this many records... */
  segmentRecords: number
  /** ...or past this many bytes... */
  segmentBytes: number
  /** ...or once the segment is this old, so that time retention of a slow stream is not held back by a segment that never fills. */
  segmentMs: number
}

/** Where the current (last) segment started: restored together with the committed state after a failed commit. */
export interface SegmentStart {
  offset: number
  bytes: number
  timestamp: number
}

/** A stored record as SQLite returns it: offset, timestamp (ms), key, value, CBOR headers, CBOR meta. */
export type RecordRow = [number, number, Uint8Array | null, Uint8Array | null, Uint8Array | null, Uint8Array | null]

/**
 * Rows per multi-row INSERT, largest first; the last must be 1. One statement execution per record
 * was 7–13 % of the broker's time under MQTT ingest; 64 rows per statement cut the insert's CPU per
 * record by ~40 % (100 B values), and most of that is reached by 16. Remainders step down the ladder.
 */
const insertChunks = [64, 16, 4, 1] as const
const columnsPerRow = 6
/** Bind values of one chunk, reused (all inserts are synchronous); cleared after each flush so it pins no buffers. */
const chunkValues: Array<number | Uint8Array | null> = new Array<number | Uint8Array | null>(
  insertChunks[0] * columnsPerRow,
).fill(null)

const recordBytesSql =
  'ifnull(length(key),0) + ifnull(length(value),0) + ifnull(length(headers),0) + ifnull(length(meta),0)'

/**
 * One partition: its committed state (mirrored in the `partition` row) and its prepared statements.
 * All methods are synchronous and run inside the caller's transaction where they write: no
 * transaction here ever spans an await.
 *
 * Invariants: logStartOffset <= logEndOffset; every record offset o satisfies logStart <= o < logEnd;
 * offsets are never reused (logEnd only grows, and is persisted even when every record is deleted).
 */
export class PartitionLog {
  readonly streamName: string
  readonly streamId: number
  readonly partition: number
  readonly table: string
  config: StreamConfig

  // Committed state.
  logStartOffset: number
  logEndOffset: number
  recordCount: number
  liveBytes: number
  appendedBytes: number
  maxTimestamp: number
  segment: SegmentStart

  /** Next offset to assign; runs ahead of logEndOffset while a group commit is pending. */
  nextOffset: number
  /** Set when its stream is deleted, so a maintenance pass that captured it leaves it alone. */
  dropped = false
  /** Dirty since the last compaction pass (compacted streams only). */
  compactionDirty = true

  readonly #db: SqliteDatabase
  /** INSERT statements by rows per statement (index as in insertChunks), prepared on first use. */
  readonly #inserts: Array<Database.Statement | undefined> = []
  /** Records given to insertBatch and not yet inserted: consecutive offsets from #stagedBase. */
  #staged: EncodedRecord[] = []
  #stagedBase = 0
  readonly #read: Database.Statement
  readonly #firstAtOrAfterTs: Database.Statement
  readonly #segmentBefore: Database.Statement
  readonly #segmentForExpiry: Database.Statement
  readonly #segmentForBytes: Database.Statement
  readonly #insertSegment: Database.Statement
  readonly #updatePartition: Database.Statement
  readonly #deletePrefix: Database.Statement
  readonly #deleteSegmentsBelow: Database.Statement
  readonly #firstTimestamp: Database.Statement
  #compactWindow: Database.Statement | undefined
  #segmentAtOrBefore: Database.Statement | undefined
  #bytesBetween: Database.Statement | undefined

  constructor(
    db: SqliteDatabase,
    streamName: string,
    streamId: number,
    partition: number,
    config: StreamConfig,
    row: PartitionRow,
  ) {
    this.#db = db
    this.streamName = streamName
    this.streamId = streamId
    this.partition = partition
    this.table = recordTableName(streamId, partition)
    this.config = config
    this.logStartOffset = row.log_start_offset
    this.logEndOffset = row.log_end_offset
    this.nextOffset = row.log_end_offset
    this.recordCount = row.record_count
    this.liveBytes = row.live_bytes
    this.appendedBytes = row.appended_bytes
    this.maxTimestamp = row.max_timestamp
    const t = this.table
    this.#read = db
      .prepare(`SELECT offset, ts, key, value, headers, meta FROM ${t} WHERE offset >= ? ORDER BY offset LIMIT ?`)
      .raw(true)
    this.#firstAtOrAfterTs = db
      .prepare(`SELECT offset, ts FROM ${t} WHERE offset >= ? AND ts >= ? ORDER BY offset LIMIT 1`)
      .raw(true)
    const seg = 'FROM segment_index WHERE stream_id = ? AND partition = ?'
    this.#segmentBefore = db
      .prepare(`SELECT base_offset ${seg} AND max_ts_before < ? ORDER BY max_ts_before DESC, base_offset DESC LIMIT 1`)
      .pluck()
    this.#segmentForExpiry = this.#segmentBefore
    this.#segmentForBytes = db
      .prepare(`SELECT base_offset ${seg} AND bytes_before >= ? ORDER BY base_offset LIMIT 1`)
      .pluck()
    this.#insertSegment = db.prepare(
      'INSERT INTO segment_index (stream_id, partition, base_offset, max_ts_before, bytes_before) VALUES (?, ?, ?, ?, ?)',
    )
    this.#updatePartition = db.prepare(
      `UPDATE partition SET log_start_offset = ?, log_end_offset = ?, record_count = ?, live_bytes = ?, appended_bytes = ?,
         max_timestamp = ? WHERE stream_id = ? AND partition = ?`,
    )
    this.#deletePrefix = db.prepare(`DELETE FROM ${t} WHERE offset < ? RETURNING ${recordBytesSql}`).pluck()
    this.#deleteSegmentsBelow = db.prepare(
      `DELETE FROM segment_index WHERE stream_id = ? AND partition = ? AND base_offset < ?`,
    )
    this.#firstTimestamp = db.prepare(`SELECT ts FROM ${t} ORDER BY offset LIMIT 1`).pluck()
    const lastSegment = db
      .prepare(`SELECT base_offset, bytes_before ${seg} ORDER BY base_offset DESC LIMIT 1`)
      .get(streamId, partition) as { base_offset: number; bytes_before: number } | undefined
    const segmentOffset = lastSegment?.base_offset ?? -1
    const segmentTs = db
      .prepare(`SELECT ts FROM ${t} WHERE offset >= ? ORDER BY offset LIMIT 1`)
      .pluck()
      .get(segmentOffset) as number | undefined
    this.segment = {
      offset: segmentOffset,
      bytes: lastSegment?.bytes_before ?? 0,
      timestamp: segmentTs ?? this.maxTimestamp,
    }
  }

  /**
   * Takes records at consecutive offsets from `baseOffset`; the caller holds the transaction. Rows
   * are written in multi-row INSERTs, so records of consecutive appends to this partition in one group
   * commit share statements: full chunks are inserted here, the rest by saveState(), which the
   * transaction calls for every partition it touched before it commits. Segment entries are cut at
   * any record, not only at batch boundaries, so a lookup inside a large batch scans at most one segment.
   */
  insertBatch(baseOffset: number, records: readonly EncodedRecord[], tuning: SegmentTuning): void {
    let offset = baseOffset
    let appended = this.appendedBytes
    let maxTimestamp = this.maxTimestamp
    if (this.#staged.length === 0) this.#stagedBase = baseOffset
    else if (this.#stagedBase + this.#staged.length !== baseOffset) {
      // Offsets are assigned densely per partition, so this is a bug, not an input error.
      throw new Error(
        `offset gap at ${this.table}: staged up to ${this.#stagedBase + this.#staged.length}, got ${baseOffset}`,
      )
    }
    for (const r of records) {
      const segment = this.segment
      if (
        segment.offset < 0 ||
        offset - segment.offset >= tuning.segmentRecords ||
        appended - segment.bytes >= tuning.segmentBytes ||
        r.timestamp - segment.timestamp >= tuning.segmentMs
      ) {
        this.#insertSegment.run(this.streamId, this.partition, offset, maxTimestamp, appended)
        this.segment = { offset, bytes: appended, timestamp: r.timestamp }
      }
      this.#staged.push(r)
      offset++
      appended += r.bytes
      if (r.timestamp > maxTimestamp) maxTimestamp = r.timestamp
    }
    this.logEndOffset = offset
    this.recordCount += records.length
    this.liveBytes += appended - this.appendedBytes
    this.appendedBytes = appended
    this.maxTimestamp = maxTimestamp
    if (this.#staged.length >= insertChunks[0]) this.#insertStaged(false)
  }

  /**
   * Inserts staged records: only whole chunks of the largest size unless `all`, then down the ladder.
   * A failure throws out of the caller's transaction, which rolls back and restore()s this partition.
   */
  #insertStaged(all: boolean): void {
    const staged = this.#staged
    let next = 0
    try {
      for (let size = 0; size < insertChunks.length; size++) {
        const rows = insertChunks[size] as number
        if (staged.length - next < rows) continue
        const statement = (this.#inserts[size] ??= this.#prepareInsert(rows))
        while (staged.length - next >= rows) {
          const values = rows === insertChunks[0] ? chunkValues : chunkValues.slice(0, rows * columnsPerRow)
          for (let i = 0; i < rows; i++) {
            const r = staged[next + i] as EncodedRecord
            const j = i * columnsPerRow
            values[j] = this.#stagedBase + next + i
            values[j + 1] = r.timestamp
            values[j + 2] = r.key
            values[j + 3] = r.value
            values[j + 4] = r.headers
            values[j + 5] = r.meta
          }
          statement.run(values)
          next += rows
        }
        if (!all) break
      }
    } finally {
      chunkValues.fill(null)
    }
    this.#stagedBase += next
    this.#staged = next === staged.length ? [] : staged.slice(next)
  }

  #prepareInsert(rows: number): Database.Statement {
    const tuple = '(?, ?, ?, ?, ?, ?)'
    const values = rows === 1 ? tuple : new Array<string>(rows).fill(tuple).join(', ')
    return this.#db.prepare(`INSERT INTO ${this.table} (offset, ts, key, value, headers, meta) VALUES ${values}`)
  }

  /**
   * Inserts what insertBatch staged, then persists the in-memory committed state; called once per
   * partition per transaction, after its inserts and before the commit.
   */
  saveState(): void {
    if (this.#staged.length > 0) this.#insertStaged(true)
    this.#updatePartition.run(
      this.logStartOffset,
      this.logEndOffset,
      this.recordCount,
      this.liveBytes,
      this.appendedBytes,
      this.maxTimestamp,
      this.streamId,
      this.partition,
    )
  }

  snapshot(): PartitionRow {
    return {
      log_start_offset: this.logStartOffset,
      log_end_offset: this.logEndOffset,
      record_count: this.recordCount,
      live_bytes: this.liveBytes,
      appended_bytes: this.appendedBytes,
      max_timestamp: this.maxTimestamp,
    }
  }

  /** Puts back the state of a snapshot after a transaction rolled back. */
  restore(row: PartitionRow, segment: SegmentStart): void {
    // Staged rows belonged to the transaction that rolled back.
    this.#staged = []
    this.logStartOffset = row.log_start_offset
    this.logEndOffset = row.log_end_offset
    this.recordCount = row.record_count
    this.liveBytes = row.live_bytes
    this.appendedBytes = row.appended_bytes
    this.maxTimestamp = row.max_timestamp
    this.segment = segment
    this.nextOffset = row.log_end_offset
  }

  read(from: number, maxRecords: number, maxBytes: number): { records: LogRecord[]; nextOffset: number } {
    const { rows, nextOffset } = this.readRows(from, maxRecords, maxBytes)
    const records = rows.map(([offset, ts, key, value, headers, meta]): LogRecord => ({
      offset: BigInt(offset),
      timestamp: ts,
      key,
      value,
      headers: decodeHeaders(headers),
      meta: decodeMeta(meta),
    }))
    return { records, nextOffset }
  }

  /** As read(), but the rows as stored: nothing decoded (the mirror encodes them straight into Kafka batches). */
  readRows(from: number, maxRecords: number, maxBytes: number): { rows: RecordRow[]; nextOffset: number } {
    if (from < this.logStartOffset || from > this.logEndOffset) {
      throw new BrokerError(
        'CAIRN_OFFSET_OUT_OF_RANGE',
        `offset ${from} is outside partition ${this.partition} [${this.logStartOffset}, ${this.logEndOffset}]`,
        {
          details: {
            partition: this.partition,
            offset: from,
            logStartOffset: this.logStartOffset,
            logEndOffset: this.logEndOffset,
          },
        },
      )
    }
    if (from === this.logEndOffset) return { rows: [], nextOffset: from }
    let result: RecordRow[] | undefined
    let bytes = 0
    let next = from
    let rowsLeft = maxRecords
    // Rows are fetched in chunks sized by the partition's average record, so a byte budget that
    // ends the read early does not pay for copying rows out of SQLite it never returns.
    const averageBytes = this.recordCount > 0 ? Math.max(1, this.liveBytes / this.recordCount) : 1
    for (;;) {
      const chunk = Math.min(rowsLeft, Math.ceil((maxBytes - bytes) / averageBytes) + 16)
      const rows = this.#read.all(next, chunk) as RecordRow[]
      let taken = 0
      for (; taken < rows.length; taken++) {
        const row = rows[taken] as RecordRow
        const size = (row[2]?.length ?? 0) + (row[3]?.length ?? 0)
        // At least one record, even if it alone exceeds maxBytes (a consumer must always make progress).
        if ((result !== undefined || taken > 0) && bytes + size > maxBytes) break
        bytes += size
      }
      const kept = taken === rows.length ? rows : rows.slice(0, taken)
      result = result === undefined ? kept : result.concat(kept)
      rowsLeft -= rows.length
      const last = rows.at(-1)
      if (taken < rows.length || rows.length < chunk || rowsLeft === 0 || last === undefined) {
        return this.#rowsResult(result)
      }
      next = last[0] + 1
    }
  }

  #rowsResult(rows: RecordRow[]): { rows: RecordRow[]; nextOffset: number } {
    const last = rows.at(-1)
    // No rows at all from a valid offset below logEnd means compaction removed everything up to the end.
    return { rows, nextOffset: last === undefined ? this.logEndOffset : last[0] + 1 }
  }

  /**
   * First record with timestamp >= ts. The segment entry found has a running maximum below ts, so
   * no earlier record qualifies; the scan from it stops within one segment when timestamps are
   * ordered (the usual case), and degrades to a scan only where timestamps went backwards.
   */
  offsetForTimestamp(ts: number): TimestampLookup | null {
    const segment = this.#segmentBefore.get(this.streamId, this.partition, ts) as number | undefined
    const start = Math.max(segment ?? this.logStartOffset, this.logStartOffset)
    const row = this.#firstAtOrAfterTs.get(start, ts) as [number, number] | undefined
    return row === undefined ? null : { offset: BigInt(row[0]), timestamp: row[1] }
  }

  /** Offset below which every record is older than `cutoffMs` (a segment boundary), for time retention. */
  expiredBoundary(cutoffMs: number): number {
    if (this.recordCount === 0) return this.logStartOffset
    if (this.maxTimestamp < cutoffMs) return this.logEndOffset
    const segment = this.#segmentForExpiry.get(this.streamId, this.partition, cutoffMs) as number | undefined
    return Math.max(segment ?? this.logStartOffset, this.logStartOffset)
  }

  /** Smallest segment boundary that leaves at most `retentionBytes` behind it, for byte retention. */
  bytesBoundary(retentionBytes: number): number {
    if (this.liveBytes <= retentionBytes) return this.logStartOffset
    const segment = this.#segmentForBytes.get(this.streamId, this.partition, this.appendedBytes - retentionBytes) as
      number | undefined
    return Math.max(segment ?? this.logStartOffset, this.logStartOffset)
  }

  firstTimestamp(): number | undefined {
    return this.#firstTimestamp.get() as number | undefined
  }

  /** Deletes records below `end` and advances logStartOffset to it; returns records deleted. */
  deletePrefix(end: number): number {
    if (end <= this.logStartOffset) return 0
    const sizes = this.#deletePrefix.all(end) as number[]
    let bytes = 0
    for (const size of sizes) bytes += size
    this.#deleteSegmentsBelow.run(this.streamId, this.partition, end)
    this.logStartOffset = end
    this.recordCount -= sizes.length
    this.liveBytes -= bytes
    return sizes.length
  }

  /**
   * Compaction of [from, to): removes every record that has a later record with the same key, and
   * tombstones (null value, already the latest for their key) older than `tombstoneCutoffMs`.
   * Offsets of kept records never change.
   */
  compactWindow(from: number, to: number, tombstoneCutoffMs: number): number {
    this.#compactWindow ??= this.#prepareCompaction()
    const sizes = this.#compactWindow.all({ from, to, cutoff: tombstoneCutoffMs }) as number[]
    let bytes = 0
    for (const size of sizes) bytes += size
    this.recordCount -= sizes.length
    this.liveBytes -= bytes
    return sizes.length
  }

  #prepareCompaction(): Database.Statement {
    createKeyIndex(this.#db, this.table)
    const t = this.table
    return this.#db
      .prepare(
        `DELETE FROM ${t} WHERE offset >= $from AND offset < $to AND (
           offset < (SELECT max(later.offset) FROM ${t} AS later WHERE later.key = ${t}.key)
           OR (value IS NULL AND ts < $cutoff))
         RETURNING ${recordBytesSql}`,
      )
      .pluck()
  }

  /**
   * Bytes appended from `offset` (at least the log start) to the end, as appended: records compacted
   * away since still count. O(log n) plus at most one segment's rows, for the mirror's lag in bytes.
   */
  bytesFrom(offset: number): number {
    const from = Math.max(offset, this.logStartOffset)
    if (from >= this.logEndOffset) return 0
    this.#segmentAtOrBefore ??= this.#db.prepare(
      'SELECT base_offset, bytes_before FROM segment_index WHERE stream_id = ? AND partition = ? AND base_offset <= ? ORDER BY base_offset DESC LIMIT 1',
    )
    const segment = this.#segmentAtOrBefore.get(this.streamId, this.partition, from) as
      { base_offset: number; bytes_before: number } | undefined
    if (segment === undefined) return this.liveBytes
    this.#bytesBetween ??= this.#db
      .prepare(`SELECT ifnull(sum(${recordBytesSql}), 0) FROM ${this.table} WHERE offset >= ? AND offset < ?`)
      .pluck()
    const before = this.#bytesBetween.get(segment.base_offset, from) as number
    return this.appendedBytes - segment.bytes_before - before
  }

  info(): PartitionInfo {
    return {
      partition: this.partition,
      logStartOffset: BigInt(this.logStartOffset),
      logEndOffset: BigInt(this.logEndOffset),
      records: this.recordCount,
      bytes: this.liveBytes,
    }
  }
}
