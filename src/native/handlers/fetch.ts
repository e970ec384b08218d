import type { LogRecord } from '../../log/types.ts'
import { toNativeFailure } from '../status.ts'
import type { OpRequest, OpResponse, RecordOutBody } from '../wire/ops.ts'
import type { Handler, NativeContext } from './index.ts'

type FetchResponse = OpResponse<'fetch'>
type FetchPartition = FetchResponse['partitions'][number]

/** Room left in a response frame for the envelope and per-record framing around the record bytes. */
const frameSlackBytes = 64 * 1024
const defaultFetchBytes = 4 * 1024 * 1024
const defaultPartitionBytes = 1024 * 1024
/** A long-poll is bounded so a forgotten request cannot pin a watcher forever. */
const maxWaitBoundMs = 300_000
const maxRecordsPerPartition = 10_000

function recordOut(r: LogRecord): RecordOutBody {
  return [
    r.offset,
    r.timestamp,
    r.key,
    r.value,
    r.headers.map((h): [string, Uint8Array] => [h.key, h.value]),
    r.meta ?? null,
  ]
}

function readAll(ctx: NativeContext, body: OpRequest<'fetch'>): { response: FetchResponse; records: number } {
  const { store, maxFrameBytes } = ctx.frontEnd
  let budget = Math.min(body.maxBytes ?? defaultFetchBytes, maxFrameBytes - frameSlackBytes)
  let records = 0
  const partitions = body.partitions.map((p): FetchPartition => {
    try {
      if (budget <= 0) {
        // Over budget: report positions only, so the client fetches this partition next time.
        const start = store.earliestOffset(p.stream, p.partition)
        const end = store.latestOffset(p.stream, p.partition)
        return {
          stream: p.stream,
          partition: p.partition,
          records: [],
          nextOffset: p.offset,
          logStartOffset: start,
          logEndOffset: end,
        }
      }
      const read = store.read(p.stream, p.partition, p.offset, {
        maxBytes: Math.min(p.maxBytes ?? defaultPartitionBytes, budget),
        maxRecords: maxRecordsPerPartition,
      })
      for (const r of read.records) budget -= (r.key?.length ?? 0) + (r.value?.length ?? 0) + 32
      records += read.records.length
      return {
        stream: p.stream,
        partition: p.partition,
        records: read.records.map(recordOut),
        nextOffset: read.nextOffset,
        logStartOffset: read.logStartOffset,
        logEndOffset: read.logEndOffset,
      }
    } catch (error) {
      return {
        stream: p.stream,
        partition: p.partition,
        records: [],
        nextOffset: p.offset,
        logStartOffset: 0n,
        logEndOffset: 0n,
        error: toNativeFailure(error).error,
      }
    }
  })
  ctx.frontEnd.counters.messagesSent += records
  return { response: { partitions }, records }
}

/**
 * Fetch: reads each requested partition from its offset. With nothing to return and `maxWaitMs`,
 * it long-polls: the answer goes out as soon as a commit appends to one of the partitions (the
 * store's append watchers), or when the time is up.
 */
export const handleFetch: Handler<'fetch'> = (ctx, body) => {
  const first = readAll(ctx, body)
  const maxWaitMs = Math.min(body.maxWaitMs ?? 0, maxWaitBoundMs)
  const anyError = first.response.partitions.some((p) => p.error !== undefined)
  if (first.records > 0 || maxWaitMs === 0 || anyError) return first.response
  const { store, clock } = ctx.frontEnd
  const wanted = new Set(body.partitions.map((p) => `${p.stream}\u0000${p.partition}`))
  return new Promise<FetchResponse>((resolve) => {
    const cleanups: Array<() => void> = []
    let done = false
    const finish = (): void => {
      if (done) return
      done = true
      for (const cleanup of cleanups) cleanup()
      resolve(readAll(ctx, body).response)
    }
    for (const stream of new Set(body.partitions.map((p) => p.stream))) {
      cleanups.push(
        store.watchAppends(stream, (batch) => {
          if (wanted.has(`${batch.stream}\u0000${batch.partition}`)) finish()
        }),
      )
    }
    const timer = clock.setTimeout(finish, maxWaitMs)
    cleanups.push(() => clock.clearTimeout(timer))
    // A closed connection needs no answer; just let go of the watchers and the timer.
    cleanups.push(
      ctx.onClose(() => {
        done = true
        for (const cleanup of cleanups) cleanup()
      }),
    )
  })
}
