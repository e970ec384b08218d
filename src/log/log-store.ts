import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type Database from 'better-sqlite3'
import { pino, type Logger } from 'pino'
import { BrokerError } from '../errors.ts'
import { LogMetrics } from '../observability/log-metrics.ts'
import { systemClock, type Clock } from '../util/clock.ts'
import { Checkpointer, type CheckpointPolicy } from './checkpointer.ts'
import { Maintenance, type MaintenancePolicy } from './maintenance.ts'
import { openDatabase, type SqliteDatabase } from './open-database.ts'
import {
  PartitionLog,
  type EncodedRecord,
  type PartitionRow,
  type RecordRow,
  type SegmentStart,
  type SegmentTuning,
} from './partition-log.ts'
import { encodeHeaders, encodeMeta } from './record-codec.ts'
import { createKeyIndex, createRecordTable, migrate, recordTableName } from './schema.ts'
import { storageError } from './storage-error.ts'
import { resolveStreamConfig, validateStreamName } from './stream-config.ts'
import type {
  AppendResult,
  Durability,
  LogRecord,
  ReadOptions,
  ReadResult,
  RecordInput,
  StoreStats,
  StreamConfig,
  StreamInfo,
  StreamSettings,
  TimestampLookup,
} from './types.ts'

export interface LogStoreOptions {
  /** Directory of the database file (`cairn.db`); created if missing. */
  dataDir: string
  logger?: Logger
  clock?: Clock
  nativeBinding?: string
  /** Global disk budget for the database file; null = none. Retention deletes oldest data to keep under it. */
  maxDiskBytes?: number | null
  /** `after-crash` runs PRAGMA quick_check when the previous run did not close cleanly. */
  checkOnOpen?: 'after-crash' | 'always' | 'never'
  segment?: Partial<SegmentTuning>
  checkpoint?: Partial<CheckpointPolicy>
  maintenance?: Partial<MaintenancePolicy>
  /** A group commit is cut early past this many pending records, bounding the time one commit blocks. */
  maxRecordsPerCommit?: number
}

export type AppendCallback = (error: BrokerError | null, result?: AppendResult) => void

interface StagedAppend {
  target: PartitionLog
  encoded: EncodedRecord[]
  records: readonly RecordInput[]
  durability: Durability
}

interface StreamEntry {
  id: number
  name: string
  config: StreamConfig
  createdMs: number
  partitions: PartitionLog[]
}

interface PendingAppend {
  partition: PartitionLog
  /** The stream's durability, or a weaker one the producer asked for (native `acks: 1`). */
  durability: Durability
  baseOffset: number
  records: EncodedRecord[]
  inputs: readonly RecordInput[]
  callback: AppendCallback
}

interface PendingWrite {
  work: () => void
  durability: Durability
  callback: (error: BrokerError | null) => void
  /** Runs in the commit itself, not a savepoint: if it throws, the whole group commit fails. */
  atomic?: boolean
}

/** One partition's share of an atomic append (a transaction, or an idempotent batch with its state). */
export interface AtomicPart {
  stream: string
  partition: number
  records: readonly RecordInput[]
}

/** Records as they were committed, handed to watchers without reading them back. */
export interface CommittedBatch {
  stream: string
  partition: number
  baseOffset: bigint
  records: readonly LogRecord[]
}

export type AppendWatcher = (batch: CommittedBatch) => void

const databaseFileName = 'cairn.db'
const defaultSegment: SegmentTuning = { segmentRecords: 1024, segmentBytes: 1024 * 1024, segmentMs: 3_600_000 }

/**
 * The durable, partitioned log. Appends that arrive during one turn of the event loop are committed
 * in one SQLite transaction (group commit) and acknowledged only after that commit returns. Reads see
 * committed records only. All SQLite work is synchronous and short; nothing here holds a
 * transaction across an await.
 */
export class LogStore {
  readonly file: string
  readonly #db: SqliteDatabase
  readonly #logger: Logger
  readonly #clock: Clock
  readonly #segment: SegmentTuning
  readonly #maxRecordsPerCommit: number
  readonly #streams = new Map<string, StreamEntry>()
  readonly #holds = new Map<PartitionLog, Map<string, number>>()
  readonly #checkpointer: Checkpointer
  readonly #maintenance: Maintenance
  /** Built once: better-sqlite3 wraps a transaction function in four closures each time one is made. */
  readonly #commitTransaction: (
    batch: readonly PendingAppend[],
    partitions: Iterable<PartitionLog>,
    writes: readonly PendingWrite[],
    writeErrors: Array<BrokerError | null>,
  ) => number
  #pending: PendingAppend[] = []
  #pendingWrites: PendingWrite[] = []
  readonly #watchers = new Map<string, Set<AppendWatcher>>()
  readonly #streamWatchers = new Set<() => void>()
  #pendingRecords = 0
  #flushScheduled = false
  #synchronous: 'FULL' | 'NORMAL' = 'FULL'
  #closed = false
  #stats = { commits: 0, appendedRecords: 0 }
  /** Append and commit latency and batch-size histograms, observed once per group commit. */
  readonly metrics = new LogMetrics()
  #flushWaiters: Array<() => void> = []

  private constructor(db: SqliteDatabase, file: string, options: LogStoreOptions) {
    this.file = file
    this.#db = db
    this.#logger = options.logger ?? pino({ level: 'silent' })
    this.#clock = options.clock ?? systemClock
    this.#segment = { ...defaultSegment, ...options.segment }
    this.#maxRecordsPerCommit = options.maxRecordsPerCommit ?? 16_384
    this.#commitTransaction = db.transaction(
      (
        batch: readonly PendingAppend[],
        partitions: Iterable<PartitionLog>,
        writes: readonly PendingWrite[],
        writeErrors: Array<BrokerError | null>,
      ): number => {
        let appended = 0
        for (const b of batch) {
          if (b.baseOffset !== b.partition.logEndOffset)
            throw new Error(`offset gap at ${b.partition.table}: ${b.baseOffset}`)
          b.partition.insertBatch(b.baseOffset, b.records, this.#segment)
          appended += b.records.length
        }
        for (const p of partitions) p.saveState()
        for (const w of writes) {
          if (w.atomic === true) {
            w.work()
            writeErrors.push(null)
          } else writeErrors.push(this.#runInSavepoint(w.work))
        }
        return appended
      },
    )
    this.#loadCatalog()
    this.#checkpointer = new Checkpointer(db, file, this.#clock, this.#logger, options.checkpoint)
    this.#maintenance = new Maintenance({
      db,
      clock: this.#clock,
      logger: this.#logger,
      partitions: () => this.#allPartitions(),
      holdFor: (p) => this.#holdFor(p),
      maxDiskBytes: options.maxDiskBytes ?? null,
      usedBytes: () => this.#usedBytes(),
      policy: options.maintenance,
    })
  }

  static open(options: LogStoreOptions): LogStore {
    mkdirSync(options.dataDir, { recursive: true })
    const file = join(options.dataDir, databaseFileName)
    const db = openDatabase(file, options.nativeBinding === undefined ? {} : { nativeBinding: options.nativeBinding })
    try {
      migrate(db)
      const cleanShutdown = db.prepare("SELECT value FROM cairn_meta WHERE name = 'clean_shutdown'").pluck().get()
      const check = options.checkOnOpen ?? 'after-crash'
      if (check === 'always' || (check === 'after-crash' && cleanShutdown === 0)) quickCheck(db, file)
      db.prepare("INSERT OR REPLACE INTO cairn_meta (name, value) VALUES ('clean_shutdown', 0)").run()
      const store = new LogStore(db, file, options)
      store.#logger.info({ file, streams: store.#streams.size, cleanShutdown: cleanShutdown !== 0 }, 'log store opened')
      return store
    } catch (cause) {
      db.close()
      throw storageError(cause, `open log store ${file}`)
    }
  }

  /**
   * The connection itself, for broker modules that keep state beside the log (MQTT sessions, group
   * offsets, mirror cursors): they prepare statements on it, read freely, and write only inside
   * enqueueWrite() work so their state commits atomically with the appends of the same turn.
   */
  get database(): SqliteDatabase {
    return this.#db
  }

  // ---- streams ----

  createStream(name: string, settings: StreamSettings = {}): StreamInfo {
    this.#assertOpen()
    validateStreamName(name)
    if (this.#streams.has(name))
      throw new BrokerError('CAIRN_STREAM_EXISTS', `stream "${name}" already exists`, { details: { stream: name } })
    const config = resolveStreamConfig(name, settings)
    const createdMs = this.#clock.now()
    const entry = this.#write(`create stream "${name}"`, () => {
      const id = Number(
        this.#db
          .prepare('INSERT INTO stream (name, config, created_ms) VALUES (?, ?, ?)')
          .run(name, JSON.stringify(config), createdMs).lastInsertRowid,
      )
      const created: StreamEntry = { id, name, config, createdMs, partitions: [] }
      this.#addPartitionTables(created, config.partitions)
      return created
    })
    this.#streams.set(name, entry)
    this.#logger.info({ stream: name, config }, 'stream created')
    this.#streamsChanged()
    return this.#describe(entry)
  }

  listStreams(): StreamInfo[] {
    return [...this.#streams.values()].map((s) => this.#describe(s))
  }

  describeStream(name: string): StreamInfo {
    return this.#describe(this.#stream(name))
  }

  partitionCount(name: string): number {
    return this.#stream(name).partitions.length
  }

  /** Calls `listener` after a stream is created, altered, grown or deleted. */
  watchStreams(listener: () => void): () => void {
    this.#streamWatchers.add(listener)
    return () => this.#streamWatchers.delete(listener)
  }

  #streamsChanged(): void {
    for (const listener of this.#streamWatchers) listener()
  }

  hasStream(name: string): boolean {
    return this.#streams.has(name)
  }

  /** Changes retention, durability, cleanup policy or subjects; partitions only via addPartitions. */
  alterStream(name: string, settings: StreamSettings): StreamInfo {
    this.#assertOpen()
    const entry = this.#stream(name)
    if (settings.partitions !== undefined && settings.partitions !== entry.config.partitions) {
      throw new BrokerError('CAIRN_STREAM_CONFIG_INVALID', `stream "${name}": change partitions with addPartitions`, {
        details: { stream: name },
      })
    }
    const config = resolveStreamConfig(name, settings, entry.config)
    this.#write(`alter stream "${name}"`, () => {
      this.#db.prepare('UPDATE stream SET config = ? WHERE stream_id = ?').run(JSON.stringify(config), entry.id)
      if (config.cleanupPolicy === 'compact') for (const p of entry.partitions) createKeyIndex(this.#db, p.table)
    })
    entry.config = config
    for (const p of entry.partitions) {
      p.config = config
      p.compactionDirty = true
    }
    this.#streamsChanged()
    return this.#describe(entry)
  }

  /** Grows a stream to `total` partitions; existing partitions and their offsets are untouched. */
  addPartitions(name: string, total: number): StreamInfo {
    this.#assertOpen()
    const entry = this.#stream(name)
    const current = entry.partitions.length
    if (!Number.isSafeInteger(total) || total <= current) {
      throw new BrokerError(
        'CAIRN_STREAM_CONFIG_INVALID',
        `stream "${name}": partitions can only grow (has ${current}, asked ${total})`,
        {
          details: { stream: name },
        },
      )
    }
    const config = resolveStreamConfig(name, { partitions: total }, entry.config)
    this.#write(`add partitions to "${name}"`, () => {
      this.#db.prepare('UPDATE stream SET config = ? WHERE stream_id = ?').run(JSON.stringify(config), entry.id)
      this.#addPartitionTables(entry, total)
    })
    entry.config = config
    for (const p of entry.partitions) p.config = config
    this.#streamsChanged()
    return this.#describe(entry)
  }

  /** Deletes a stream and all its records; appends already accepted for it are committed first, then dropped with it. */
  deleteStream(name: string): void {
    this.#assertOpen()
    const entry = this.#stream(name)
    this.#flushNow()
    this.#write(`delete stream "${name}"`, () => {
      for (const p of entry.partitions) this.#db.exec(`DROP TABLE IF EXISTS ${p.table}`)
      this.#db.prepare('DELETE FROM segment_index WHERE stream_id = ?').run(entry.id)
      this.#db.prepare('DELETE FROM partition WHERE stream_id = ?').run(entry.id)
      this.#db.prepare('DELETE FROM stream WHERE stream_id = ?').run(entry.id)
    })
    this.#streams.delete(name)
    for (const p of entry.partitions) {
      p.dropped = true
      this.#holds.delete(p)
    }
    this.#logger.info({ stream: name }, 'stream deleted')
    this.#streamsChanged()
  }

  // ---- append ----

  /** Appends a batch to one partition; resolves after the group commit that contains it. */
  append(stream: string, partition: number, records: readonly RecordInput[]): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      this.appendWithCallback(stream, partition, records, (error, result) => {
        if (error !== null) reject(error)
        else resolve(result as AppendResult)
      })
    })
  }

  /**
   * The same as append() without a promise per call, for front ends on the hot path. The callback
   * runs once: after the commit, or with the error that refused or failed the batch.
   */
  appendWithCallback(
    stream: string,
    partition: number,
    records: readonly RecordInput[],
    callback: AppendCallback,
    durability?: Durability,
  ): void {
    let staged: StagedAppend
    try {
      staged = this.#prepare(stream, partition, records, durability)
    } catch (error) {
      callback(error as BrokerError)
      return
    }
    this.#stage(staged, callback)
    this.#afterStaging()
  }

  /**
   * Appends to several partitions and runs `work` (state beside the log: producer sequences, group
   * offsets) in one SQLite transaction: all of it commits or none of it does. `work` gets the
   * offsets the parts will have; it runs inside the commit, so if it throws the whole group commit
   * fails. The callback runs once, with every part's result in order or with the error.
   */
  appendAtomic(
    parts: readonly AtomicPart[],
    work: ((results: readonly AppendResult[]) => void) | null,
    durability: Durability | undefined,
    callback: (error: BrokerError | null, results?: AppendResult[]) => void,
  ): void {
    let staged: StagedAppend[]
    try {
      staged = parts.map((p) => this.#prepare(p.stream, p.partition, p.records, durability))
      if (new Set(staged.map((s) => s.target)).size !== staged.length) {
        throw new RangeError('appendAtomic: a partition appears twice')
      }
    } catch (error) {
      callback(error as BrokerError)
      return
    }
    const results: AppendResult[] = []
    let failed: BrokerError | null = null
    let waiting = staged.length + 1
    const done = (error: BrokerError | null): void => {
      if (error !== null) failed ??= error
      if (--waiting > 0) return
      if (failed !== null) callback(failed)
      else callback(null, results)
    }
    const planned = staged.map((s, i) =>
      this.#stage(s, (error, result) => {
        if (result !== undefined) results[i] = result
        done(error)
      }),
    )
    // State without records (offsets only) is committed durably; with records, as durably as they are.
    const strongest = staged.length === 0 || staged.some((s) => s.durability === 'fsync') ? 'fsync' : 'os'
    this.#pendingWrites.push({ work: () => work?.(planned), durability: strongest, callback: done, atomic: true })
    this.#afterStaging()
  }

  #prepare(stream: string, partition: number, records: readonly RecordInput[], durability?: Durability): StagedAppend {
    this.#assertOpen()
    this.#maintenance.assertCanAppend()
    const target = this.#partition(stream, partition)
    const encoded = this.#encode(target, records)
    // Weaker than the stream asks is allowed (acks: 1); stronger comes from the stream's own setting.
    const effective = durability === 'os' ? 'os' : target.config.durability
    return { target, encoded, records, durability: effective }
  }

  /** Hands out the offsets; the result describes what the commit will hold if it succeeds. */
  #stage(s: StagedAppend, callback: AppendCallback): AppendResult {
    const baseOffset = s.target.nextOffset
    s.target.nextOffset += s.encoded.length
    if (this.#pending.length === 0) this.metrics.batchStarted()
    this.#pending.push({
      partition: s.target,
      durability: s.durability,
      baseOffset,
      records: s.encoded,
      inputs: s.records,
      callback,
    })
    this.#pendingRecords += s.encoded.length
    return {
      baseOffset: BigInt(baseOffset),
      lastOffset: BigInt(baseOffset + s.encoded.length - 1),
      timestamp: (s.encoded[0] as EncodedRecord).timestamp,
    }
  }

  #afterStaging(): void {
    if (this.#pendingRecords >= this.#maxRecordsPerCommit) this.#flushNow()
    else this.#scheduleFlush()
  }

  /**
   * Runs `work` inside the next group commit, so broker state kept beside the log (sessions, group
   * offsets, cursors) commits with the appends of the same turn and costs no extra fsync. `work`
   * runs in a savepoint: if it throws, only it is rolled back and its callback gets the error.
   * It must be synchronous and must not call back into the store.
   */
  enqueueWrite(work: () => void, durability: Durability, callback: (error: BrokerError | null) => void): void {
    if (this.#closed) {
      callback(new BrokerError('CAIRN_STORE_CLOSED', 'the log store is closed'))
      return
    }
    this.#pendingWrites.push({ work, durability, callback })
    this.#scheduleFlush()
  }

  /** Calls `watcher` after every commit that appended to `stream` (live delivery, long-poll fetch). */
  watchAppends(stream: string, watcher: AppendWatcher): () => void {
    let set = this.#watchers.get(stream)
    if (set === undefined) this.#watchers.set(stream, (set = new Set()))
    set.add(watcher)
    return () => {
      set.delete(watcher)
      if (set.size === 0 && this.#watchers.get(stream) === set) this.#watchers.delete(stream)
    }
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return
    this.#flushScheduled = true
    setImmediate(this.#flushScheduledCommit)
  }

  /** Resolves once every append made before the call has been committed or failed. */
  flush(): Promise<void> {
    if (this.#pending.length === 0 && this.#pendingWrites.length === 0) return Promise.resolve()
    return new Promise((resolve) => this.#flushWaiters.push(resolve))
  }

  #flushScheduledCommit = (): void => {
    this.#flushScheduled = false
    this.#flushNow()
  }

  #flushNow(): void {
    const batch = this.#pending
    const writes = this.#pendingWrites
    if (batch.length === 0 && writes.length === 0) return
    this.#pending = []
    this.#pendingWrites = []
    this.#pendingRecords = 0
    const touched = new Map<PartitionLog, { row: PartitionRow; segment: SegmentStart }>()
    for (const { partition: p } of batch) {
      if (!touched.has(p)) touched.set(p, { row: p.snapshot(), segment: p.segment })
    }
    const writeErrors: Array<BrokerError | null> = []
    let appended: number
    const commitStartedMs = this.metrics.commitStarting()
    try {
      const fsync = batch.some((b) => b.durability === 'fsync') || writes.some((w) => w.durability === 'fsync')
      this.#setSynchronous(fsync ? 'FULL' : 'NORMAL')
      appended = this.#commitTransaction(batch, touched.keys(), writes, writeErrors)
    } catch (cause) {
      for (const [p, saved] of touched) p.restore(saved.row, saved.segment)
      // Later appends were queued after these offsets were handed out: they cannot commit either.
      const error = storageError(cause, `group commit of ${batch.length} append(s) and ${writes.length} write(s)`)
      this.#logger.error({ err: error, appends: batch.length, writes: writes.length }, 'group commit failed; refused')
      for (const b of batch) this.#callBack(() => b.callback(error))
      for (const w of writes) this.#callBack(() => w.callback(error))
      this.#maintenance.noteAppendFailure(error)
      this.#wakeFlushWaiters()
      return
    }
    this.metrics.committed(commitStartedMs, batch.length, appended)
    this.#stats.commits++
    this.#stats.appendedRecords += appended
    let appendedBytes = 0
    for (const [p, saved] of touched) {
      p.compactionDirty = true
      appendedBytes += p.appendedBytes - saved.row.appended_bytes
    }
    this.#checkpointer.noteCommit(appendedBytes)
    this.#maintenance.noteCommit(appendedBytes)
    writes.forEach((w, i) => this.#callBack(() => w.callback(writeErrors[i] ?? null)))
    for (const b of batch) {
      const first = b.records[0] as EncodedRecord
      const result = {
        baseOffset: BigInt(b.baseOffset),
        lastOffset: BigInt(b.baseOffset + b.records.length - 1),
        timestamp: first.timestamp,
      }
      this.#callBack(() => b.callback(null, result))
    }
    if (this.#watchers.size > 0) this.#notifyWatchers(batch)
    this.#wakeFlushWaiters()
  }

  /** One failing callback must not keep the others of the same commit from hearing about it. */
  #callBack(callback: () => void): void {
    try {
      callback()
    } catch (err) {
      this.#logger.error({ err }, 'append callback failed')
    }
  }

  #runInSavepoint(work: () => void): BrokerError | null {
    try {
      this.#db.transaction(work)()
      return null
    } catch (cause) {
      return storageError(cause, 'state write in group commit')
    }
  }

  #notifyWatchers(batch: readonly PendingAppend[]): void {
    for (const b of batch) {
      const stream = b.partition.streamName
      const watchers = this.#watchers.get(stream)
      if (watchers === undefined) continue
      const records = b.records.map((r, i): LogRecord => ({
        offset: BigInt(b.baseOffset + i),
        timestamp: r.timestamp,
        key: r.key,
        value: r.value,
        headers: [...(b.inputs[i]?.headers ?? [])],
        meta: b.inputs[i]?.meta,
      }))
      const event: CommittedBatch = {
        stream,
        partition: b.partition.partition,
        baseOffset: BigInt(b.baseOffset),
        records,
      }
      for (const watcher of watchers) {
        try {
          watcher(event)
        } catch (err) {
          // The decision point: a failing watcher must not undo or delay acknowledged appends.
          this.#logger.error({ err, stream }, 'append watcher failed')
        }
      }
    }
  }

  #wakeFlushWaiters(): void {
    if (this.#pending.length > 0 || this.#pendingWrites.length > 0 || this.#flushWaiters.length === 0) return
    const waiters = this.#flushWaiters
    this.#flushWaiters = []
    for (const wake of waiters) wake()
  }

  #encode(p: PartitionLog, records: readonly RecordInput[]): EncodedRecord[] {
    if (records.length === 0) {
      throw new BrokerError('CAIRN_RECORD_INVALID', 'append needs at least one record')
    }
    if (p.nextOffset + records.length > Number.MAX_SAFE_INTEGER) {
      throw new BrokerError('CAIRN_STORAGE_FAILED', `partition ${p.table} has exhausted its offsets`)
    }
    const now = this.#clock.now()
    const compacted = p.config.cleanupPolicy === 'compact'
    return records.map((r, i) => {
      const key = r.key ?? null
      const value = r.value
      if ((key !== null && !(key instanceof Uint8Array)) || (value !== null && !(value instanceof Uint8Array))) {
        throw new BrokerError('CAIRN_RECORD_INVALID', `record ${i}: key and value must be bytes or null`)
      }
      if (compacted && key === null) {
        throw new BrokerError('CAIRN_RECORD_INVALID', `record ${i}: a compacted stream needs a key on every record`)
      }
      const timestamp = r.timestamp ?? now
      if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
        throw new BrokerError(
          'CAIRN_RECORD_INVALID',
          `record ${i}: timestamp must be a non-negative integer of milliseconds`,
        )
      }
      const headers = encodeHeaders(r.headers)
      const meta = encodeMeta(r.meta)
      const bytes = (key?.length ?? 0) + (value?.length ?? 0) + (headers?.length ?? 0) + (meta?.length ?? 0)
      return { timestamp, key, value, headers, meta, bytes }
    })
  }

  #setSynchronous(mode: 'FULL' | 'NORMAL'): void {
    if (this.#synchronous === mode) return
    this.#db.pragma(`synchronous = ${mode}`)
    this.#synchronous = mode
  }

  // ---- read ----

  read(stream: string, partition: number, offset: bigint, options: ReadOptions = {}): ReadResult {
    this.#assertOpen()
    const p = this.#partition(stream, partition)
    const maxRecords = options.maxRecords ?? 500
    const maxBytes = options.maxBytes ?? 4 * 1024 * 1024
    if (!Number.isSafeInteger(maxRecords) || maxRecords < 1)
      throw new RangeError('maxRecords must be a positive integer')
    const from = toSafeOffset(offset) // outside the try: a bad argument is a TypeError, not a storage failure
    let result: { records: LogRecord[]; nextOffset: number }
    try {
      result = p.read(from, maxRecords, maxBytes)
    } catch (cause) {
      throw storageError(cause, `read ${stream}/${partition} at ${offset}`)
    }
    return {
      records: result.records,
      nextOffset: BigInt(result.nextOffset),
      logStartOffset: BigInt(p.logStartOffset),
      logEndOffset: BigInt(p.logEndOffset),
    }
  }

  /**
   * As read(), but the records as stored (RecordRow: offset as a number, headers and meta still CBOR),
   * for a reader that re-encodes them anyway (the mirror) and should not pay for objects it drops.
   */
  readRows(
    stream: string,
    partition: number,
    offset: bigint,
    options: Required<ReadOptions>,
  ): { rows: RecordRow[]; nextOffset: bigint } {
    this.#assertOpen()
    const p = this.#partition(stream, partition)
    if (!Number.isSafeInteger(options.maxRecords) || options.maxRecords < 1)
      throw new RangeError('maxRecords must be a positive integer')
    const from = toSafeOffset(offset)
    try {
      const { rows, nextOffset } = p.readRows(from, options.maxRecords, options.maxBytes)
      return { rows, nextOffset: BigInt(nextOffset) }
    } catch (cause) {
      throw storageError(cause, `read ${stream}/${partition} at ${offset}`)
    }
  }

  /** Bytes of the records from `offset` to the log end, as appended (for lag in bytes). */
  bytesFrom(stream: string, partition: number, offset: bigint): number {
    this.#assertOpen()
    const p = this.#partition(stream, partition)
    const from = offset > BigInt(p.logEndOffset) ? p.logEndOffset : toSafeOffset(offset)
    try {
      return p.bytesFrom(from)
    } catch (cause) {
      throw storageError(cause, `bytes of ${stream}/${partition} from ${offset}`)
    }
  }

  earliestOffset(stream: string, partition: number): bigint {
    return BigInt(this.#partition(stream, partition).logStartOffset)
  }

  latestOffset(stream: string, partition: number): bigint {
    return BigInt(this.#partition(stream, partition).logEndOffset)
  }

  /** The first record whose timestamp is >= `timestampMs`, or null if there is none. */
  offsetForTimestamp(stream: string, partition: number, timestampMs: number): TimestampLookup | null {
    this.#assertOpen()
    if (!Number.isFinite(timestampMs)) throw new RangeError('timestampMs must be a finite number')
    try {
      return this.#partition(stream, partition).offsetForTimestamp(Math.ceil(timestampMs))
    } catch (cause) {
      throw storageError(cause, `offset for timestamp in ${stream}/${partition}`)
    }
  }

  // ---- retention holds ----

  /**
   * Declares that `holder` (a mirror link, a consumer that must not miss data) still needs records
   * from `offset` on: retention and compaction leave offsets >= the lowest hold alone. `null` releases.
   * Holds live in memory; holders re-declare them at start from their own durable cursors.
   */
  setRetentionHold(holder: string, stream: string, partition: number, offset: bigint | null): void {
    this.#assertOpen()
    const p = this.#partition(stream, partition)
    let holds = this.#holds.get(p)
    if (offset === null) {
      holds?.delete(holder)
      if (holds?.size === 0) this.#holds.delete(p)
      this.#maintenance.holdReleased()
      return
    }
    if (holds === undefined) this.#holds.set(p, (holds = new Map<string, number>()))
    holds.set(holder, toSafeOffset(offset))
  }

  retentionHold(stream: string, partition: number): bigint | null {
    const hold = this.#holdFor(this.#partition(stream, partition))
    return hold === Infinity ? null : BigInt(hold)
  }

  #holdFor(p: PartitionLog): number {
    const holds = this.#holds.get(p)
    if (holds === undefined) return Infinity
    let lowest = Infinity
    for (const offset of holds.values()) if (offset < lowest) lowest = offset
    return lowest
  }

  // ---- maintenance ----

  /** Runs retention, the disk budget and compaction to completion now (they also run in the background). */
  async runMaintenance(): Promise<void> {
    this.#assertOpen()
    await this.flush()
    await this.#maintenance.runToCompletion()
  }

  checkpoint(mode: 'PASSIVE' | 'TRUNCATE' = 'PASSIVE'): void {
    this.#assertOpen()
    this.#checkpointer.checkpoint(mode)
  }

  stats(): StoreStats {
    this.#assertOpen()
    const pageSize = this.#db.pragma('page_size', { simple: true }) as number
    const pages = this.#db.pragma('page_count', { simple: true }) as number
    const free = this.#db.pragma('freelist_count', { simple: true }) as number
    return {
      usedBytes: (pages - free) * pageSize,
      fileBytes: pages * pageSize,
      freeBytes: free * pageSize,
      walBytes: this.#checkpointer.walBytes(),
      commits: this.#stats.commits,
      appendedRecords: this.#stats.appendedRecords,
      ...this.#maintenance.counters(),
    }
  }

  #usedBytes(): number {
    const pageSize = this.#db.pragma('page_size', { simple: true }) as number
    const pages = this.#db.pragma('page_count', { simple: true }) as number
    const free = this.#db.pragma('freelist_count', { simple: true }) as number
    return (pages - free) * pageSize
  }

  /** Stops intake, commits what is pending, checkpoints, marks a clean shutdown, closes the file. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#flushNow()
    this.#closed = true
    this.#maintenance.stop()
    this.#checkpointer.stop()
    await Promise.resolve()
    try {
      this.#checkpointer.checkpoint('TRUNCATE')
      this.#db.prepare("UPDATE cairn_meta SET value = 1 WHERE name = 'clean_shutdown'").run()
    } finally {
      this.#db.close()
      this.#logger.info({ file: this.file }, 'log store closed')
    }
  }

  // ---- internals ----

  #loadCatalog(): void {
    const streams = this.#db
      .prepare('SELECT stream_id, name, config, created_ms FROM stream ORDER BY stream_id')
      .all() as Array<{
      stream_id: number
      name: string
      config: string
      created_ms: number
    }>
    const partitionRows = this.#db.prepare('SELECT * FROM partition WHERE stream_id = ? ORDER BY partition')
    for (const s of streams) {
      const config = resolveStreamConfig(s.name, JSON.parse(s.config) as StreamSettings)
      const entry: StreamEntry = { id: s.stream_id, name: s.name, config, createdMs: s.created_ms, partitions: [] }
      for (const row of partitionRows.all(s.stream_id) as Array<PartitionRow & { partition: number }>) {
        this.#verifyPartition(s.name, s.stream_id, row)
        entry.partitions.push(new PartitionLog(this.#db, s.name, s.stream_id, row.partition, config, row))
      }
      this.#streams.set(s.name, entry)
    }
  }

  /** The partition row and its records table are written in one transaction; disagreement means damage. */
  #verifyPartition(name: string, streamId: number, row: PartitionRow & { partition: number }): void {
    const table = recordTableName(streamId, row.partition)
    const bounds = this.#db.prepare(`SELECT min(offset) AS first, max(offset) AS last FROM ${table}`).get() as {
      first: number | null
      last: number | null
    }
    if (
      bounds.last !== null &&
      (bounds.last >= row.log_end_offset || (bounds.first as number) < row.log_start_offset)
    ) {
      throw new BrokerError(
        'CAIRN_STORAGE_CORRUPT',
        `stream "${name}" partition ${row.partition}: records [${bounds.first}, ${bounds.last}] outside [${row.log_start_offset}, ${row.log_end_offset})`,
      )
    }
  }

  #addPartitionTables(entry: StreamEntry, total: number): void {
    const insert = this.#db.prepare(
      `INSERT INTO partition (stream_id, partition, log_start_offset, log_end_offset, record_count, live_bytes, appended_bytes, max_timestamp)
       VALUES (?, ?, 0, 0, 0, 0, 0, -1)`,
    )
    for (let partition = entry.partitions.length; partition < total; partition++) {
      createRecordTable(this.#db, recordTableName(entry.id, partition), entry.config.cleanupPolicy === 'compact')
      insert.run(entry.id, partition)
      const row: PartitionRow = {
        log_start_offset: 0,
        log_end_offset: 0,
        record_count: 0,
        live_bytes: 0,
        appended_bytes: 0,
        max_timestamp: -1,
      }
      entry.partitions.push(new PartitionLog(this.#db, entry.name, entry.id, partition, entry.config, row))
    }
  }

  #write<T>(operation: string, fn: () => T): T {
    try {
      this.#setSynchronous('FULL')
      return this.#db.transaction(fn)()
    } catch (cause) {
      throw storageError(cause, operation)
    }
  }

  #describe(entry: StreamEntry): StreamInfo {
    return {
      name: entry.name,
      config: { ...entry.config, subjects: [...entry.config.subjects] },
      createdMs: entry.createdMs,
      partitions: entry.partitions.map((p) => p.info()),
    }
  }

  #stream(name: string): StreamEntry {
    const entry = this.#streams.get(name)
    if (entry === undefined)
      throw new BrokerError('CAIRN_STREAM_NOT_FOUND', `unknown stream "${name}"`, { details: { stream: name } })
    return entry
  }

  #partition(stream: string, partition: number): PartitionLog {
    const p = this.#stream(stream).partitions[partition]
    if (p === undefined || !Number.isInteger(partition)) {
      throw new BrokerError('CAIRN_PARTITION_NOT_FOUND', `stream "${stream}" has no partition ${partition}`, {
        details: { stream, partition },
      })
    }
    return p
  }

  #allPartitions(): PartitionLog[] {
    return [...this.#streams.values()].flatMap((s) => s.partitions)
  }

  #assertOpen(): void {
    if (this.#closed) throw new BrokerError('CAIRN_STORE_CLOSED', 'the log store is closed')
  }
}

function toSafeOffset(offset: bigint): number {
  if (typeof offset !== 'bigint') throw new TypeError('offsets are bigint')
  if (offset < 0n || offset > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new BrokerError('CAIRN_OFFSET_OUT_OF_RANGE', `offset ${offset} is not a valid offset`, {
      details: { offset: offset.toString() },
    })
  }
  return Number(offset)
}

function quickCheck(db: Database.Database, file: string): void {
  const result = db.pragma('quick_check', { simple: true })
  if (result !== 'ok') {
    throw new BrokerError(
      'CAIRN_STORAGE_CORRUPT',
      `database ${file} failed quick_check: ${String(result)}; it was left as it is`,
      {
        details: { file, check: result },
      },
    )
  }
}
