import { hasErrorCode } from '../errors.ts'
import type { RecordRow } from '../log/partition-log.ts'
import type { DeliveryHost } from './delivery-host.ts'
import { rowToMessage, type OutgoingMessage } from './message.ts'

/** Records one pump turn examines before yielding, so a long catch-up never starves other connections. */
const pumpTurnRecords = 2_000
/** Records read per call by readFromCursors. */
const readBatchRecords = 256
/** Bytes (key + value) read per call at most; at least one record is always read. */
const readBatchBytes = 1024 * 1024

export type ReadOutcome = 'caught-up' | 'blocked' | 'yield'

/**
 * A shared group's log-reading loop: reads the session stream from `cursors` (first unhandled offset
 * per partition, advanced in place) and hands each record to `take`. `take` returns false when it
 * cannot take the record now; the cursor then stays on it. Records deleted by retention are skipped
 * and reported through `skipped`. Rows are decoded only as they are handed out.
 */
export function readFromCursors(
  host: DeliveryHost,
  cursors: number[],
  canTake: () => boolean,
  take: (message: OutgoingMessage | undefined, partition: number, offset: number) => boolean,
  skipped: (partition: number, from: number, to: number) => void,
): ReadOutcome {
  let examined = 0
  for (;;) {
    if (!canTake()) return 'blocked'
    const partition = nextBehindPartition(cursors, host.logEnds())
    if (partition === undefined) return 'caught-up'
    const from = cursors[partition] as number
    const read = readRows(host, partition, from, readBatchRecords, readBatchBytes, skipped, cursors)
    if (read === undefined) continue
    for (const row of read.rows) {
      const offset = row[0]
      if (!take(rowToMessage(row, partition), partition, offset)) {
        cursors[partition] = offset
        return 'blocked'
      }
      cursors[partition] = offset + 1
    }
    if (read.rows.length === 0) cursors[partition] = read.nextOffset
    examined += read.rows.length + 1
    if (examined >= pumpTurnRecords) return 'yield'
  }
}

/**
 * A session's read: the next chunk (at most `maxRecords` and about `maxBytes`) of the first partition
 * behind its log end, every message handed to `take` (which keeps it) and the cursor moved past it.
 * Returns the number of records read, or 'caught-up' when no partition is behind.
 */
export function readChunk(
  host: DeliveryHost,
  cursors: number[],
  maxRecords: number,
  maxBytes: number,
  take: (message: OutgoingMessage, partition: number, offset: number) => void,
  skipped: (partition: number, from: number, to: number) => void,
): number | 'caught-up' {
  for (;;) {
    const partition = nextBehindPartition(cursors, host.logEnds())
    if (partition === undefined) return 'caught-up'
    const from = cursors[partition] as number
    const read = readRows(host, partition, from, maxRecords, maxBytes, skipped, cursors)
    if (read === undefined) continue
    for (const row of read.rows) {
      const message = rowToMessage(row, partition)
      if (message !== undefined) take(message, partition, row[0])
    }
    cursors[partition] = read.nextOffset
    return read.rows.length
  }
}

/** Stored rows from `from`; undefined (cursor moved to the log start) if retention deleted them. */
function readRows(
  host: DeliveryHost,
  partition: number,
  from: number,
  maxRecords: number,
  maxBytes: number,
  skipped: (partition: number, from: number, to: number) => void,
  cursors: number[],
): { rows: RecordRow[]; nextOffset: number } | undefined {
  try {
    const read = host.store.readRows(host.sessionStream, partition, BigInt(from), { maxRecords, maxBytes })
    return { rows: read.rows, nextOffset: Number(read.nextOffset) }
  } catch (error) {
    if (!hasErrorCode(error, 'CAIRN_OFFSET_OUT_OF_RANGE')) throw error
    const earliest = Number(host.store.earliestOffset(host.sessionStream, partition))
    if (earliest > from) skipped(partition, from, earliest)
    cursors[partition] = Math.max(from, earliest)
    return undefined
  }
}

/** The first partition whose cursor is behind its log end; fills cursors for partitions added since. */
function nextBehindPartition(cursors: number[], ends: readonly number[]): number | undefined {
  for (let p = 0; p < ends.length; p++) {
    const end = ends[p] as number
    const cursor = cursors[p] ?? 0
    cursors[p] = Math.min(cursor, end) // above the end only if the stream was recreated under us
    if (cursor < end) return p
  }
  return undefined
}
