import type { HistogramSample } from './registry.ts'

/**
 * A Prometheus histogram with fixed buckets. observe() is meant for hot paths: a linear scan of a
 * dozen bounds and three additions into preallocated storage, no allocation, no label lookup.
 * Labels are fixed per instance: a labelled family is one Histogram per label set, resolved once.
 */
export class Histogram {
  /** Upper bounds (inclusive, Prometheus' `le`), ascending; +Inf is implied. */
  readonly bounds: readonly number[]
  /** Per bucket, not cumulative; the last slot counts values above every bound. */
  readonly #counts: Float64Array
  #sum = 0
  #count = 0

  constructor(bounds: readonly number[]) {
    for (let i = 0; i < bounds.length; i++) {
      const bound = bounds[i] as number
      if (!Number.isFinite(bound) || (i > 0 && bound <= (bounds[i - 1] as number))) {
        throw new RangeError(`histogram bounds must be finite and strictly ascending: ${bounds.join(', ')}`)
      }
    }
    this.bounds = [...bounds]
    this.#counts = new Float64Array(bounds.length + 1)
  }

  observe(value: number): void {
    this.observeMany(value, 1)
  }

  /** `times` observations of the same value (the appends of one group commit share their wait). */
  observeMany(value: number, times: number): void {
    const bounds = this.bounds
    let i = 0
    while (i < bounds.length && value > (bounds[i] as number)) i++
    this.#counts[i] = (this.#counts[i] as number) + times
    this.#sum += value * times
    this.#count += times
  }

  get count(): number {
    return this.#count
  }

  get sum(): number {
    return this.#sum
  }

  /** The state as Prometheus wants it: cumulative counts per bound, then the total. */
  snapshot(labels: Readonly<Record<string, string>> = {}): HistogramSample {
    const cumulative: number[] = []
    let running = 0
    for (let i = 0; i < this.bounds.length; i++) {
      running += this.#counts[i] as number
      cumulative.push(running)
    }
    return { labels, bounds: this.bounds, cumulativeCounts: cumulative, sum: this.#sum, count: this.#count }
  }
}

/** Bounds from `start`, each `factor` times the previous. */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  if (!(start > 0) || !(factor > 1) || !Number.isSafeInteger(count) || count < 1) {
    throw new RangeError('exponentialBuckets needs start > 0, factor > 1 and a positive count')
  }
  const bounds: number[] = []
  for (let i = 0, bound = start; i < count; i++, bound *= factor) bounds.push(Number(bound.toPrecision(6)))
  return bounds
}

/** Latencies of appends and commits: 50 µs (an OS-durable commit) to 10 s (a stalled SD card). */
export const latencyBucketsSec: readonly number[] = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10,
]

/** Records per group commit: 1 to the early cut at 16 384. */
export const commitRecordBuckets: readonly number[] = exponentialBuckets(1, 4, 8)
