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
    db = new Database(file, options.nativeBinding === undefined ? {} : { nativeBinding: options.nativeBinding })
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
    db.pragma('busy_timeout = 5000')
    db.pragma(`cache_size = -${options.cacheKib ?? 8192}`)
    db.pragma('foreign_keys = OFF')
    return db
  } catch (cause) {
    db.close()
    throw storageError(cause, `open database ${file}`)
  }
}
