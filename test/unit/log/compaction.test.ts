import { describe, expect, test } from 'vitest'
import type { LogStore } from '../../../src/log/log-store.ts'
import { bytes, openTempStore, text } from '../../helpers/temp-store.ts'

const second = 1000
const kv = (key: string, value: string | null) => ({ key: bytes(key), value: value === null ? null : bytes(value) })

/** [offset, key, value] of every record present, from logStart. */
function contents(store: LogStore, stream = 'c', partition = 0): Array<[number, string | null, string | null]> {
  return store
    .read(stream, partition, store.earliestOffset(stream, partition), { maxRecords: 10_000 })
    .records.map((r) => [Number(r.offset), text(r.key), text(r.value)])
}

describe('compaction - latest per key', () => {
  test('compaction - keeps the latest record per key at its original offset', async () => {
    const { store } = openTempStore()
    store.createStream('c', { cleanupPolicy: 'compact' })
    await store.append('c', 0, [
      kv('a', 'a1'),
      kv('b', 'b1'),
      kv('a', 'a2'),
      kv('c', 'c1'),
      kv('a', 'a3'),
      kv('b', 'b2'),
    ])
    await store.runMaintenance()
    expect(contents(store)).toEqual([
      [3, 'c', 'c1'],
      [4, 'a', 'a3'],
      [5, 'b', 'b2'],
    ])
    expect(store.stats().compactionDeletedRecords).toBe(3)
    // logStart and logEnd do not move; the partition info counts only what is left.
    expect(store.describeStream('c').partitions[0]).toEqual({
      partition: 0,
      logStartOffset: 0n,
      logEndOffset: 6n,
      records: 3,
      bytes: 3 * (1 + 2),
    })
  })

  test('compaction - reads skip the holes and nextOffset passes them', async () => {
    const { store } = openTempStore()
    store.createStream('c', { cleanupPolicy: 'compact' })
    await store.append('c', 0, [kv('a', '1'), kv('a', '2'), kv('b', '3'), kv('a', '4'), kv('b', '5')])
    await store.runMaintenance()
    // Left: 3 (a=4), 4 (b=5).
    const fromHole = store.read('c', 0, 1n, { maxRecords: 1 })
    expect(fromHole.records.map((r) => Number(r.offset))).toEqual([3])
    expect(fromHole.nextOffset).toBe(4n)
    expect(store.read('c', 0, 0n).records.map((r) => Number(r.offset))).toEqual([3, 4])
    // A read into a region that compaction emptied up to the end moves nextOffset to logEnd.
    await store.append('c', 0, [kv('a', '6'), kv('b', '7')])
    await store.runMaintenance()
    expect(store.read('c', 0, 3n)).toMatchObject({ records: [{ offset: 5n }, { offset: 6n }], nextOffset: 7n })
  })

  test('compaction - later appends compact earlier survivors; a reopened store continues', async () => {
    const temp = openTempStore()
    temp.store.createStream('c', { cleanupPolicy: 'compact', partitions: 2 })
    await temp.store.append('c', 0, [kv('a', '1'), kv('b', '1')])
    await temp.store.append('c', 1, [kv('a', 'other partition')])
    await temp.store.runMaintenance()
    await temp.store.append('c', 0, [kv('a', '2')])
    await temp.store.runMaintenance()
    expect(contents(temp.store)).toEqual([
      [1, 'b', '1'],
      [2, 'a', '2'],
    ])
    // Keys are per partition.
    expect(contents(temp.store, 'c', 1)).toEqual([[0, 'a', 'other partition']])

    const store = await temp.reopen()
    await store.append('c', 0, [kv('b', '2')])
    await store.runMaintenance()
    expect(contents(store)).toEqual([
      [2, 'a', '2'],
      [3, 'b', '2'],
    ])
  })

  test('compaction - a delete-policy stream is never compacted; altering it to compact compacts it', async () => {
    const { store } = openTempStore()
    store.createStream('c', { cleanupPolicy: 'delete', retentionMs: null })
    await store.append('c', 0, [kv('a', '1'), kv('a', '2'), { value: bytes('no key') }, { value: bytes('no key') }])
    await store.runMaintenance()
    expect(contents(store)).toHaveLength(4)
    store.alterStream('c', { cleanupPolicy: 'compact' })
    await store.runMaintenance()
    // Records without a key (from before the change) are not duplicates of each other.
    expect(contents(store)).toEqual([
      [1, 'a', '2'],
      [2, null, 'no key'],
      [3, null, 'no key'],
    ])
  })

  test('compaction - keys are compared as bytes', async () => {
    const { store } = openTempStore()
    store.createStream('c', { cleanupPolicy: 'compact' })
    await store.append('c', 0, [
      { key: new Uint8Array([0, 1]), value: bytes('1') },
      { key: new Uint8Array([0, 1, 0]), value: bytes('2') },
      { key: new Uint8Array([]), value: bytes('3') },
      { key: new Uint8Array([0, 1]), value: bytes('4') },
      { key: new Uint8Array([]), value: bytes('5') },
    ])
    await store.runMaintenance()
    expect(store.read('c', 0, 0n).records.map((r) => text(r.value))).toEqual(['2', '4', '5'])
  })
})

describe('compaction - tombstones', () => {
  test('compaction - a tombstone removes older values at once and goes itself only after deleteRetentionMs', async () => {
    const { store, clock } = openTempStore()
    store.createStream('c', { cleanupPolicy: 'compact', deleteRetentionMs: 60 * second })
    const t0 = clock.now()
    await store.append('c', 0, [kv('a', '1'), kv('b', '1'), kv('a', '2')])
    await store.append('c', 0, [kv('a', null)])
    await store.runMaintenance()
    expect(contents(store)).toEqual([
      [1, 'b', '1'],
      [3, 'a', null],
    ])

    clock.set(t0 + 60 * second) // exactly deleteRetentionMs old: still readable
    await store.runMaintenance()
    expect(contents(store)).toEqual([
      [1, 'b', '1'],
      [3, 'a', null],
    ])

    // One millisecond later it is older than deleteRetentionMs; the next compaction (due here because
    // of a new append) removes it.
    clock.set(t0 + 60 * second + 1)
    await store.append('c', 0, [kv('d', '1')])
    await store.runMaintenance()
    expect(contents(store)).toEqual([
      [1, 'b', '1'],
      [4, 'd', '1'],
    ])
    expect(store.describeStream('c').partitions[0]).toMatchObject({ logEndOffset: 5n, records: 2 })
  })

  test('compaction - without new appends an expired tombstone still goes within twice deleteRetentionMs', async () => {
    const { store, clock } = openTempStore()
    store.createStream('c', { cleanupPolicy: 'compact', deleteRetentionMs: 60 * second })
    const t0 = clock.now()
    await store.append('c', 0, [kv('a', '1'), kv('a', null)])
    await store.runMaintenance()
    expect(contents(store)).toEqual([[1, 'a', null]])
    // An idle partition is re-examined every deleteRetentionMs, so the bound is 2x, not 1x.
    clock.set(t0 + 120 * second)
    await store.runMaintenance()
    expect(contents(store)).toEqual([])
    expect(store.describeStream('c').partitions[0]).toMatchObject({ logStartOffset: 0n, logEndOffset: 2n, records: 0 })
  })

  test('compaction - a tombstone superseded by a new value goes with the older records', async () => {
    const { store } = openTempStore()
    store.createStream('c', { cleanupPolicy: 'compact', deleteRetentionMs: 3_600_000 })
    await store.append('c', 0, [kv('a', '1'), kv('a', null), kv('a', '2')])
    await store.runMaintenance()
    expect(contents(store)).toEqual([[2, 'a', '2']])
  })

  test('compaction - the tombstone age is measured from its own timestamp', async () => {
    const { store, clock } = openTempStore()
    store.createStream('c', { cleanupPolicy: 'compact', deleteRetentionMs: 10 * second })
    await store.append('c', 0, [
      { ...kv('old', null), timestamp: clock.now() - 11 * second },
      { ...kv('new', null), timestamp: clock.now() },
    ])
    await store.runMaintenance()
    expect(contents(store)).toEqual([[1, 'new', null]])
  })
})

describe('compaction - holds', () => {
  test('compaction - nothing at or above the retention hold is compacted', async () => {
    const { store, clock } = openTempStore()
    store.createStream('c', { cleanupPolicy: 'compact', deleteRetentionMs: 0 })
    await store.append('c', 0, [kv('a', '1'), kv('b', '1'), kv('a', '2'), kv('b', null), kv('a', '3'), kv('c', null)])
    store.setRetentionHold('mirror', 'c', 0, 2n)
    clock.advance(1)
    await store.runMaintenance()
    // Below the hold, superseded records go; from offset 2 on, everything stays (even tombstones).
    expect(contents(store)).toEqual([
      [2, 'a', '2'],
      [3, 'b', null],
      [4, 'a', '3'],
      [5, 'c', null],
    ])

    store.setRetentionHold('mirror', 'c', 0, 5n)
    await store.runMaintenance()
    expect(contents(store)).toEqual([
      [4, 'a', '3'],
      [5, 'c', null],
    ])

    store.setRetentionHold('mirror', 'c', 0, null)
    await store.runMaintenance()
    expect(contents(store)).toEqual([[4, 'a', '3']])
    expect(store.earliestOffset('c', 0)).toBe(0n)
  })

  test('compaction - works in small steps over many records', async () => {
    const { store } = openTempStore({ maintenance: { stepRecords: 7 } })
    store.createStream('c', { cleanupPolicy: 'compact' })
    const keys = 13
    for (let round = 0; round < 10; round++) {
      await store.append(
        'c',
        0,
        Array.from({ length: keys }, (_, k) => kv(`k${k}`, `${round}`)),
      )
    }
    await store.runMaintenance()
    const left = contents(store)
    expect(left.map(([offset]) => offset)).toEqual(Array.from({ length: keys }, (_, k) => 9 * keys + k))
    expect(left.every(([, , value]) => value === '9')).toBe(true)
    expect(store.stats().compactionDeletedRecords).toBe(9 * keys)
  })
})
