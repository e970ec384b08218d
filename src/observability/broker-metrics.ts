import { isBrokerError } from '../errors.ts'
import type { GroupCoordinator } from '../groups/group-coordinator.ts'
import type { LogStore } from '../log/log-store.ts'
import type { StoreStats } from '../log/types.ts'
import type { MqttFrontEnd } from '../mqtt/mqtt-front-end.ts'
import type { MetricsRegistry, Sample } from './registry.ts'

type StoreSource = Pick<LogStore, 'stats' | 'listStreams' | 'metrics'>

/** The log store: file sizes, commits, retention, latency histograms, and every partition's offsets. */
export function registerStoreMetrics(registry: MetricsRegistry, store: StoreSource): void {
  const stat = (read: (stats: StoreStats) => number) => (): Sample[] => {
    const stats = openStats(store)
    return stats === null ? [] : [{ labels: {}, value: read(stats) }]
  }
  registry.gauge(
    'cairn_store_file_bytes',
    'Size of the database file',
    stat((s) => s.fileBytes),
  )
  registry.gauge(
    'cairn_store_used_bytes',
    'Bytes of the database file in use (free pages excluded)',
    stat((s) => s.usedBytes),
  )
  registry.gauge(
    'cairn_store_wal_bytes',
    'Size of the SQLite write-ahead log file',
    stat((s) => s.walBytes),
  )
  registry.counter(
    'cairn_log_commits_total',
    'Group commits',
    stat((s) => s.commits),
  )
  registry.counter(
    'cairn_log_appended_records_total',
    'Records appended to the log',
    stat((s) => s.appendedRecords),
  )
  registry.counter(
    'cairn_retention_deleted_records_total',
    'Records deleted by retention (age, size) and the disk budget',
    stat((s) => s.retentionDeletedRecords),
  )
  registry.counter(
    'cairn_retention_deleted_bytes_total',
    'Record bytes (key, value, headers, meta) deleted by retention and the disk budget',
    stat((s) => s.retentionDeletedBytes),
  )
  registry.counter(
    'cairn_compaction_deleted_records_total',
    'Records removed by compaction',
    stat((s) => s.compactionDeletedRecords),
  )
  const { metrics } = store
  registry.histogram(
    'cairn_log_append_latency_seconds',
    'From an append being accepted to its group commit having returned',
    metrics.appendLatency,
  )
  registry.histogram(
    'cairn_log_commit_duration_seconds',
    'Duration of one group commit transaction, fsync included',
    metrics.commitDuration,
  )
  registry.histogram('cairn_log_commit_records', 'Records per group commit', metrics.commitRecords)

  const perPartition =
    (read: (p: ReturnType<StoreSource['listStreams']>[number]['partitions'][number]) => number) => (): Sample[] =>
      store
        .listStreams()
        .flatMap((s) =>
          s.partitions.map((p) => ({ labels: { stream: s.name, partition: String(p.partition) }, value: read(p) })),
        )
  registry.gauge(
    'cairn_stream_start_offset',
    'First offset kept (logStartOffset)',
    perPartition((p) => Number(p.logStartOffset)),
  )
  registry.gauge(
    'cairn_stream_end_offset',
    'Next offset to be written (logEndOffset)',
    perPartition((p) => Number(p.logEndOffset)),
  )
  registry.gauge(
    'cairn_stream_records',
    'Records present',
    perPartition((p) => p.records),
  )
  registry.gauge(
    'cairn_stream_bytes',
    'Bytes of the records present (key, value, headers, meta)',
    perPartition((p) => p.bytes),
  )
}

/** A scrape during shutdown sees no store numbers rather than an error. */
function openStats(store: StoreSource): StoreStats | null {
  try {
    return store.stats()
  } catch (err) {
    if (isBrokerError(err) && err.code === 'CAIRN_STORE_CLOSED') return null
    throw err
  }
}

/** Consumer groups: committed offset and lag per group and partition. */
export function registerGroupMetrics(
  registry: MetricsRegistry,
  groups: Pick<GroupCoordinator, 'listGroups' | 'fetchOffsets'>,
): void {
  const perOffset = (read: (o: { offset: bigint; lag: number }) => number) => (): Sample[] =>
    groups.listGroups().groups.flatMap(({ group }) =>
      groups.fetchOffsets({ group }).offsets.map((o) => ({
        labels: { group, stream: o.stream, partition: String(o.partition) },
        value: read(o),
      })),
    )
  registry.gauge(
    'cairn_group_committed_offset',
    'Committed offset (the next to consume) per group and partition',
    perOffset((o) => Number(o.offset)),
  )
  registry.gauge(
    'cairn_group_lag_records',
    'Records between the committed offset and the log end',
    perOffset((o) => o.lag),
  )
}

type MqttSource = Pick<MqttFrontEnd, 'counters' | 'connectedCount' | 'sessions' | 'retained'>

/** MQTT numbers beyond the per-protocol traffic. */
export function registerMqttMetrics(registry: MetricsRegistry, mqtt: MqttSource): void {
  registry.gauge('cairn_mqtt_clients_connected', 'MQTT clients past CONNECT', () => mqtt.connectedCount())
  registry.gauge('cairn_mqtt_sessions', 'MQTT sessions kept (connected or not)', () => mqtt.sessions.size)
  registry.gauge('cairn_mqtt_retained_messages', 'Retained messages', () => mqtt.retained.size)
  registry.counter(
    'cairn_mqtt_publishes_refused_total',
    'PUBLISHes the log did not accept (storage full or failing)',
    () => mqtt.counters.publishesRefused,
  )
  registry.counter(
    'cairn_mqtt_session_skipped_records_total',
    'Records offline sessions resumed past (retention or maxOfflineRecords got there first)',
    () => mqtt.counters.sessionRecordsSkipped,
  )
  registry.counter(
    'cairn_mqtt_shared_undelivered_total',
    'Unlogged messages no member of a shared subscription had room for',
    () => mqtt.counters.sharedUndelivered,
  )
}
