import { pino } from 'pino'
import { describe, expect, onTestFinished, test } from 'vitest'
import { GroupCoordinator } from '../../../src/groups/group-coordinator.ts'
import type { LogStore } from '../../../src/log/log-store.ts'
import { CheckpointExporter, type CheckpointPartition } from '../../../src/mirror/checkpoints.ts'
import { FakeSink } from '../../../src/mirror/fake-sink.ts'
import { heartbeatRecord } from '../../../src/mirror/heartbeats.ts'
import type { KafkaSink } from '../../../src/mirror/kafka-sink.ts'
import type { PartitionCursor } from '../../../src/mirror/mirror-state.ts'
import { defaultLinkSettings, Mirror, type MirrorLinkConfig } from '../../../src/mirror/mirror.ts'
import { decodeCheckpoint, decodeHeartbeat, type Checkpoint } from '../../../src/mirror/mm2-format.ts'
import { OffsetMap, type OffsetRun } from '../../../src/mirror/offset-map.ts'
import { fakeSession } from '../../helpers/fake-mirror.ts'
import type { FakeClock } from '../../helpers/fake-clock.ts'
import { bytes, openTempStore } from '../../helpers/temp-store.ts'
import { until } from '../../helpers/wait.ts'

// Group checkpoints and heartbeats in MM2's formats (mirror.md B9.3, B2.3) against the in-process
// FakeSink. The exporter is driven directly with hand-made offset maps (exact translation across
// gaps); the link tests run a Mirror on the store's FakeClock, so intervals pass by advance().

const logger = pino({ level: 'silent' })
const checkpointsTopic = 'gw1.checkpoints.internal'

async function produce(store: LogStore, stream: string, partition: number, count: number, from = 0): Promise<void> {
  await store.append(
    stream,
    partition,
    Array.from({ length: count }, (_, i) => ({ key: bytes(`k${from + i}`), value: bytes(`v${from + i}`) })),
  )
}

function coordinator(store: LogStore, clock: FakeClock): GroupCoordinator {
  const groups = new GroupCoordinator({ store, clock })
  onTestFinished(() => groups.close())
  return groups
}

async function commit(
  groups: GroupCoordinator,
  group: string,
  stream: string,
  partition: number,
  offset: bigint,
  metadata = '',
): Promise<void> {
  await groups.commitOffsets({ group, offsets: [{ stream, partition, offset, metadata }] })
}

/** A mirrored partition as a PartitionMirror would show it: runs of the exact map and the cursor after them. */
function mirrored(
  stream: string,
  partition: number,
  runs: OffsetRun[],
  state: PartitionCursor['state'] = 'active',
): CheckpointPartition {
  const last = runs.at(-1)
  return {
    map: new OffsetMap(runs),
    cursor: {
      link: 'central',
      stream,
      partition,
      upstreamTopic: `gw1.${stream}`,
      upstreamPartition: partition,
      state,
      nextLocal: last === undefined ? 0n : last.localStart + last.length,
      lastUpstream: last === undefined ? -1n : last.upstreamStart + last.length - 1n,
      mapEpoch: 0,
      confirmedRecords: 0,
      confirmedBytes: 0,
      lastConfirmedMs: null,
      pendingGap: 0,
      streamCreatedMs: 0,
    },
  }
}

// Local 0..3 went up at 100..103 (others' records in between), local 4..5 are a gap (evicted), 6..9 at 200..203.
const gapped = (): CheckpointPartition =>
  mirrored('sensors', 0, [
    { localStart: 0n, upstreamStart: 100n, length: 4n },
    { localStart: 6n, upstreamStart: 200n, length: 4n },
  ])

function exporter(
  store: LogStore,
  sink: KafkaSink,
  groups: GroupCoordinator,
  clock: FakeClock,
  patterns = ['*'],
): CheckpointExporter {
  return new CheckpointExporter({
    link: 'central',
    gatewayAlias: 'gw1',
    store,
    sink,
    groups,
    groupPatterns: patterns,
    clock,
    logger,
    batchMaxRecords: 500,
    batchMaxBytes: 256 * 1024,
  })
}

/** Every checkpoint upstream, decoded, in order; checks they all went to partition 0. */
function checkpoints(sink: FakeSink): Checkpoint[] {
  for (let p = 1; p < 4; p++) expect(sink.records(checkpointsTopic, p)).toEqual([])
  return sink
    .records(checkpointsTopic, 0)
    .map((r) => decodeCheckpoint(r.key ?? new Uint8Array(), r.value ?? new Uint8Array()))
}

async function setup(): Promise<{ store: LogStore; clock: FakeClock; groups: GroupCoordinator; sink: FakeSink }> {
  const { store, clock } = openTempStore()
  store.createStream('sensors', { partitions: 2 })
  await produce(store, 'sensors', 0, 10)
  await produce(store, 'sensors', 1, 10)
  return { store, clock, groups: coordinator(store, clock), sink: new FakeSink() }
}

describe('checkpoints - exporter', () => {
  test('checkpoints - a committed position goes up as an MM2 Checkpoint v0 with the exact upstream position', async () => {
    const { store, clock, groups, sink } = await setup()
    await commit(groups, 'g1', 'sensors', 0, 2n, 'app-meta')
    const x = exporter(store, sink, groups, clock)
    expect(await x.export([gapped()])).toBe(1)
    expect(checkpoints(sink)).toEqual([
      { group: 'g1', topic: 'gw1.sensors', partition: 0, upstreamOffset: 2n, offset: 102n, metadata: 'app-meta' },
    ])
    // Golden bytes of the value: version 0 | upstreamOffset 2 | offset 102 | metadata "app-meta".
    const [record] = sink.records(checkpointsTopic, 0)
    expect(Buffer.from(record?.value ?? []).toString('hex')).toBe(
      '0000' + '0000000000000002' + '0000000000000066' + '0008' + Buffer.from('app-meta').toString('hex'),
    )
    expect(record?.timestamp).toBe(clock.now())
    expect(x.emitted('g1', 'sensors', 0)).toEqual({
      localPos: 2n,
      upstreamPos: 102n,
      metadata: 'app-meta',
      emittedMs: clock.now(),
    })
  })

  test('checkpoints - a position in a gap or at the frontier translates to the next mirrored record upstream', async () => {
    const { store, clock, groups, sink } = await setup()
    await commit(groups, 'in-gap', 'sensors', 0, 4n)
    await commit(groups, 'at-end', 'sensors', 0, 10n)
    await exporter(store, sink, groups, clock).export([gapped()])
    expect(checkpoints(sink).map((c) => [c.group, c.upstreamOffset, c.offset])).toEqual([
      ['at-end', 10n, 204n],
      ['in-gap', 4n, 200n],
    ])
  })

  test('checkpoints - not emitted again while unchanged; emitted again when the position advanced', async () => {
    const { store, clock, groups, sink } = await setup()
    await commit(groups, 'g1', 'sensors', 0, 2n)
    const x = exporter(store, sink, groups, clock)
    expect(await x.export([gapped()])).toBe(1)
    clock.advance(60_000)
    expect(await x.export([gapped()])).toBe(0)
    expect(sink.sends(checkpointsTopic)).toHaveLength(1)
    await commit(groups, 'g1', 'sensors', 0, 7n)
    expect(await x.export([gapped()])).toBe(1)
    expect(checkpoints(sink).map((c) => [c.upstreamOffset, c.offset])).toEqual([
      [2n, 102n],
      [7n, 201n],
    ])
    expect(x.emitted('g1', 'sensors', 0)?.emittedMs).toBe(clock.now())
  })

  test('checkpoints - MM2 checkpointIsMoreRecent: a local advance with the same upstream image is skipped, a rewind is emitted', async () => {
    const { store, clock, groups, sink } = await setup()
    const x = exporter(store, sink, groups, clock)
    await commit(groups, 'g1', 'sensors', 0, 4n) // in the gap: 200
    expect(await x.export([gapped()])).toBe(1)
    await commit(groups, 'g1', 'sensors', 0, 6n) // 200 again: nothing newer upstream
    expect(await x.export([gapped()])).toBe(0)
    await commit(groups, 'g1', 'sensors', 0, 1n) // the local group rewound: upstream must rewind too
    expect(await x.export([gapped()])).toBe(1)
    expect(checkpoints(sink).map((c) => [c.upstreamOffset, c.offset])).toEqual([
      [4n, 200n],
      [1n, 101n],
    ])
  })

  test('checkpoints - only matching groups, only mirrored partitions with something upstream, never untrusted ones', async () => {
    const { store, clock, groups, sink } = await setup()
    store.createStream('other')
    await produce(store, 'other', 0, 3)
    for (const group of ['app-1', 'app-2', 'ops']) await commit(groups, group, 'sensors', 0, 3n)
    await commit(groups, 'app-1', 'sensors', 1, 5n) // partition 1: nothing mirrored yet
    await commit(groups, 'app-1', 'other', 0, 3n) // not mirrored by this link
    const x = exporter(store, sink, groups, clock, ['app-*'])
    const notYet = mirrored('sensors', 1, [])
    expect(await x.export([gapped(), notYet])).toBe(2)
    expect(checkpoints(sink).map((c) => [c.group, c.partition, c.offset])).toEqual([
      ['app-1', 0, 103n],
      ['app-2', 0, 103n],
    ])
    // Once partition 1 has records upstream it gets its checkpoint; a paused or diverged partition never.
    const now = mirrored('sensors', 1, [{ localStart: 0n, upstreamStart: 0n, length: 10n }])
    expect(await x.export([gapped(), now])).toBe(1)
    expect(checkpoints(sink).at(-1)).toMatchObject({ group: 'app-1', partition: 1, upstreamOffset: 5n, offset: 5n })
    await commit(groups, 'app-1', 'sensors', 1, 9n)
    const run = [{ localStart: 0n, upstreamStart: 0n, length: 10n }]
    expect(await x.export([mirrored('sensors', 1, run, 'paused-upstream-reset')])).toBe(0)
    expect(await x.export([mirrored('sensors', 1, run, 'diverged')])).toBe(0)
  })

  test('checkpoints - what was emitted survives a restart; a failed send records nothing and is retried', async () => {
    const temp = openTempStore()
    temp.store.createStream('sensors', { partitions: 2 })
    await produce(temp.store, 'sensors', 0, 10)
    let groups = new GroupCoordinator({ store: temp.store, clock: temp.clock })
    await commit(groups, 'g1', 'sensors', 0, 2n)
    const sink = new FakeSink()
    expect(await exporter(temp.store, sink, groups, temp.clock).export([gapped()])).toBe(1)
    groups.close()
    const store = await temp.reopen()
    groups = coordinator(store, temp.clock)
    const row = store.database.prepare('SELECT * FROM mirror_group_checkpoint').safeIntegers(false).all() as Array<
      Record<string, unknown>
    >
    expect(row).toEqual([
      {
        link_id: 'central',
        group_id: 'g1',
        stream: 'sensors',
        partition: 0,
        local_pos: 2,
        upstream_pos: 102,
        metadata: '',
        emitted_ms: temp.clock.now(),
      },
    ])
    const x = exporter(store, sink, groups, temp.clock)
    expect(await x.export([gapped()])).toBe(0)
    await commit(groups, 'g1', 'sensors', 0, 3n)
    sink.failNext('unavailable', { topic: checkpointsTopic })
    await expect(x.export([gapped()])).rejects.toMatchObject({ code: 'CAIRN_UPSTREAM_UNAVAILABLE' })
    expect(x.emitted('g1', 'sensors', 0)?.localPos).toBe(2n)
    expect(await x.export([gapped()])).toBe(1)
    expect(checkpoints(sink).map((c) => c.offset)).toEqual([102n, 103n])
  })

  test('checkpoints - many checkpoints go up in batches within the link limits, all to partition 0', async () => {
    const { store, clock, groups, sink } = await setup()
    for (let g = 0; g < 25; g++) await commit(groups, `g${String(g).padStart(2, '0')}`, 'sensors', 0, BigInt(g % 10))
    const x = new CheckpointExporter({
      link: 'central',
      gatewayAlias: 'gw1',
      store,
      sink,
      groups,
      groupPatterns: ['*'],
      clock,
      logger,
      batchMaxRecords: 10,
      batchMaxBytes: 1 << 20,
    })
    expect(await x.export([gapped()])).toBe(25)
    expect(sink.sends(checkpointsTopic).map((c) => c.records)).toEqual([10, 10, 5])
    expect(checkpoints(sink)).toHaveLength(25)
  })

  test('heartbeats - an MM2 Heartbeat v0: source alias, target alias, timestamp', () => {
    const r = heartbeatRecord('gw-0042', 'central', 1_700_000_000_000)
    expect(Buffer.from(r.key ?? []).toString('hex')).toBe('000767772d30303432000763656e7472616c')
    expect(Buffer.from(r.value ?? []).toString('hex')).toBe('00000000018bcfe56800')
    expect(decodeHeartbeat(r.key ?? new Uint8Array(), r.value ?? new Uint8Array())).toEqual({
      sourceAlias: 'gw-0042',
      targetAlias: 'central',
      timestampMs: 1_700_000_000_000,
    })
    expect(r.timestamp).toBe(1_700_000_000_000)
  })
})

// ---- hooked into the link ----

function link(extra: Partial<MirrorLinkConfig> = {}): MirrorLinkConfig {
  return {
    ...defaultLinkSettings,
    name: 'central',
    gatewayAlias: 'gw1',
    recoveryGraceMs: 0,
    backoff: { baseMs: 1, capMs: 5, authCapMs: 5, stableAfterMs: 1000 },
    ...extra,
  }
}

function startMirror(
  store: LogStore,
  sink: FakeSink,
  clock: FakeClock,
  groups: GroupCoordinator,
  config = link(),
): Mirror {
  const mirror = new Mirror({ store, links: [config], sinkFor: () => fakeSession(sink), groups, clock, logger })
  mirror.prepare()
  mirror.start()
  onTestFinished(() => mirror.close())
  return mirror
}

describe('checkpoints - in the link', () => {
  test('checkpoints - at link-up and every interval; heartbeats every interval; both in the link status', async () => {
    const { store, clock } = openTempStore()
    store.createStream('s')
    await produce(store, 's', 0, 10)
    const groups = coordinator(store, clock)
    await commit(groups, 'g1', 's', 0, 7n)
    const sink = new FakeSink()
    const mirror = startMirror(store, sink, clock, groups)
    await until(() => sink.records('gw1.s', 0).length === 10, 'the data')
    // The link-up round ran before any data went up (no upstream anchor yet): no checkpoint. No heartbeat
    // before an interval.
    expect(sink.records(checkpointsTopic, 0)).toEqual([])
    expect(sink.records('gw1.heartbeats', 0)).toEqual([])
    expect(mirror.status()[0]?.lastCheckpointMs).toBe(clock.now())
    expect(mirror.status()[0]).not.toHaveProperty('lastHeartbeatMs')
    clock.advance(60_000)
    await until(() => sink.records(checkpointsTopic, 0).length === 1, 'the first checkpoint')
    await until(() => sink.records('gw1.heartbeats', 0).length === 1, 'the first heartbeat')
    expect(checkpoints(sink)).toEqual([
      { group: 'g1', topic: 'gw1.s', partition: 0, upstreamOffset: 7n, offset: 7n, metadata: '' },
    ])
    const [beat] = sink.records('gw1.heartbeats', 0)
    expect(decodeHeartbeat(beat?.key ?? new Uint8Array(), beat?.value ?? new Uint8Array())).toEqual({
      sourceAlias: 'gw1',
      targetAlias: 'central',
      timestampMs: clock.now(),
    })
    for (let p = 1; p < 4; p++) expect(sink.records('gw1.heartbeats', p)).toEqual([])
    await until(() => mirror.status()[0]?.lastCheckpointMs !== undefined, 'the status')
    expect(mirror.status()[0]).toMatchObject({ lastCheckpointMs: clock.now(), lastHeartbeatMs: clock.now() })
    // The next interval: a heartbeat, and a checkpoint only because the group moved.
    await commit(groups, 'g1', 's', 0, 10n)
    clock.advance(60_000)
    await until(() => sink.records('gw1.heartbeats', 0).length === 2, 'the second heartbeat')
    await until(() => sink.records(checkpointsTopic, 0).length === 2, 'the second checkpoint')
    expect(checkpoints(sink).at(-1)).toMatchObject({ upstreamOffset: 10n, offset: 10n })
    clock.advance(60_000)
    await until(() => sink.records('gw1.heartbeats', 0).length === 3, 'the third heartbeat')
    await until(() => mirror.status()[0]?.lastCheckpointMs === clock.now(), 'the third round')
    expect(sink.records(checkpointsTopic, 0)).toHaveLength(2)
    await mirror.close()

    // A restart is a link-up: a position that moved meanwhile (here an operator's rewind) goes up at once,
    // compared with what the table says was emitted before.
    await commit(groups, 'g1', 's', 0, 4n)
    const again = startMirror(store, sink, clock, groups)
    await until(() => sink.records(checkpointsTopic, 0).length === 3, 'the link-up checkpoint')
    expect(checkpoints(sink).at(-1)).toMatchObject({ upstreamOffset: 4n, offset: 4n })
    // The round ends (lastCheckpointMs) once the emitted positions are recorded, just after the send.
    await until(() => again.status()[0]?.lastCheckpointMs === clock.now(), 'the link-up round')
  })

  test('checkpoints - a refused checkpoint send is reported and retried, and data goes on', async () => {
    const { store, clock } = openTempStore()
    store.createStream('s')
    await produce(store, 's', 0, 5)
    const groups = coordinator(store, clock)
    await commit(groups, 'g1', 's', 0, 5n)
    const sink = new FakeSink()
    sink.failNext('rejected', { topic: checkpointsTopic, kafkaError: 'TOPIC_AUTHORIZATION_FAILED' })
    const mirror = startMirror(store, sink, clock, groups, link({ heartbeatIntervalMs: 0 }))
    await until(() => sink.records('gw1.s', 0).length === 5, 'the data')
    clock.advance(60_000)
    await until(() => mirror.status()[0]?.lastError?.code === 'CAIRN_UPSTREAM_REJECTED', 'the refusal')
    expect(mirror.status()[0]?.state).toBe('streaming')
    await produce(store, 's', 0, 3, 5)
    await until(() => sink.records('gw1.s', 0).length === 8, 'more data')
    clock.advance(60_000)
    await until(() => sink.records(checkpointsTopic, 0).length === 1, 'the retried checkpoint')
    expect(checkpoints(sink)[0]).toMatchObject({ upstreamOffset: 5n, offset: 5n })
    expect(sink.records('gw1.heartbeats', 0)).toEqual([]) // heartbeats off
  })

  test('checkpoints - an unavailable upstream backs the link off; checkpoints go up after it reconnects', async () => {
    const { store, clock } = openTempStore()
    store.createStream('s')
    await produce(store, 's', 0, 5)
    const groups = coordinator(store, clock)
    const sink = new FakeSink()
    const mirror = startMirror(store, sink, clock, groups)
    await until(() => sink.records('gw1.s', 0).length === 5, 'the data')
    await commit(groups, 'g1', 's', 0, 3n)
    sink.failNext('unavailable', { topic: checkpointsTopic })
    clock.advance(60_000)
    await until(() => mirror.status()[0]?.state === 'backoff', 'the backoff')
    // The backoff ends by the clock; at the link-up the checkpoint goes up.
    for (let i = 0; i < 100 && sink.records(checkpointsTopic, 0).length === 0; i++) {
      clock.advance(10)
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
    expect(checkpoints(sink)).toEqual([
      { group: 'g1', topic: 'gw1.s', partition: 0, upstreamOffset: 3n, offset: 3n, metadata: '' },
    ])
    expect(mirror.status()[0]?.state).toBe('streaming')
  })
})
