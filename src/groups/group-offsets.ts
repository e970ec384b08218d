import type Database from 'better-sqlite3'
import type { SqliteDatabase } from '../log/open-database.ts'

export interface StoredOffset {
  stream: string
  partition: number
  /** The next offset to consume (Kafka semantics). */
  offset: bigint
  metadata: string
  commitMs: number
}

export interface OffsetWrite {
  stream: string
  partition: number
  offset: bigint
  metadata?: string
}

interface OffsetRow {
  stream: string
  partition: bigint
  committed_offset: bigint
  metadata: string
  commit_ms: bigint
}

/**
 * Committed group offsets, in the broker's one database so that a transaction's records and the
 * offsets it consumed commit atomically. The write methods are plain SQL: callers run them inside
 * LogStore.enqueueWrite work. Reads see committed state only.
 */
export class GroupOffsets {
  readonly #upsert: Database.Statement
  readonly #get: Database.Statement
  readonly #list: Database.Statement
  readonly #groups: Database.Statement
  readonly #hasGroup: Database.Statement
  readonly #streams: Database.Statement
  readonly #deleteGroup: Database.Statement
  readonly #deleteStream: Database.Statement

  constructor(db: SqliteDatabase) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS group_offset (
        group_name       TEXT NOT NULL,
        stream           TEXT NOT NULL,
        partition        INTEGER NOT NULL,
        committed_offset INTEGER NOT NULL,
        metadata         TEXT NOT NULL,
        commit_ms        INTEGER NOT NULL,
        PRIMARY KEY (group_name, stream, partition)
      ) STRICT, WITHOUT ROWID;
    `)
    this.#upsert = db.prepare(
      `INSERT OR REPLACE INTO group_offset (group_name, stream, partition, committed_offset, metadata, commit_ms)
       VALUES (?, ?, ?, ?, ?, ?)`,
    )
    // Offsets are 64-bit: read them as bigint so nothing rounds silently.
    this.#get = db
      .prepare('SELECT * FROM group_offset WHERE group_name = ? AND stream = ? AND partition = ?')
      .safeIntegers(true)
    this.#list = db
      .prepare('SELECT * FROM group_offset WHERE group_name = ? ORDER BY stream, partition')
      .safeIntegers(true)
    this.#groups = db.prepare('SELECT DISTINCT group_name FROM group_offset ORDER BY group_name').pluck()
    this.#hasGroup = db.prepare('SELECT 1 FROM group_offset WHERE group_name = ? LIMIT 1').pluck()
    this.#streams = db.prepare('SELECT DISTINCT stream FROM group_offset').pluck()
    this.#deleteGroup = db.prepare('DELETE FROM group_offset WHERE group_name = ?')
    this.#deleteStream = db.prepare('DELETE FROM group_offset WHERE stream = ?')
  }

  /** Inside enqueueWrite work only. */
  write(group: string, offsets: readonly OffsetWrite[], commitMs: number): void {
    for (const o of offsets) {
      this.#upsert.run(group, o.stream, o.partition, o.offset, o.metadata ?? '', commitMs)
    }
  }

  get(group: string, stream: string, partition: number): StoredOffset | undefined {
    const row = this.#get.get(group, stream, partition) as OffsetRow | undefined
    return row === undefined ? undefined : toStored(row)
  }

  list(group: string): StoredOffset[] {
    return (this.#list.all(group) as OffsetRow[]).map(toStored)
  }

  /** Every group with at least one committed offset, by name. */
  groups(): string[] {
    return this.#groups.all() as string[]
  }

  hasGroup(group: string): boolean {
    return this.#hasGroup.get(group) !== undefined
  }

  /** Streams that some group has offsets for. */
  streams(): string[] {
    return this.#streams.all() as string[]
  }

  /** Inside enqueueWrite work only. */
  deleteGroup(group: string): void {
    this.#deleteGroup.run(group)
  }

  /** Inside enqueueWrite work only. */
  deleteStream(stream: string): void {
    this.#deleteStream.run(stream)
  }
}

function toStored(row: OffsetRow): StoredOffset {
  return {
    stream: row.stream,
    partition: Number(row.partition),
    offset: row.committed_offset,
    metadata: row.metadata,
    commitMs: Number(row.commit_ms),
  }
}
