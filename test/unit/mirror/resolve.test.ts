import { describe, expect, test } from 'vitest'
import { hasErrorCode } from '../../../src/errors.ts'
import { FakeSink } from '../../../src/mirror/fake-sink.ts'
import type { Mirror } from '../../../src/mirror/mirror.ts'
import { parseProvenance, provenanceHeaders } from '../../../src/mirror/replication-policy.ts'
import { mirroredOffsets, produceRecords, startFakeMirror } from '../../helpers/fake-mirror.ts'
import { openTempStore, text } from '../../helpers/temp-store.ts'
import { until } from '../../helpers/wait.ts'

// An operator's answers to a partition the mirror stopped (mirror.md B5.3): each action applies to some
// states only, is persisted in one transaction, and the partition mirrors on at once.

const range = (from: number, to: number): bigint[] => Array.from({ length: to - from }, (_, i) => BigInt(from + i))

function partitionStatus(mirror: Mirror, partition = 0) {
  return mirror.status()[0]?.partitions.find((p) => p.partition === partition)
}

async function stoppedAs(mirror: Mirror, state: string): Promise<void> {
  await until(() => partitionStatus(mirror)?.state === state, state)
}

const epochs = (sink: FakeSink, topic: string): number[] =>
  sink.records(topic, 0).map((r) => parseProvenance(r.headers)?.epoch ?? -1)

describe('mirror resolve', () => {
  test('resolve - skip drops exactly the refused record, counts it as a gap and announces it upstream', async () => {
    const { store } = openTempStore()
    store.createStream('s')
    await produceRecords(store, 's', 0, 3)
    await store.append('s', 0, [{ key: null, value: new Uint8Array(4000) }])
    await produceRecords(store, 's', 0, 3, 4)
    const sink = new FakeSink({ maxRecordBytes: 1000 })
    const mirror = startFakeMirror(store, sink)
    await stoppedAs(mirror, 'blocked-poison')
    const result = await mirror.resolve({ stream: 's', partition: 0, action: 'skip' })
    expect(result).toMatchObject({ previousState: 'blocked-poison', state: 'active', nextLocal: 4n, mapEpoch: 0 })
    await until(() => sink.records('gw1.s', 0).length === 6, 'the rest')
    expect(mirroredOffsets(sink, 'gw1.s', 0)).toEqual([0n, 1n, 2n, 4n, 5n, 6n])
    expect(parseProvenance(sink.records('gw1.s', 0)[3]?.headers ?? [])?.gapBefore).toBe(1n)
    expect(partitionStatus(mirror)?.gapRecords).toBe(1)
  })

  test('resolve - retry sends the refused record again once upstream accepts it', async () => {
    const { store } = openTempStore()
    store.createStream('s')
    await store.append('s', 0, [{ key: null, value: new Uint8Array(4000) }])
    await produceRecords(store, 's', 0, 2, 1)
    const sink = new FakeSink({ maxRecordBytes: 1000 })
    const mirror = startFakeMirror(store, sink)
    await stoppedAs(mirror, 'blocked-poison')
    sink.maxRecordBytes = 10_000
    await mirror.resolve({ stream: 's', partition: 0, action: 'retry' })
    await until(() => sink.records('gw1.s', 0).length === 3, 'all three')
    expect(mirroredOffsets(sink, 'gw1.s', 0)).toEqual(range(0, 3))
    expect(partitionStatus(mirror)?.gapRecords).toBe(0)
  })

  test('resolve - after an upstream reset, remirror sends what is held locally again under a new map epoch', async () => {
    const { store } = openTempStore()
    store.createStream('s')
    await produceRecords(store, 's', 0, 20)
    const sink = new FakeSink()
    const mirror = startFakeMirror(store, sink)
    await until(() => partitionStatus(mirror)?.nextLocal === 20n, 'the first 20')
    sink.createTopic('gw1.s') // deleted and created again upstream: empty
    sink.failNext('uncertain-not-appended') // the next send is uncertain: the read-back finds the reset
    await produceRecords(store, 's', 0, 5, 20)
    await stoppedAs(mirror, 'paused-upstream-reset')
    expect(await mirror.resolve({ stream: 's', partition: 0, action: 'remirror' })).toMatchObject({
      state: 'active',
      nextLocal: 0n,
      mapEpoch: 1,
    })
    await until(() => partitionStatus(mirror)?.nextLocal === 25n, 'everything again, confirmed')
    expect(mirroredOffsets(sink, 'gw1.s', 0)).toEqual(range(0, 25))
    expect(new Set(epochs(sink, 'gw1.s'))).toEqual(new Set([1]))
    const translated = mirror.translate({
      stream: 's',
      partition: 0,
      kind: 'record',
      direction: 'to-upstream',
      offset: 7n,
    })
    expect(translated.to).toBe(7n)
  })

  test('resolve - after an upstream reset, continue sends only what was not mirrored', async () => {
    const { store } = openTempStore()
    store.createStream('s')
    await produceRecords(store, 's', 0, 10)
    const sink = new FakeSink()
    const mirror = startFakeMirror(store, sink)
    await until(() => partitionStatus(mirror)?.nextLocal === 10n, 'the first 10')
    sink.createTopic('gw1.s')
    sink.failNext('uncertain-not-appended')
    await produceRecords(store, 's', 0, 4, 10)
    await stoppedAs(mirror, 'paused-upstream-reset')
    await mirror.resolve({ stream: 's', partition: 0, action: 'continue' })
    await until(() => sink.records('gw1.s', 0).length === 4, 'the new ones')
    expect(mirroredOffsets(sink, 'gw1.s', 0)).toEqual(range(10, 14))
  })

  test('resolve - a stream created again is mirrored from its start under a new map epoch', async () => {
    const { store, clock } = openTempStore()
    store.createStream('s')
    await produceRecords(store, 's', 0, 20)
    const sink = new FakeSink()
    const mirror = startFakeMirror(store, sink)
    await until(() => partitionStatus(mirror)?.nextLocal === 20n, 'the first incarnation')
    store.deleteStream('s')
    clock.advance(1000)
    store.createStream('s')
    await produceRecords(store, 's', 0, 30, 100)
    await stoppedAs(mirror, 'paused-stream-recreated')
    await mirror.resolve({ stream: 's', partition: 0, action: 'remirror' })
    await until(() => sink.records('gw1.s', 0).length === 50, 'the second incarnation')
    expect(mirroredOffsets(sink, 'gw1.s', 0)).toEqual([...range(0, 20), ...range(0, 30)])
    expect(epochs(sink, 'gw1.s')).toEqual([...Array<number>(20).fill(0), ...Array<number>(30).fill(1)])
    expect(text(sink.records('gw1.s', 0)[20]?.value ?? null)).toBe('v100')
  })

  test('resolve - a diverged partition is rebased: orphans stay upstream, ignored, and mirroring goes on', async () => {
    const { store } = openTempStore()
    store.createStream('s')
    await produceRecords(store, 's', 0, 10)
    const sink = new FakeSink()
    const mirror = startFakeMirror(store, sink)
    await until(() => partitionStatus(mirror)?.nextLocal === 10n, 'the first 10')
    // Another device with the same alias (or a restored backup) wrote "our" offset 500 upstream.
    const impostor = provenanceHeaders({
      gatewayAlias: 'gw1',
      stream: 's',
      partition: 0,
      offset: 500n,
      timestampMs: 1,
      epoch: 0,
    })
    await sink.send('gw1.s', 0, [{ key: null, value: new Uint8Array([1]), headers: impostor, timestamp: 1 }])
    sink.failNext('uncertain-not-appended')
    await produceRecords(store, 's', 0, 5, 10)
    await stoppedAs(mirror, 'diverged')
    await mirror.resolve({ stream: 's', partition: 0, action: 'rebase' })
    await until(() => sink.records('gw1.s', 0).length === 16, 'the rest, after the orphan')
    expect(mirroredOffsets(sink, 'gw1.s', 0)).toEqual([...range(0, 10), 500n, ...range(10, 15)])
    expect(epochs(sink, 'gw1.s').slice(11)).toEqual([1, 1, 1, 1, 1])
    // A later uncertain send reconciles across the orphan: it belongs to an older epoch.
    sink.failNext('uncertain-appended')
    await produceRecords(store, 's', 0, 3, 15)
    await until(() => partitionStatus(mirror)?.nextLocal === 18n, 'the reconciled batch')
    expect(mirroredOffsets(sink, 'gw1.s', 0).slice(16)).toEqual(range(15, 18))
  })

  test('resolve - an action that does not fit the state, or an active partition, is refused with the choices', async () => {
    const { store } = openTempStore()
    store.createStream('s')
    await store.append('s', 0, [{ key: null, value: new Uint8Array(4000) }])
    const sink = new FakeSink({ maxRecordBytes: 1000 })
    const mirror = startFakeMirror(store, sink)
    await stoppedAs(mirror, 'blocked-poison')
    const wrong = await mirror.resolve({ stream: 's', partition: 0, action: 'rebase' }).catch((e: unknown) => e)
    expect(hasErrorCode(wrong, 'CAIRN_REQUEST_INVALID')).toBe(true)
    expect(String(wrong)).toMatch(/blocked-poison: rebase does not apply \(use retry or skip\)/)
    await mirror.resolve({ stream: 's', partition: 0, action: 'skip' })
    const active = await mirror.resolve({ stream: 's', partition: 0, action: 'retry' }).catch((e: unknown) => e)
    expect(String(active)).toMatch(/is active: nothing to resolve/)
    const unknown = await mirror.resolve({ stream: 'nope', partition: 0, action: 'retry' }).catch((e: unknown) => e)
    expect(hasErrorCode(unknown, 'CAIRN_OFFSET_NOT_MIRRORED')).toBe(true)
  })
})
