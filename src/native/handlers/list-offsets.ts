import { toNativeFailure } from '../status.ts'
import type { OpResponse } from '../wire/ops.ts'
import type { Handler } from './index.ts'

type ListedOffset = OpResponse<'listOffsets'>['partitions'][number]

/** Earliest, latest, or the first record at or after a time (none: the log end, without a timestamp). */
export const handleListOffsets: Handler<'listOffsets'> = ({ frontEnd: { store } }, body) => ({
  partitions: body.partitions.map(({ stream, partition, at }): ListedOffset => {
    try {
      if ('earliest' in at) return { stream, partition, offset: store.earliestOffset(stream, partition) }
      if ('latest' in at) return { stream, partition, offset: store.latestOffset(stream, partition) }
      const found = store.offsetForTimestamp(stream, partition, at.timestamp)
      if (found === null) return { stream, partition, offset: store.latestOffset(stream, partition) }
      return { stream, partition, offset: found.offset, timestamp: found.timestamp }
    } catch (error) {
      return { stream, partition, error: toNativeFailure(error).error }
    }
  }),
})
