import Database from 'better-sqlite3'
import { BrokerError } from '../errors.ts'
import { storageError } from './storage-error.ts'

export type SqliteDatabase = Database.Database

export interface OpenDatabaseOptions {
  /** Path to better-sqlite3's native addon (the single binary extracts it from a SEA asset). */
  nativeBinding?: string
  /** SQLite page cache per connection; small by default because gateways are small. */
  cacheKib?: number
}

/**
 * Opens the broker's one database file with the pragmas the log relies on, and verifies that they
 * took effect: a WAL that silently stayed in rollback mode would turn every commit into two fsyncs
 * and every reader into a writer's obstacle.
 */
export function openDatabase(file: string, options: OpenDatabaseOptions = {}): SqliteDatabase {
  let db: SqliteDatabase
  try {
    // No waiting on locks while opening: a file another process holds is refused at once (holdExclusively).
    db = new Database(file, {
      timeout: 0,
      ...(options.nativeBinding === undefined ? {} : { nativeBinding: options.nativeBinding }),
    })
  } catch (cause) {
    throw storageError(cause, `open database ${file}`)
  }
  try {
    // Must precede the first table: free pages can then be handed back to the file system in
    // small steps (incremental_vacuum) instead of one long VACUUM.
    db.pragma('auto_vacuum = INCREMENTAL')
    const journalMode = db.pragma('journal_mode = WAL', { simple: true })
    if (journalMode !== 'wal') {
      throw new BrokerError(
        'CAIRN_STORAGE_FAILED',
        `database ${file}: journal_mode=WAL did not take effect (got ${String(journalMode)})`,
      )
    }
    // We own checkpointing (see checkpointer.ts): SQLite's automatic one runs inside a commit.
    db.pragma('wal_autocheckpoint = 0')
    db.pragma('synchronous = FULL')
    db.pragma(`cache_size = -${options.cacheKib ?? 8192}`)
    db.pragma('foreign_keys = OFF')
    holdExclusively(db)
    db.pragma('busy_timeout = 5000')
    return db
  } catch (cause) {
    db.close()
    throw (cause as { code?: unknown }).code === 'SQLITE_BUSY'
      ? inUse(file, cause)
      : storageError(cause, `open database ${file}`)
  }
}

function inUse(file: string, cause: unknown): BrokerError {
  return new BrokerError(
    'CAIRN_STORAGE_BUSY',
    `database ${file} is in use by another process (is another cairn serve running on this data directory?)`,
    { cause, details: { sqliteCode: 'SQLITE_BUSY' } },
  )
}

/**
 * One broker per database: a second process writing the same file would hand out the same offsets
 * from its own in-memory state. EXCLUSIVE locking keeps SQLite's write lock for the life of the
 * connection (the OS drops it when the process dies, kill -9 included), so a second open fails at
 * once instead of corrupting the log. It also keeps the WAL index in memory (no -shm file).
 */
function holdExclusively(db: SqliteDatabase): void {
  db.pragma('locking_mode = EXCLUSIVE')
  db.exec('BEGIN IMMEDIATE; COMMIT')
}
