import type { LogStore } from '../log/log-store.ts'
import type { LinkStatus } from '../mirror/mirror-link.ts'
import type { GapTotal } from '../mirror/mirror-state.ts'
import type { MetricsRegistry, Sample } from './registry.ts'

/**
 * The mirror's numbers (mirror.md B11), read from its status when collected. With the store, also the
 * lag in bytes (from the store's segment index: no scan of the backlog).
 */
export function registerMirrorMetrics(
  registry: MetricsRegistry,
  mirror: { status(): LinkStatus[]; gapRecordsByReason?(): GapTotal[] },
  store?: Pick<LogStore, 'bytesFrom'>,
): void {
  const perPartition = (value: (p: LinkStatus['partitions'][number], now: number) => number | null) => (): Sample[] => {
    const now = Date.now()
    return mirror.status().flatMap((link) =>
      link.partitions.flatMap((p) => {
        const v = value(p, now)
        return v === null
          ? []
          : [{ labels: { link: link.link, stream: p.stream, partition: String(p.partition) }, value: v }]
      }),
    )
  }
  registry.register(
    'cairn_mirror_lag_records',
    'Local records not yet mirrored (or recorded as a gap)',
    'gauge',
    perPartition((p) => Number(p.lagRecords)),
  )
  if (store !== undefined) {
    registry.register(
      'cairn_mirror_lag_bytes',
      'Bytes of the local records not yet mirrored, as appended',
      'gauge',
      perPartition((p) => (p.lagRecords > 0n ? store.bytesFrom(p.stream, p.partition, p.nextLocal) : 0)),
    )
  }
  registry.register(
    'cairn_mirror_oldest_unmirrored_age_seconds',
    'Age of the oldest record not yet mirrored',
    'gauge',
    perPartition((p, now) => (p.oldestUnmirroredMs === null ? 0 : Math.max(0, (now - p.oldestUnmirroredMs) / 1000))),
  )
  registry.register(
    'cairn_mirror_confirmed_records_total',
    'Records confirmed upstream',
    'counter',
    perPartition((p) => p.confirmedRecords),
  )
  registry.register(
    'cairn_mirror_gap_records_total',
    'Local records resolved without an upstream copy (evicted by retention, poison records skipped, lost in an upstream reset)',
    'counter',
    perPartition((p) => p.gapRecords),
  )
  const gaps = mirror.gapRecordsByReason?.bind(mirror)
  if (gaps !== undefined) {
    const gapSamples = (only?: GapTotal['reason']) => (): Sample[] =>
      gaps()
        .filter((g) => only === undefined || g.reason === only)
        .map((g) => ({
          labels: {
            link: g.link,
            stream: g.stream,
            partition: String(g.partition),
            ...(only === undefined ? { reason: g.reason } : {}),
          },
          value: g.records,
        }))
    registry.register(
      'cairn_mirror_gap_records_by_reason_total',
      'Local records resolved without an upstream copy, by reason (retention-evict, poison-skip, upstream-reset-loss)',
      'counter',
      gapSamples(),
    )
    registry.register(
      'cairn_mirror_evicted_records_total',
      'Local records retention removed before they were mirrored (policy evict or hold-then-evict)',
      'counter',
      gapSamples('retention-evict'),
    )
  }
  registry.register(
    'cairn_mirror_redelivered_records_total',
    'Records re-sent without proof they were absent upstream',
    'counter',
    () => mirror.status().map((l) => ({ labels: { link: l.link }, value: l.redeliveredRecords })),
  )
  registry.register('cairn_mirror_link_up', '1 while the link streams, 0 while it connects or backs off', 'gauge', () =>
    mirror.status().map((l) => ({ labels: { link: l.link, state: l.state }, value: l.state === 'streaming' ? 1 : 0 })),
  )
}
