// One registry for the numbers Cairn exposes (rendered at /metrics). Components keep their counts in
// plain number fields or Histograms they bump on their hot paths; the registry holds collectors that
// read them when scraped, so nothing is counted twice and an idle broker does no metric work.
//
// Registering from the composition root is one line:
//   metrics.counter('cairn_auth_failures_total', 'CONNECTs refused for bad credentials', () => auth.failures)
//   metrics.gauge('cairn_things', 'Things by kind', () => [{ labels: { kind: 'a' }, value: 1 }])

import { Histogram } from './histogram.ts'

export type MetricType = 'gauge' | 'counter' | 'histogram'
type ScalarType = Exclude<MetricType, 'histogram'>

export interface Sample {
  labels: Readonly<Record<string, string>>
  value: number
}

export interface HistogramSample {
  labels: Readonly<Record<string, string>>
  /** Upper bounds, ascending; +Inf is implied. */
  bounds: readonly number[]
  /** Observations <= each bound (same length as bounds); the +Inf bucket is `count`. */
  cumulativeCounts: readonly number[]
  sum: number
  count: number
}

export type Metric =
  | { name: string; help: string; type: ScalarType; samples: Sample[] }
  | { name: string; help: string; type: 'histogram'; samples: HistogramSample[] }

/** What a scalar collector returns: one unlabelled value, or samples with labels. */
export type ScalarRead = () => number | readonly Sample[]

type Collector =
  | { name: string; help: string; type: ScalarType; collect: () => Sample[] }
  | { name: string; help: string; type: 'histogram'; collect: () => HistogramSample[] }

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const reservedSuffixes = /_(bucket|sum|count)$/

export class MetricsRegistry {
  readonly #collectors = new Map<string, Collector>()

  /** Registers a metric whose samples `collect` produces on demand. Names are unique. */
  register(name: string, help: string, type: ScalarType, collect: () => Sample[]): void {
    this.#add({ name, help, type, collect })
  }

  /** A counter (only ever grows; `_total` by convention) read from wherever its component keeps it. */
  counter(name: string, help: string, read: ScalarRead): void {
    this.#add({ name, help, type: 'counter', collect: () => samplesOf(read()) })
  }

  /** A gauge (goes up and down) read when scraped. */
  gauge(name: string, help: string, read: ScalarRead): void {
    this.#add({ name, help, type: 'gauge', collect: () => samplesOf(read()) })
  }

  /** A histogram: one instance (no labels), or a collector of labelled snapshots. */
  histogram(name: string, help: string, source: Histogram | (() => HistogramSample[])): void {
    if (reservedSuffixes.test(name)) throw new RangeError(`histogram ${name} must not end in _bucket, _sum or _count`)
    const collect = source instanceof Histogram ? () => [source.snapshot()] : source
    this.#add({ name, help, type: 'histogram', collect })
  }

  /** Every metric with its current samples, in registration order. */
  collect(): Metric[] {
    return [...this.#collectors.values()].map(
      (c) => ({ name: c.name, help: c.help, type: c.type, samples: c.collect() }) as Metric,
    )
  }

  #add(collector: Collector): void {
    const { name } = collector
    if (!metricName.test(name)) throw new RangeError(`metric name ${name} must match ${metricName}`)
    if (this.#collectors.has(name)) throw new RangeError(`metric ${name} is already registered`)
    this.#collectors.set(name, collector)
  }
}

function samplesOf(read: number | readonly Sample[]): Sample[] {
  return typeof read === 'number' ? [{ labels: {}, value: read }] : [...read]
}
