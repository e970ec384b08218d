import type { SqliteDatabase } from './open-database.ts'

/**
 * One database file holds the whole broker, so any combination of log appends, group offsets,
 * sessions and mirror cursors can commit atomically. Records live in one rowid table per partition
 * with rowid = offset: range reads and prefix deletes (retention) are B-tree range operations, and
 * one table per partition measured faster than one shared table (architecture.md).
 *
 * segment_index is a sparse index written every `segmentRecords` records or `segmentBytes` bytes:
 * each entry is a batch boundary with the running maximum timestamp and the cumulative bytes
 * appended before it. It answers offset-for-timestamp in O(log n) and gives retention its cut points.
 */
export const schemaVersion = 1

export function migrate(db: SqliteDatabase): void {
  const version = db.pragma('user_version', { simple: true }) as number
  if (version > schemaVersion) {
    throw new Error(`database schema version ${version} is newer than this Cairn (${schemaVersion}); upgrade Cairn`)
  }
  if (version === schemaVersion) return
  db.transaction(() => {
    db.exec(`
      CREATE TABLE IF NOT EXISTS cairn_meta (name TEXT PRIMARY KEY, value ANY) STRICT;
      CREATE TABLE IF NOT EXISTS stream (
        stream_id  INTEGER PRIMARY KEY AUTOINCREMENT,
        name       TEXT NOT NULL UNIQUE,
        config     TEXT NOT NULL,
        created_ms INTEGER NOT NULL
      ) STRICT;
      CREATE TABLE IF NOT EXISTS partition (
        stream_id         INTEGER NOT NULL,
        partition         INTEGER NOT NULL,
        log_start_offset  INTEGER NOT NULL,
        log_end_offset    INTEGER NOT NULL,
        record_count      INTEGER NOT NULL,
        live_bytes        INTEGER NOT NULL,
        appended_bytes    INTEGER NOT NULL,
        max_timestamp     INTEGER NOT NULL,
        PRIMARY KEY (stream_id, partition)
      ) STRICT, WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS segment_index (
        stream_id     INTEGER NOT NULL,
        partition     INTEGER NOT NULL,
        base_offset   INTEGER NOT NULL,
        max_ts_before INTEGER NOT NULL,
        bytes_before  INTEGER NOT NULL,
        PRIMARY KEY (stream_id, partition, base_offset)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS segment_index_by_time
        ON segment_index (stream_id, partition, max_ts_before, base_offset);
    `)
    db.pragma(`user_version = ${schemaVersion}`)
  })()
}

export function recordTableName(streamId: number, partition: number): string {
  return `rec_${streamId}_${partition}`
}

export function createRecordTable(db: SqliteDatabase, table: string, compacted: boolean): void {
  db.exec(
    `CREATE TABLE IF NOT EXISTS ${table} (
       offset  INTEGER PRIMARY KEY,
       ts      INTEGER NOT NULL,
       key     BLOB,
       value   BLOB,
       headers BLOB,
       meta    BLOB
     ) STRICT`,
  )
  if (compacted) createKeyIndex(db, table)
}

/** Only compacted partitions pay for a key index: compaction asks "is there a later record with this key?". */
export function createKeyIndex(db: SqliteDatabase, table: string): void {
  db.exec(`CREATE INDEX IF NOT EXISTS ${table}_key ON ${table} (key, offset)`)
}
