import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, onTestFinished, test } from 'vitest'
import type { LinkStatus } from '../../../src/mirror/mirror-link.ts'
import { registerStoreMetrics } from '../../../src/observability/broker-metrics.ts'
import { registerMirrorMetrics } from '../../../src/observability/mirror-metrics.ts'
import { registerProcessMetrics } from '../../../src/observability/process-metrics.ts'
import { MetricsRegistry, type HistogramSample, type Metric, type Sample } from '../../../src/observability/registry.ts'
import { bytes, openTempStore } from '../../helpers/temp-store.ts'

function byName(registry: MetricsRegistry): Map<string, Metric> {
  return new Map(registry.collect().map((m) => [m.name, m]))
}

function scalar(metrics: Map<string, Metric>, name: string, labels: Record<string, string> = {}): number | undefined {
  const samples = (metrics.get(name)?.samples ?? []) as Sample[]
  return samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value
}

function histogram(metrics: Map<string, Metric>, name: string): HistogramSample {
  const metric = metrics.get(name)
  if (metric?.type !== 'histogram') throw new Error(`${name} is not a histogram`)
  return metric.samples[0] as HistogramSample
}

const tenBytes = (i: number) => bytes(`record-${String(i).padStart(3, '0')}`)

describe('store metrics', () => {
  test('store metrics - commits are timed and sized once each; every append of a commit is one observation', async () => {
    const { store } = openTempStore()
    store.createStream('s', { partitions: 2 })
    const registry = new MetricsRegistry()
    registerStoreMetrics(registry, store)
    // One turn: three appends (5 records) in one group commit.
    await Promise.all([
      store.append('s', 0, [{ value: tenBytes(0) }, { value: tenBytes(1) }]),
      store.append('s', 1, [{ value: tenBytes(2) }]),
      store.append('s', 1, [{ value: tenBytes(3) }, { value: tenBytes(4) }]),
    ])
    await store.append('s', 0, [{ value: tenBytes(5) }])
    const m = byName(registry)
    expect(histogram(m, 'cairn_log_commit_records')).toMatchObject({ count: 2, sum: 6 })
    expect(histogram(m, 'cairn_log_commit_records').cumulativeCounts.slice(0, 2)).toEqual([1, 1]) // le 1, le 4
    expect(histogram(m, 'cairn_log_append_latency_seconds').count).toBe(4)
    expect(histogram(m, 'cairn_log_commit_duration_seconds').count).toBeGreaterThanOrEqual(2)
    expect(scalar(m, 'cairn_log_appended_records_total')).toBe(6)
    expect(scalar(m, 'cairn_stream_end_offset', { stream: 's', partition: '0' })).toBe(3)
    expect(scalar(m, 'cairn_stream_end_offset', { stream: 's', partition: '1' })).toBe(3)
    expect(scalar(m, 'cairn_stream_bytes', { stream: 's', partition: '1' })).toBe(30)
    expect(scalar(m, 'cairn_store_file_bytes')).toBeGreaterThan(0)
  })

  test('store metrics - retention counts the records and bytes it deletes', async () => {
    const { store, clock } = openTempStore({ segment: { segmentRecords: 4 } })
    store.createStream('s', { retentionMs: 1000 })
    const registry = new MetricsRegistry()
    registerStoreMetrics(registry, store)
    await Promise.all(Array.from({ length: 10 }, (_, i) => store.append('s', 0, [{ value: tenBytes(i) }])))
    clock.set(clock.now() + 5000)
    await store.runMaintenance()
    const m = byName(registry)
    const deleted = scalar(m, 'cairn_retention_deleted_records_total') as number
    expect(deleted).toBe(10)
    expect(scalar(m, 'cairn_retention_deleted_bytes_total')).toBe(100)
    expect(scalar(m, 'cairn_stream_start_offset', { stream: 's', partition: '0' })).toBe(10)
  })

  test('store metrics - a closed store yields no store samples instead of failing the scrape', async () => {
    const temp = openTempStore()
    const registry = new MetricsRegistry()
    registerStoreMetrics(registry, temp.store)
    await temp.store.close()
    expect(scalar(byName(registry), 'cairn_store_file_bytes')).toBeUndefined()
  })

  test('store metrics - bytesFrom counts the bytes from an offset to the end, inside a segment too', async () => {
    const { store } = openTempStore({ segment: { segmentRecords: 4 } })
    store.createStream('s')
    for (let i = 0; i < 10; i++) await store.append('s', 0, [{ value: tenBytes(i), headers: [] }])
    for (const from of [0, 1, 4, 6, 9, 10, 50]) {
      expect(store.bytesFrom('s', 0, BigInt(from)), `from ${from}`).toBe(Math.max(0, 10 - from) * 10)
    }
  })

  test('store metrics - mirror lag in bytes per link and partition, zero when caught up', async () => {
    const { store } = openTempStore({ segment: { segmentRecords: 4 } })
    store.createStream('s', { partitions: 2 })
    await Promise.all(Array.from({ length: 7 }, (_, i) => store.append('s', 0, [{ value: tenBytes(i) }])))
    const partition = (p: number, nextLocal: bigint, lagRecords: bigint) => ({
      stream: 's',
      partition: p,
      upstreamTopic: 'gw.s',
      upstreamPartition: p,
      state: 'active' as const,
      nextLocal,
      lastUpstream: -1n,
      lagRecords,
      oldestUnmirroredMs: null,
      confirmedRecords: 0,
      gapRecords: 0,
    })
    const status: LinkStatus = {
      link: 'central',
      state: 'backoff',
      lastError: null,
      redeliveredRecords: 0,
      partitions: [partition(0, 2n, 5n), partition(1, 0n, 0n)],
    }
    const registry = new MetricsRegistry()
    registerMirrorMetrics(registry, { status: () => [status] }, store)
    const m = byName(registry)
    expect(scalar(m, 'cairn_mirror_lag_bytes', { link: 'central', partition: '0' })).toBe(50)
    expect(scalar(m, 'cairn_mirror_lag_bytes', { link: 'central', partition: '1' })).toBe(0)
    expect(scalar(m, 'cairn_mirror_link_up', { link: 'central', state: 'backoff' })).toBe(0)
  })
})

describe('process metrics', () => {
  test('process metrics - memory and descriptors are read from the proc directory given', () => {
    const proc = mkdtempSync(join(tmpdir(), 'cairn-proc-'))
    onTestFinished(() => rmSync(proc, { recursive: true, force: true }))
    writeFileSync(join(proc, 'status'), 'Name:\tnode\nVmSize:\t  2048 kB\nVmData:\t   512 kB\nVmRSS:\t 100 kB\n')
    writeFileSync(
      join(proc, 'limits'),
      'Limit  Soft Limit  Hard Limit  Units\nMax open files            1024                 4096                 files\n',
    )
    mkdirSync(join(proc, 'fd'))
    for (const fd of ['0', '1', '2', '3']) writeFileSync(join(proc, 'fd', fd), '')
    const registry = new MetricsRegistry()
    registerProcessMetrics(registry, { procDir: proc })
    const m = byName(registry)
    expect(scalar(m, 'process_virtual_memory_bytes')).toBe(2048 * 1024)
    expect(scalar(m, 'process_heap_bytes')).toBe(512 * 1024)
    expect(scalar(m, 'process_max_fds')).toBe(1024)
    // One of the entries stands for the descriptor readdir itself holds on Linux.
    expect(scalar(m, 'process_open_fds')).toBe(3)
    expect(scalar(m, 'process_resident_memory_bytes')).toBeGreaterThan(0)
    expect(scalar(m, 'process_cpu_seconds_total')).toBeGreaterThan(0)
    expect(scalar(m, 'process_start_time_seconds')).toBeLessThanOrEqual(Date.now() / 1000)
  })

  test('process metrics - without a proc directory those metrics have no samples', () => {
    const registry = new MetricsRegistry()
    registerProcessMetrics(registry, { procDir: join(tmpdir(), 'cairn-no-such-proc') })
    const m = byName(registry)
    expect(m.get('process_open_fds')?.samples).toEqual([])
    expect(m.get('process_heap_bytes')?.samples).toEqual([])
    expect(scalar(m, 'process_resident_memory_bytes')).toBeGreaterThan(0)
  })
})
