import { describe, expect, test } from 'vitest'
import type { LinkStatus } from '../../../src/mirror/mirror-link.ts'
import { registerMirrorMetrics } from '../../../src/observability/mirror-metrics.ts'
import { Histogram } from '../../../src/observability/histogram.ts'
import { renderPrometheus } from '../../../src/observability/prometheus.ts'
import { MetricsRegistry } from '../../../src/observability/registry.ts'

describe('metrics registry', () => {
  test('metrics - collectors run when collected, names are checked and unique', () => {
    const registry = new MetricsRegistry()
    let calls = 0
    registry.register('cairn_things', 'things', 'gauge', () => [{ labels: {}, value: ++calls }])
    expect(calls).toBe(0)
    expect(registry.collect()).toEqual([
      { name: 'cairn_things', help: 'things', type: 'gauge', samples: [{ labels: {}, value: 1 }] },
    ])
    expect(() => registry.register('cairn_things', 'again', 'gauge', () => [])).toThrow(/already registered/)
    expect(() => registry.register('Bad-Name', 'x', 'gauge', () => [])).toThrow(/must match/)
  })

  test('metrics - the mirror exposes lag, confirmed, gaps, redeliveries and link state per link and partition', () => {
    const status: LinkStatus = {
      link: 'central',
      state: 'streaming',
      lastError: null,
      redeliveredRecords: 2,
      partitions: [
        {
          stream: 's',
          partition: 1,
          upstreamTopic: 'gw.s',
          upstreamPartition: 1,
          state: 'active',
          nextLocal: 10n,
          lastUpstream: 9n,
          lagRecords: 5n,
          oldestUnmirroredMs: null,
          confirmedRecords: 10,
          gapRecords: 3,
        },
      ],
    }
    const registry = new MetricsRegistry()
    registerMirrorMetrics(registry, { status: () => [status] })
    const byName = Object.fromEntries(registry.collect().map((m) => [m.name, m.samples]))
    const labels = { link: 'central', stream: 's', partition: '1' }
    expect(byName['cairn_mirror_lag_records']).toEqual([{ labels, value: 5 }])
    expect(byName['cairn_mirror_confirmed_records_total']).toEqual([{ labels, value: 10 }])
    expect(byName['cairn_mirror_gap_records_total']).toEqual([{ labels, value: 3 }])
    expect(byName['cairn_mirror_oldest_unmirrored_age_seconds']).toEqual([{ labels, value: 0 }])
    expect(byName['cairn_mirror_redelivered_records_total']).toEqual([{ labels: { link: 'central' }, value: 2 }])
    expect(byName['cairn_mirror_link_up']).toEqual([{ labels: { link: 'central', state: 'streaming' }, value: 1 }])
  })
})

describe('prometheus text', () => {
  test('metrics - rendered in the text exposition format, labels escaped', () => {
    const registry = new MetricsRegistry()
    registry.register('cairn_lag', 'Lag of "things"\nper partition', 'gauge', () => [
      { labels: { stream: 'a"b\\c' }, value: 3 },
      { labels: {}, value: Number.NaN },
    ])
    expect(renderPrometheus(registry.collect())).toBe(
      '# HELP cairn_lag Lag of "things"\\nper partition\n# TYPE cairn_lag gauge\ncairn_lag{stream="a\\"b\\\\c"} 3\ncairn_lag NaN\n',
    )
    expect(renderPrometheus([])).toBe('')
  })

  test('metrics - counter and gauge one-liners take a number or labelled samples; infinities render as +Inf/-Inf', () => {
    const registry = new MetricsRegistry()
    const counts = { refused: 0 }
    registry.counter('cairn_refused_total', 'Refused', () => counts.refused)
    registry.gauge('cairn_by_kind', 'By kind', () => [
      { labels: { kind: 'up' }, value: Infinity },
      { labels: { kind: 'down' }, value: -Infinity },
    ])
    counts.refused += 3
    expect(renderPrometheus(registry.collect())).toBe(
      [
        '# HELP cairn_refused_total Refused',
        '# TYPE cairn_refused_total counter',
        'cairn_refused_total 3',
        '# HELP cairn_by_kind By kind',
        '# TYPE cairn_by_kind gauge',
        'cairn_by_kind{kind="up"} +Inf',
        'cairn_by_kind{kind="down"} -Inf',
        '',
      ].join('\n'),
    )
    expect(() => registry.gauge('cairn_refused_total', 'again', () => 0)).toThrow(/already registered/)
  })

  test('metrics - a histogram renders cumulative buckets with le after its labels, then +Inf, _sum and _count', () => {
    const registry = new MetricsRegistry()
    const h = new Histogram([0.001, 0.01, 0.1])
    for (const v of [0.0005, 0.001, 0.002, 0.05, 3]) h.observe(v)
    registry.histogram('cairn_wait_seconds', 'Wait', h)
    registry.histogram('cairn_size', 'Size by stream', () => [new Histogram([10]).snapshot({ stream: 'a' })])
    expect(renderPrometheus(registry.collect())).toBe(
      [
        '# HELP cairn_wait_seconds Wait',
        '# TYPE cairn_wait_seconds histogram',
        'cairn_wait_seconds_bucket{le="0.001"} 2',
        'cairn_wait_seconds_bucket{le="0.01"} 3',
        'cairn_wait_seconds_bucket{le="0.1"} 4',
        'cairn_wait_seconds_bucket{le="+Inf"} 5',
        'cairn_wait_seconds_sum 3.0535',
        'cairn_wait_seconds_count 5',
        '# HELP cairn_size Size by stream',
        '# TYPE cairn_size histogram',
        'cairn_size_bucket{stream="a",le="10"} 0',
        'cairn_size_bucket{stream="a",le="+Inf"} 0',
        'cairn_size_sum{stream="a"} 0',
        'cairn_size_count{stream="a"} 0',
        '',
      ].join('\n'),
    )
    expect(() => registry.histogram('cairn_x_count', 'x', h)).toThrow(/must not end/)
  })
})
