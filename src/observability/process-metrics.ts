import { readdirSync, readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import type { MetricsRegistry, Sample } from './registry.ts'

export interface ProcessMetricsOptions {
  /** Linux' view of this process; where it is missing, the metrics read from it have no samples. */
  procDir?: string
}

/**
 * The standard `process_*` metrics (the names every Prometheus client library uses, so existing
 * dashboards and alerts work), plus Node's own heap. Read when scraped.
 */
export function registerProcessMetrics(registry: MetricsRegistry, options: ProcessMetricsOptions = {}): void {
  const procDir = options.procDir ?? '/proc/self'
  registry.counter('process_cpu_user_seconds_total', 'User CPU time spent', () => process.cpuUsage().user / 1e6)
  registry.counter('process_cpu_system_seconds_total', 'System CPU time spent', () => process.cpuUsage().system / 1e6)
  registry.counter('process_cpu_seconds_total', 'User and system CPU time spent', () => {
    const { user, system } = process.cpuUsage()
    return (user + system) / 1e6
  })
  const startSec = Math.floor(performance.timeOrigin) / 1000
  registry.gauge('process_start_time_seconds', 'Start time of the process since the epoch', () => startSec)
  registry.gauge('process_resident_memory_bytes', 'Resident memory size', () => process.memoryUsage.rss())
  const status = (field: string) => (): Sample[] => {
    const kib = statusKib(procDir, field)
    return kib === null ? [] : [{ labels: {}, value: kib * 1024 }]
  }
  registry.gauge('process_virtual_memory_bytes', 'Virtual memory size', status('VmSize'))
  registry.gauge('process_heap_bytes', 'Process heap (data segment) size', status('VmData'))
  registry.gauge('process_open_fds', 'Open file descriptors', () => {
    const count = entries(`${procDir}/fd`)
    // readdir holds one descriptor of its own while it reads.
    return count === null ? [] : [{ labels: {}, value: count - 1 }]
  })
  registry.gauge('process_max_fds', 'Limit on open file descriptors', () => {
    const max = maxFds(procDir)
    return max === null ? [] : [{ labels: {}, value: max }]
  })
  registry.gauge('nodejs_heap_size_used_bytes', 'V8 heap in use', () => process.memoryUsage().heapUsed)
  registry.gauge('nodejs_heap_size_total_bytes', 'V8 heap allocated', () => process.memoryUsage().heapTotal)
}

function read(file: string): string | null {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return null
  }
}

function entries(dir: string): number | null {
  try {
    return readdirSync(dir).length
  } catch {
    return null
  }
}

function statusKib(procDir: string, field: string): number | null {
  const match = read(`${procDir}/status`)?.match(new RegExp(`^${field}:\\s*(\\d+) kB`, 'm'))
  return match?.[1] === undefined ? null : Number(match[1])
}

function maxFds(procDir: string): number | null {
  const match = read(`${procDir}/limits`)?.match(/^Max open files\s+(\d+)/m)
  return match?.[1] === undefined ? null : Number(match[1])
}
