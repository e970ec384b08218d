// One sample of the gateway's footprint: RSS and open descriptors from /proc (what the kernel says,
// independent of the broker's own accounting), the rest from its /metrics and /api/v1/mirror/status.
import { readdirSync, readFileSync } from 'node:fs'
import { parseMetrics, type ScrapedSample } from '../../test/helpers/prometheus-text.ts'

export interface Sample {
  /** Since the soak started. */
  atMs: number
  rssBytes: number
  openFds: number
  heapUsedBytes: number
  /** What V8 holds for its heap, used or not: RSS can grow here while used stays flat. */
  heapTotalBytes: number
  walBytes: number
  dbFileBytes: number
  dbUsedBytes: number
  mqttClients: number
  mqttSessions: number
  appendedRecords: number
  mirrorLagRecords: number
  mirrorOldestUnmirroredSec: number
  mirrorConfirmedRecords: number
  /** 1 while the link streams. */
  mirrorLinkUp: number
}

const httpTimeoutMs = 10_000

export async function takeSample(pid: number, httpBase: string, startedAtMs: number): Promise<Sample> {
  const atMs = Date.now() - startedAtMs
  const rssBytes = procRssBytes(pid)
  const openFds = readdirSync(`/proc/${pid}/fd`).length
  const response = await fetch(`${httpBase}/metrics`, { signal: AbortSignal.timeout(httpTimeoutMs) })
  if (response.status !== 200) throw new Error(`GET /metrics: ${response.status}`)
  const metrics = parseMetrics(await response.text())
  // NaN, not a throw, when a gauge is missing: one absent metric must not end an hour-long run.
  const one = (name: string): number => metrics.find((s) => s.name === name)?.value ?? NaN
  return {
    atMs,
    rssBytes,
    openFds,
    heapUsedBytes: one('nodejs_heap_size_used_bytes'),
    heapTotalBytes: one('nodejs_heap_size_total_bytes'),
    walBytes: one('cairn_store_wal_bytes'),
    dbFileBytes: one('cairn_store_file_bytes'),
    dbUsedBytes: one('cairn_store_used_bytes'),
    mqttClients: one('cairn_mqtt_clients_connected'),
    mqttSessions: one('cairn_mqtt_sessions'),
    appendedRecords: one('cairn_log_appended_records_total'),
    mirrorLagRecords: sum(metrics, 'cairn_mirror_lag_records'),
    mirrorOldestUnmirroredSec: max(metrics, 'cairn_mirror_oldest_unmirrored_age_seconds'),
    mirrorConfirmedRecords: sum(metrics, 'cairn_mirror_confirmed_records_total'),
    mirrorLinkUp: sum(metrics, 'cairn_mirror_link_up'),
  }
}

function procRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]
  if (kib === undefined) throw new Error(`/proc/${pid}/status has no VmRSS`)
  return Number(kib) * 1024
}

const sum = (metrics: readonly ScrapedSample[], name: string): number =>
  metrics.filter((s) => s.name === name).reduce((total, s) => total + s.value, 0)

const max = (metrics: readonly ScrapedSample[], name: string): number =>
  metrics.filter((s) => s.name === name).reduce((top, s) => Math.max(top, s.value), 0)

export interface MirrorPartitionStatus {
  stream: string
  partition: number
  upstreamTopic: string
  upstreamPartition: number
  state: string
  nextLocal: number
  lastUpstream: number
  lagRecords: number
  confirmedRecords: number
  gapRecords: number
}

export interface MirrorLinkStatus {
  link: string
  state: string
  redeliveredRecords: number
  partitions: MirrorPartitionStatus[]
}

export async function mirrorStatus(httpBase: string): Promise<MirrorLinkStatus[]> {
  const response = await fetch(`${httpBase}/api/v1/mirror/status`, { signal: AbortSignal.timeout(httpTimeoutMs) })
  if (response.status !== 200) throw new Error(`GET /api/v1/mirror/status: ${response.status}`)
  return ((await response.json()) as { links: MirrorLinkStatus[] }).links
}
