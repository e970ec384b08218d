// The baseline: plain better-sqlite3 on a table shaped like a store partition, with the store's
// pragmas and the store's checkpoint cadence, and nothing else (no catalog row, no segment index,
// no group-commit queue, no promises).

import { statSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import Database from 'better-sqlite3'
import type { Durability } from '../../src/log/types.ts'

export interface CheckpointCadence {
  intervalMs: number
  passiveAfterBytes: number
  truncateAboveBytes: number
}

/** Runs for `ms` (or until `maxRecords`), one transaction per `batch` records; returns what was committed. */
export interface RawWriter {
  insertFor(ms: number, maxRecords: number): { records: number; seconds: number; checkpoints: number }
  close(): void
}

/** The pragmas of src/log/open-database.ts, set here by hand so the baseline does not depend on the store. */
function openRaw(file: string, durability: Durability): Database.Database {
  const db = new Database(file)
  db.pragma('auto_vacuum = INCREMENTAL')
  if (db.pragma('journal_mode = WAL', { simple: true }) !== 'wal') throw new Error(`${file}: WAL did not take effect`)
  db.pragma('wal_autocheckpoint = 0')
  db.pragma(`synchronous = ${durability === 'fsync' ? 'FULL' : 'NORMAL'}`)
  db.pragma('busy_timeout = 5000')
  db.pragma('cache_size = -8192')
  db.pragma('foreign_keys = OFF')
  return db
}

export function openRawWriter(
  file: string,
  durability: Durability,
  batch: number,
  value: Uint8Array,
  cadence: CheckpointCadence,
): RawWriter {
  const db = openRaw(file, durability)
  db.exec(`CREATE TABLE rec (
    offset  INTEGER PRIMARY KEY,
    ts      INTEGER NOT NULL,
    key     BLOB,
    value   BLOB,
    headers BLOB,
    meta    BLOB
  ) STRICT`)
  const insert = db.prepare('INSERT INTO rec (offset, ts, key, value, headers, meta) VALUES (?, ?, ?, ?, ?, ?)')
  const insertBatch = db.transaction((base: number, ts: number) => {
    for (let i = 0; i < batch; i++) insert.run(base + i, ts, null, value, null, null)
  })
  const walFile = `${file}-wal`
  let nextOffset = 0
  let bytesSinceCheckpoint = 0
  let lastTick = performance.now()
  let checkpoints = 0
  const checkpoint = (mode: 'PASSIVE' | 'TRUNCATE'): void => {
    db.pragma(`wal_checkpoint(${mode})`)
    bytesSinceCheckpoint = 0
    checkpoints++
  }
  const walBytes = (): number => {
    try {
      return statSync(walFile).size
    } catch {
      return 0
    }
  }
  return {
    insertFor(ms, maxRecords) {
      const start = performance.now()
      const end = start + ms
      const checkpointsBefore = checkpoints
      let records = 0
      let now = start
      while (now < end && records < maxRecords) {
        insertBatch(nextOffset, Date.now())
        nextOffset += batch
        records += batch
        // checkpointer.ts: PASSIVE as soon as passiveAfterBytes of records were committed...
        bytesSinceCheckpoint += batch * value.length
        if (bytesSinceCheckpoint >= cadence.passiveAfterBytes) checkpoint('PASSIVE')
        now = performance.now()
        // ...and on an interval timer: TRUNCATE above truncateAboveBytes of WAL, else PASSIVE if anything was written.
        if (now - lastTick >= cadence.intervalMs) {
          lastTick = now
          if (walBytes() > cadence.truncateAboveBytes) checkpoint('TRUNCATE')
          else if (bytesSinceCheckpoint > 0) checkpoint('PASSIVE')
          now = performance.now()
        }
      }
      return { records, seconds: (now - start) / 1000, checkpoints: checkpoints - checkpointsBefore }
    },
    close() {
      db.pragma('wal_checkpoint(TRUNCATE)')
      db.close()
    },
  }
}

/** Reads a store partition's table directly (a second, read-only connection to the store's file). */
export interface RawReader {
  readFor(ms: number, endOffset: number): { records: number; bytes: number; seconds: number }
  close(): void
}

export function openRawReader(file: string, stream: string, partition: number, chunk: number): RawReader {
  const db = new Database(file, { readonly: true })
  db.pragma('cache_size = -8192') // the store connection's page cache
  const streamId = db.prepare('SELECT stream_id FROM stream WHERE name = ?').pluck().get(stream) as number | undefined
  if (streamId === undefined) throw new Error(`no stream ${stream} in ${file}`)
  // The store's own table (schema.ts recordTableName) and the statement PartitionLog.read runs.
  const select = db
    .prepare(
      `SELECT offset, ts, key, value, headers, meta FROM rec_${streamId}_${partition} WHERE offset >= ? ORDER BY offset LIMIT ?`,
    )
    .raw(true)
  type Row = [number, number, Uint8Array | null, Uint8Array | null, Uint8Array | null, Uint8Array | null]
  return {
    readFor(ms, endOffset) {
      const start = performance.now()
      const end = start + ms
      let offset = 0
      let records = 0
      let bytes = 0
      let now = start
      while (now < end && offset < endOffset) {
        const rows = select.all(offset, chunk) as Row[]
        if (rows.length === 0) break
        for (const row of rows) bytes += row[3]?.length ?? 0
        records += rows.length
        offset = (rows.at(-1) as Row)[0] + 1
        now = performance.now()
      }
      return { records, bytes, seconds: (now - start) / 1000 }
    },
    close() {
      db.close()
    },
  }
}
