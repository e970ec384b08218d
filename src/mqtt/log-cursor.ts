import { hasErrorCode } from '../errors.ts'
import type { DeliveryHost } from './delivery-host.ts'
import { recordToMessage, type OutgoingMessage } from './message.ts'

/** Records one pump turn examines before yielding, so a long catch-up never starves other connections. */
const pumpTurnRecords = 2_000

export type ReadOutcome = 'caught-up' | 'blocked' | 'yield'

/**
 * The one log-reading loop of the MQTT front end, shared by sessions and shared groups: reads the
 * session stream from `cursors` (first unhandled offset per partition, advanced in place) and hands
 * each record to `take`. `take` returns false when it cannot take the record now; the cursor then
 * stays on it. Records deleted by retention are skipped and reported through `skipped`.
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
    let read
    try {
      read = host.store.read(host.sessionStream, partition, BigInt(from), { maxRecords: 256 })
    } catch (error) {
      if (!hasErrorCode(error, 'CAIRN_OFFSET_OUT_OF_RANGE')) throw error
      const earliest = Number(host.store.earliestOffset(host.sessionStream, partition))
      if (earliest > from) skipped(partition, from, earliest)
      cursors[partition] = Math.max(from, earliest)
      continue
    }
    for (const record of read.records) {
      const offset = Number(record.offset)
      if (!take(recordToMessage(record, partition), partition, offset)) {
        cursors[partition] = offset
        return 'blocked'
      }
      cursors[partition] = offset + 1
    }
    if (read.records.length === 0) cursors[partition] = Number(read.nextOffset)
    examined += read.records.length + 1
    if (examined >= pumpTurnRecords) return 'yield'
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
