import { describe, expect, test } from 'vitest'
import { FakeSink } from '../../../src/mirror/fake-sink.ts'
import { Mirror, type MirrorStreamRule } from '../../../src/mirror/mirror.ts'
import { parseProvenance } from '../../../src/mirror/replication-policy.ts'
import { registerMirrorMetrics } from '../../../src/observability/mirror-metrics.ts'
import { MetricsRegistry } from '../../../src/observability/registry.ts'
import {
  fakeLink,
  fakeSession,
  mirroredOffsets,
  produceRecords,
  silentLogger,
  startFakeMirror,
} from '../../helpers/fake-mirror.ts'
import { bytes, openTempStore, text } from '../../helpers/temp-store.ts'
import { until } from '../../helpers/wait.ts'

// The mirror loop against the in-process FakeSink (the kcat mock cannot lose an ack on purpose or
// refuse a batch; test/integration/mirror covers the real Kafka protocol). The store uses a fake
// clock for retention; the mirror runs on real time with millisecond backoff.

const range = (n: number): bigint[] => Array.from({ length: n }, (_, i) => BigInt(i))

describe('mirror', () => {
  test('mirror - every record goes up once, in order, with provenance, and the map is exact', async () => {
    const { store } = openTempStore()
    store.createStream('sensors', { partitions: 2 })
    await produceRecords(store, 'sensors', 0, 120)
    await produceRecords(store, 'sensors', 1, 30)
    const sink = new FakeSink()
    const mirror = startFakeMirror(store, sink)
    await until(
      () => sink.records('gw1.sensors', 0).length === 120 && sink.records('gw1.sensors', 1).length === 30,
      'backlog',
    )
    await produceRecords(store, 'sensors', 0, 5, 120)
    await until(() => mirror.status()[0]?.partitions.find((p) => p.partition === 0)?.nextLocal === 125n, 'live records')
    expect(mirroredOffsets(sink, 'gw1.sensors', 0)).toEqual(range(125))
    const upstream = sink.records('gw1.sensors', 0)[7]
    expect(text(upstream?.value ?? null)).toBe('v7')
    expect(text(upstream?.key ?? null)).toBe('k7')
    expect(
      mirror.translate({ stream: 'sensors', partition: 0, kind: 'record', direction: 'to-upstream', offset: 7n }),
    ).toMatchObject({
      upstreamTopic: 'gw1.sensors',
      to: 7n,
    })
    const [status] = mirror.status()
    expect(status?.partitions.find((p) => p.partition === 0)).toMatchObject({
      nextLocal: 125n,
      lastUpstream: 124n,
      lagRecords: 0n,
    })
  })

  test('mirror - a lost ack is reconciled by reading upstream: nothing is sent twice', async () => {
    const { store } = openTempStore()
    store.createStream('s')
    await produceRecords(store, 's', 0, 100)
    const sink = new FakeSink()
    sink.failNext('uncertain-appended', { times: 2 })
    startFakeMirror(store, sink)
    await until(() => sink.records('gw1.s', 0).length >= 100, 'mirroring')
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(mirroredOffsets(sink, 'gw1.s', 0)).toEqual(range(100))
  })

  test('mirror - an uncertain send that did not arrive is sent again, once', async () => {
    const { store } = openTempStore()
    store.createStream('s')
    await produceRecords(store, 's', 0, 60)
    const sink = new FakeSink()
    sink.failNext('uncertain-not-appended', { times: 3 })
    startFakeMirror(store, sink)
    await until(() => sink.records('gw1.s', 0).length >= 60, 'mirroring')
    expect(mirroredOffsets(sink, 'gw1.s', 0)).toEqual(range(60))
  })

  test('mirror - after a crash between send and confirm, a new mirror confirms what arrived without resending', async () => {
    const { store } = openTempStore()
    store.createStream('s')
    await produceRecords(store, 's', 0, 10)
    const sink = new FakeSink()
    // The batch arrives but its ack is lost, and reconciliation cannot run: the intent stays open.
    sink.failNext('uncertain-appended').failNext('unavailable', { op: 'offsets', times: 1_000_000 })
    const first = new Mirror({ store, links: [fakeLink()], sinkFor: () => fakeSession(sink), logger: silentLogger })
    first.prepare()
    first.start()
    await until(() => sink.calls.some((c) => c.op === 'offsets'), 'a reconciliation attempt')
    await first.close()
    expect(sink.records('gw1.s', 0)).toHaveLength(10)
    expect(first.status()[0]?.partitions[0]).toMatchObject({ nextLocal: 0n })
    sink.clearFaults()
    const restarted = startFakeMirror(store, sink)
    await produceRecords(store, 's', 0, 5, 10)
    await until(() => restarted.status()[0]?.partitions[0]?.nextLocal === 15n, 'the rest')
    expect(mirroredOffsets(sink, 'gw1.s', 0)).toEqual(range(15))
    expect(
      sink
        .sends('gw1.s', 0)
        .filter((c) => c.outcome === 'ok')
        .map((c) => c.records),
    ).toEqual([5])
  })

  test('mirror - an uncertain batch is read back only after the recovery grace', async () => {
    const { store } = openTempStore()
    store.createStream('s', { partitions: 2 })
    await produceRecords(store, 's', 0, 10)
    const sink = new FakeSink()
    sink.failNext('uncertain-appended', { partition: 0 })
    const sentAt = Date.now()
    startFakeMirror(store, sink, { ...fakeLink(), recoveryGraceMs: 300 })
    await until(() => sink.calls.some((c) => c.op === 'offsets'), 'the read-back')
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(250)
    await produceRecords(store, 's', 1, 3)
    await until(() => sink.records('gw1.s', 1).length === 3, 'the other partition')
    await until(() => sink.records('gw1.s', 0).length === 10, 'partition 0')
    expect(mirroredOffsets(sink, 'gw1.s', 0)).toEqual(range(10))
  })

  test('mirror - a refused record blocks its partition only, exactly at that record', async () => {
    const { store } = openTempStore()
    store.createStream('s', { partitions: 2 })
    await produceRecords(store, 's', 0, 5)
    await store.append('s', 0, [{ key: null, value: new Uint8Array(4000) }])
    await produceRecords(store, 's', 0, 5, 6)
    await produceRecords(store, 's', 1, 5)
    // The whole batch is refused; its records then go one at a time up to the refused one.
    const sink = new FakeSink({ maxRecordBytes: 1000 })
    const mirror = startFakeMirror(store, sink)
    await until(() => sink.records('gw1.s', 1).length === 5, 'partition 1')
    await until(
      () => mirror.status()[0]?.partitions.find((p) => p.partition === 0)?.state === 'blocked-poison',
      'block',
    )
    expect(mirroredOffsets(sink, 'gw1.s', 0)).toEqual(range(5))
    expect(mirror.status()[0]?.partitions.find((p) => p.partition === 0)?.nextLocal).toBe(5n)
  })

  test('mirror - policy block: retention keeps what is not mirrored yet', async () => {
    const { store, clock } = openTempStore({ segment: { segmentRecords: 10 } })
    store.createStream('s', { retentionMs: 1000 })
    await produceRecords(store, 's', 0, 50)
    const sink = new FakeSink()
    sink.down = true
    startFakeMirror(store, sink)
    clock.advance(5000)
    await store.runMaintenance()
    expect(store.earliestOffset('s', 0)).toBe(0n)
    sink.down = false
    await until(() => sink.records('gw1.s', 0).length === 50, 'mirroring after the outage')
    expect(mirroredOffsets(sink, 'gw1.s', 0)).toEqual(range(50))
  })

  test('mirror - policy evict: records retention removed first are a counted gap, announced on the next record', async () => {
    const { store, clock } = openTempStore({ segment: { segmentRecords: 10 } })
    store.createStream('s', { retentionMs: 1000 })
    await produceRecords(store, 's', 0, 30)
    const sink = new FakeSink()
    sink.down = true
    const mirror = startFakeMirror(store, sink, fakeLink([{ match: '*', policy: { kind: 'evict' }, priority: 0 }]))
    clock.advance(5000)
    await produceRecords(store, 's', 0, 5, 30)
    await store.runMaintenance()
    const start = store.earliestOffset('s', 0)
    expect(start).toBeGreaterThan(0n)
    sink.down = false
    await until(() => sink.records('gw1.s', 0).length === Number(35n - start), 'mirroring the rest')
    const first = sink.records('gw1.s', 0)[0]
    expect(parseProvenance(first?.headers ?? [])).toMatchObject({ offset: start, gapBefore: start })
    expect(mirror.status()[0]?.partitions[0]?.gapRecords).toBe(Number(start))
    // The Prometheus view: evicted records by partition, and every gap by reason.
    const registry = new MetricsRegistry()
    registerMirrorMetrics(registry, mirror)
    const byName = Object.fromEntries(registry.collect().map((m) => [m.name, m.samples]))
    const labels = { link: 'central', stream: 's', partition: '0' }
    expect(byName['cairn_mirror_evicted_records_total']).toEqual([{ labels, value: Number(start) }])
    expect(byName['cairn_mirror_gap_records_by_reason_total']).toEqual([
      { labels: { ...labels, reason: 'retention-evict' }, value: Number(start) },
    ])
  })

  test('mirror - retention holds per policy: block holds the cursor, hold-then-evict releases what is older than maxAge, evict holds nothing', async () => {
    const { store } = openTempStore()
    store.createStream('s')
    const now = Date.now()
    const at = (ts: number, n: number) => Array.from({ length: n }, () => ({ value: bytes('x'), timestamp: ts }))
    await store.append('s', 0, [...at(now - 2 * 3_600_000, 200), ...at(now, 20)])
    const holdWith = (policy: MirrorStreamRule['policy']): bigint | null => {
      const mirror = new Mirror({
        store,
        links: [fakeLink([{ match: '*', policy, priority: 0 }])],
        sinkFor: () => fakeSession(new FakeSink()),
        logger: silentLogger,
      })
      mirror.prepare()
      return store.retentionHold('s', 0)
    }
    expect(holdWith({ kind: 'block' })).toBe(0n)
    expect(holdWith({ kind: 'hold-then-evict', maxAgeMs: 3_600_000 })).toBe(200n)
    expect(holdWith({ kind: 'evict' })).toBeNull()
  })

  test('mirror - a stream deleted and created again is not mirrored from its old cursor: the partition pauses', async () => {
    const { store, clock } = openTempStore()
    store.createStream('s')
    await produceRecords(store, 's', 0, 20)
    const sink = new FakeSink()
    const mirror = startFakeMirror(store, sink)
    await until(() => mirror.status()[0]?.partitions[0]?.nextLocal === 20n, 'the first incarnation')
    store.deleteStream('s')
    clock.advance(1000)
    store.createStream('s')
    await produceRecords(store, 's', 0, 30)
    await until(() => mirror.status()[0]?.partitions[0]?.state === 'paused-stream-recreated', 'the pause')
    expect(sink.records('gw1.s', 0)).toHaveLength(20)
  })

  test('mirror - a higher-priority stream is served before a lower one with a backlog', async () => {
    const { store } = openTempStore()
    store.createStream('bulk')
    store.createStream('alarms')
    for (let i = 0; i < 10; i++) await produceRecords(store, 'bulk', 0, 50, i * 50)
    await produceRecords(store, 'alarms', 0, 3)
    const sink = new FakeSink()
    startFakeMirror(
      store,
      sink,
      fakeLink([
        { match: 'alarms', policy: { kind: 'block' }, priority: 10 },
        { match: '*', policy: { kind: 'block' }, priority: 0 },
      ]),
    )
    await until(() => sink.records('gw1.bulk', 0).length === 500, 'the backlog')
    const order = sink.sends().map((c) => c.topic)
    expect(order[0]).toBe('gw1.alarms')
  })
})
