// Growth trends over the second half of a soak: a least-squares line through (time, value), its slope
// per hour. The first half is left out because a broker warms up (V8 sizes its heap, SQLite its page
// cache, the WAL reaches its working size); what must not happen is growth once it has settled.
import type { Sample } from './sampler.ts'

const msPerHour = 3_600_000

export interface Trend {
  series: string
  unit: string
  samples: number
  first: number
  median: number
  max: number
  last: number
  /** Of the second half, in `unit` per hour. */
  slopePerHour: number
  limitPerHour: number
  growing: boolean
}

export interface TrendLimits {
  rssMiBPerHour: number
  fdsPerHour: number
  walMiBPerHour: number
}

const mib = 1024 * 1024

export function fitTrends(samples: readonly Sample[], limits: TrendLimits): Trend[] {
  const half = samples.slice(Math.floor(samples.length / 2))
  const trend = (
    series: string,
    unit: string,
    value: (s: Sample) => number,
    limitPerHour: number | undefined,
  ): Trend => {
    const all = samples.map(value)
    const slopePerHour = slope(
      half.map((s) => s.atMs / msPerHour),
      half.map(value),
    )
    return {
      series,
      unit,
      samples: all.length,
      first: all[0] ?? NaN,
      median: median(all),
      max: Math.max(...all),
      last: all.at(-1) ?? NaN,
      slopePerHour,
      limitPerHour: limitPerHour ?? Infinity,
      // NaN (too few samples) is not evidence of growth; the caller checks the sample count.
      growing: limitPerHour !== undefined && slopePerHour > limitPerHour,
    }
  }
  return [
    trend('RSS', 'MiB', (s) => s.rssBytes / mib, limits.rssMiBPerHour),
    trend('open fds', 'fds', (s) => s.openFds, limits.fdsPerHour),
    trend('WAL', 'MiB', (s) => s.walBytes / mib, limits.walMiBPerHour),
    // Reported, not judged: the log keeps everything for 7 days, so the file grows with the data.
    trend('V8 heap used', 'MiB', (s) => s.heapUsedBytes / mib, undefined),
    trend('V8 heap total', 'MiB', (s) => s.heapTotalBytes / mib, undefined),
    trend('DB file', 'MiB', (s) => s.dbFileBytes / mib, undefined),
    trend('MQTT clients', 'clients', (s) => s.mqttClients, undefined),
    trend('MQTT sessions', 'sessions', (s) => s.mqttSessions, undefined),
    trend('mirror lag', 'records', (s) => s.mirrorLagRecords, undefined),
  ]
}

/** Least-squares slope of y over x; NaN with fewer than 3 points. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = Math.min(xs.length, ys.length)
  if (n < 3) return NaN
  let sx = 0
  let sy = 0
  for (let i = 0; i < n; i++) {
    sx += xs[i] as number
    sy += ys[i] as number
  }
  const mx = sx / n
  const my = sy / n
  let sxy = 0
  let sxx = 0
  for (let i = 0; i < n; i++) {
    const dx = (xs[i] as number) - mx
    sxy += dx * ((ys[i] as number) - my)
    sxx += dx * dx
  }
  return sxx === 0 ? NaN : sxy / sxx
}

function median(values: readonly number[]): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}
