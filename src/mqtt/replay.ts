import type { LogStore } from '../log/log-store.ts'

/**
 * The replay extension: a subscription that first receives history from the session stream, then
 * continues live. MQTT 5: SUBSCRIBE user property `cairn-replay`; MQTT 3.1.1: a `$replay/<spec>/`
 * prefix on the topic filter. <spec> is `earliest`, an epoch-milliseconds number, an ISO-8601 time
 * (`2026-11-21T10:00:00Z`), or a duration back from now (`-90s`, `-15m`, `-1h`, `-7d`).
 */
export const replayUserProperty = 'cairn-replay'
export const replayFilterPrefix = '$replay/'
/** Set on replayed deliveries (v5): the record's original timestamp in epoch milliseconds. */
export const timestampUserProperty = 'cairn-timestamp'

const durationUnitsMs: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }

export type ReplayStart = { kind: 'earliest' } | { kind: 'time'; timestampMs: number }

export function parseReplaySpec(spec: string, nowMs: number): ReplayStart | undefined {
  if (spec === 'earliest') return { kind: 'earliest' }
  const duration = /^-(\d+)([smhd])$/.exec(spec)
  if (duration !== null)
    return {
      kind: 'time',
      timestampMs: nowMs - Number(duration[1]) * (durationUnitsMs[duration[2] as string] as number),
    }
  if (/^\d+$/.test(spec)) return { kind: 'time', timestampMs: Number(spec) }
  const parsed = Date.parse(spec)
  return Number.isNaN(parsed) ? undefined : { kind: 'time', timestampMs: parsed }
}

/** Splits `$replay/<spec>/<filter>` (3.1.1 form); undefined when the filter has no replay prefix. */
export function splitReplayFilter(filter: string): { spec: string; filter: string } | undefined {
  if (!filter.startsWith(replayFilterPrefix)) return undefined
  const rest = filter.slice(replayFilterPrefix.length)
  const slash = rest.indexOf('/')
  if (slash <= 0) return { spec: rest, filter: '' }
  return { spec: rest.slice(0, slash), filter: rest.slice(slash + 1) }
}

/** First offset per partition of `stream` at which the replay starts. */
export function replayStartOffsets(store: LogStore, stream: string, start: ReplayStart): number[] {
  const offsets: number[] = []
  for (let p = 0; p < store.partitionCount(stream); p++) {
    if (start.kind === 'earliest') {
      offsets.push(Number(store.earliestOffset(stream, p)))
      continue
    }
    const found = store.offsetForTimestamp(stream, p, start.timestampMs)
    offsets.push(Number(found?.offset ?? store.latestOffset(stream, p)))
  }
  return offsets
}
