import { BrokerError, isBrokerError } from '../errors.ts'

// SQLite result codes that mean "the file is not what it should be": reported, never repaired by wiping.
const corruptCodes = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB', 'SQLITE_CORRUPT_INDEX', 'SQLITE_CORRUPT_SEQUENCE'])
const fullCodes = new Set(['SQLITE_FULL', 'SQLITE_IOERR_WRITE', 'SQLITE_IOERR_FSYNC'])
const busyCodes = new Set(['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_BUSY_SNAPSHOT'])

/** Wraps a better-sqlite3 error with the operation that failed, keeping SQLite's code. */
export function storageError(cause: unknown, operation: string): BrokerError {
  if (isBrokerError(cause)) return cause
  const sqliteCode = (cause as { code?: unknown } | null)?.code
  const detail = cause instanceof Error ? cause.message : String(cause)
  const details = typeof sqliteCode === 'string' ? { sqliteCode } : {}
  if (typeof sqliteCode === 'string' && corruptCodes.has(sqliteCode)) {
    return new BrokerError('CAIRN_STORAGE_CORRUPT', `${operation}: database is damaged (${detail})`, { cause, details })
  }
  if (typeof sqliteCode === 'string' && fullCodes.has(sqliteCode)) {
    return new BrokerError('CAIRN_STORAGE_FULL', `${operation}: disk full or not writable (${detail})`, {
      cause,
      details,
    })
  }
  if (typeof sqliteCode === 'string' && busyCodes.has(sqliteCode)) {
    return new BrokerError('CAIRN_STORAGE_BUSY', `${operation}: database busy (${detail})`, { cause, details })
  }
  return new BrokerError('CAIRN_STORAGE_FAILED', `${operation}: ${detail}`, { cause, details })
}
