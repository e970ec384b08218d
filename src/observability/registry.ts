// One registry for the numbers Cairn exposes (the Prometheus endpoint of the observability work
// renders it). Components register collectors that read their own state when asked, so nothing
// is counted twice and an idle broker does no metric work.

export type MetricType = 'gauge' | 'counter'

export interface Sample {
  labels: Readonly<Record<string, string>>
  value: number
}

export interface Metric {
  name: string
  help: string
  type: MetricType
  samples: Sample[]
}

interface Collector {
  name: string
  help: string
  type: MetricType
  collect: () => Sample[]
}

const metricName = /^[a-z_][a-z0-9_]*$/

export class MetricsRegistry {
  readonly #collectors = new Map<string, Collector>()

  /** Registers a metric whose samples `collect` produces on demand. Names are unique. */
  register(name: string, help: string, type: MetricType, collect: () => Sample[]): void {
    if (!metricName.test(name)) throw new RangeError(`metric name ${name} must match ${metricName}`)
    if (this.#collectors.has(name)) throw new RangeError(`metric ${name} is already registered`)
    this.#collectors.set(name, { name, help, type, collect })
  }

  /** Every metric with its current samples, in registration order. */
  collect(): Metric[] {
    return [...this.#collectors.values()].map((c) => ({
      name: c.name,
      help: c.help,
      type: c.type,
      samples: c.collect(),
    }))
  }
}
