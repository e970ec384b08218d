import { describe, expect, test } from 'vitest'
import type { LogStore } from '../../../src/log/log-store.ts'
import type { RecordInput } from '../../../src/log/types.ts'
import { bytes, openTempStore, text, thrownBy } from '../../helpers/temp-store.ts'

const second = 1000
/** One record per batch and an index entry every 8 records: retention cuts at offsets 8, 16, 24, ... */
const segment = { segmentRecords: 8 }

/** Appends one record per batch (so every 8th offset is a segment boundary), all in one commit. */
async function appendEach(store: LogStore, stream: string, records: RecordInput[], partition = 0): Promise<void> {
  await Promise.all(records.map((r) => store.append(stream, partition, [r])))
}

function values(store: LogStore, stream: string, partition = 0): Array<[number, string | null]> {
  const from = store.earliestOffset(stream, partition)
  return store
    .read(stream, partition, from, { maxRecords: 10_000 })
    .records.map((r) => [Number(r.offset), text(r.value)])
}

const numbered = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => [from + i, String(from + i)])

describe('retention - by age', () => {
  test('retention - records older than retentionMs go, a whole index segment at a time', async () => {
    const { store, clock } = openTempStore({ segment })
    store.createStream('s', { retentionMs: 10 * second })
    const t0 = clock.now()
    // Record i is stamped t0 + i seconds.
    await appendEach(
      store,
      's',
      Array.from({ length: 20 }, (_, i) => ({ value: bytes(String(i)), timestamp: t0 + i * second })),
    )
    clock.set(t0 + 25 * second) // records 0..14 are older than 10 s; the boundary at 16 has record 15 behind it
    await store.runMaintenance()
    expect(store.earliestOffset('s', 0)).toBe(8n)
    expect(values(store, 's')).toEqual(numbered(8, 20))

    clock.set(t0 + 26 * second) // now records 0..15 are expired: the segment [8, 16) can go
    await store.runMaintenance()
    expect(store.earliestOffset('s', 0)).toBe(16n)
    expect(values(store, 's')).toEqual(numbered(16, 20))
    expect(store.stats().retentionDeletedRecords).toBe(16)

    clock.set(t0 + 30 * second) // every record expired: the partition empties, offsets stay
    await store.runMaintenance()
    expect(store.describeStream('s').partitions[0]).toMatchObject({
      logStartOffset: 20n,
      logEndOffset: 20n,
      records: 0,
      bytes: 0,
    })
  })

  test('retention - a slow stream rolls segments on time, so expired records go although no segment filled', async () => {
    const { store, clock } = openTempStore({ segment: { segmentMs: 60 * second } })
    store.createStream('s', { retentionMs: 10 * 60 * second })
    const t0 = clock.now()
    // One record every 2 minutes: 20 records in 40 minutes, far fewer than a 1024-record segment.
    for (let i = 0; i < 20; i++)
      await store.append('s', 0, [{ value: bytes(String(i)), timestamp: t0 + i * 120 * second }])
    clock.set(t0 + 40 * 60 * second)
    await store.runMaintenance()
    // Records older than 10 minutes (0..14, stamped up to minute 28) are gone; 15.. (minute 30 on) stay.
    expect(values(store, 's')).toEqual(numbered(15, 20))
  })

  test('retention - the background timer runs retention as the clock advances', async () => {
    const { store, clock } = openTempStore({ maintenance: { intervalMs: 1000 } })
    store.createStream('s', { retentionMs: 10 * second })
    await store.append('s', 0, [{ value: bytes('old') }])
    clock.advance(11 * second) // fires the maintenance timer repeatedly
    await store.runMaintenance() // waits for any pass still running, then one more
    expect(store.describeStream('s').partitions[0]).toMatchObject({ logStartOffset: 1n, records: 0 })
  })

  test('retention - null retentionMs keeps records forever', async () => {
    const { store, clock } = openTempStore({ segment })
    store.createStream('s', { retentionMs: null })
    await appendEach(
      store,
      's',
      Array.from({ length: 20 }, (_, i) => ({ value: bytes(String(i)), timestamp: i })),
    )
    clock.set(clock.now() + 365 * 86_400 * second) // set, not advance: no year of timers to fire
    await store.runMaintenance()
    expect(values(store, 's')).toEqual(numbered(0, 20))
  })
})

describe('retention - by bytes', () => {
  test('retention - keeps at most retentionBytes per partition, cutting at the first boundary that fits', async () => {
    const { store } = openTempStore({ segment })
    store.createStream('s', { retentionMs: null, retentionBytes: 1000, partitions: 2 })
    // 100 records of 50 bytes = 5000 bytes: the last 20 records fit, and 80 is a boundary.
    await appendEach(
      store,
      's',
      Array.from({ length: 100 }, (_, i) => ({ value: bytes(String(i).padStart(50, '.')) })),
    )
    await appendEach(store, 's', [{ value: bytes('other partition') }], 1)
    await store.runMaintenance()
    expect(store.describeStream('s').partitions).toEqual([
      { partition: 0, logStartOffset: 80n, logEndOffset: 100n, records: 20, bytes: 1000 },
      { partition: 1, logStartOffset: 0n, logEndOffset: 1n, records: 1, bytes: 15 },
    ])
    expect(values(store, 's').map(([offset, v]) => [offset, v?.replace(/^\.+/, '')])).toEqual(numbered(80, 100))

    // Nothing more goes until the partition grows past the limit again.
    await store.runMaintenance()
    expect(store.earliestOffset('s', 0)).toBe(80n)
  })

  test('retention - byte retention changed by alterStream applies at the next pass', async () => {
    const { store } = openTempStore({ segment })
    store.createStream('s', { retentionMs: null })
    await appendEach(
      store,
      's',
      Array.from({ length: 32 }, () => ({ value: new Uint8Array(100) })),
    )
    await store.runMaintenance()
    expect(store.earliestOffset('s', 0)).toBe(0n)
    store.alterStream('s', { retentionBytes: 800 })
    await store.runMaintenance()
    expect(store.describeStream('s').partitions[0]).toMatchObject({ logStartOffset: 24n, records: 8, bytes: 800 })
  })
})

describe('retention - holds', () => {
  test('retention - nothing at or above a hold is deleted; null releases it', async () => {
    const { store, clock } = openTempStore({ segment })
    store.createStream('s', { retentionMs: second })
    await appendEach(
      store,
      's',
      Array.from({ length: 40 }, (_, i) => ({ value: bytes(String(i)) })),
    )
    store.setRetentionHold('mirror', 's', 0, 13n)
    expect(store.retentionHold('s', 0)).toBe(13n)
    clock.advance(2 * second)
    await store.runMaintenance()
    expect(store.earliestOffset('s', 0)).toBe(13n)
    expect(values(store, 's')).toEqual(numbered(13, 40))

    store.setRetentionHold('mirror', 's', 0, 30n)
    await store.runMaintenance()
    expect(values(store, 's')).toEqual(numbered(30, 40))

    store.setRetentionHold('mirror', 's', 0, null)
    expect(store.retentionHold('s', 0)).toBeNull()
    await store.runMaintenance()
    expect(store.describeStream('s').partitions[0]).toMatchObject({ logStartOffset: 40n, records: 0 })
  })

  test('retention - the lowest of several holders wins, per partition', async () => {
    const { store, clock } = openTempStore({ segment })
    store.createStream('s', { retentionMs: second, partitions: 2 })
    for (const partition of [0, 1]) {
      await appendEach(
        store,
        's',
        Array.from({ length: 30 }, (_, i) => ({ value: bytes(String(i)) })),
        partition,
      )
    }
    store.setRetentionHold('mirror', 's', 0, 20n)
    store.setRetentionHold('consumer', 's', 0, 5n)
    store.setRetentionHold('mirror', 's', 1, 25n)
    expect(store.retentionHold('s', 0)).toBe(5n)
    expect(store.retentionHold('s', 1)).toBe(25n)
    clock.advance(2 * second)
    await store.runMaintenance()
    expect(store.earliestOffset('s', 0)).toBe(5n)
    expect(store.earliestOffset('s', 1)).toBe(25n)

    store.setRetentionHold('consumer', 's', 0, null)
    expect(store.retentionHold('s', 0)).toBe(20n)
    store.setRetentionHold('unknown holder', 's', 0, null) // releasing what was never held is harmless
    await store.runMaintenance()
    expect(store.earliestOffset('s', 0)).toBe(20n)
    expect(values(store, 's')).toEqual(numbered(20, 30))
  })

  test('retention - holds also limit byte retention', async () => {
    const { store } = openTempStore({ segment })
    store.createStream('s', { retentionMs: null, retentionBytes: 100 })
    store.setRetentionHold('h', 's', 0, 10n)
    await appendEach(
      store,
      's',
      Array.from({ length: 40 }, () => ({ value: new Uint8Array(10) })),
    )
    await store.runMaintenance()
    expect(store.earliestOffset('s', 0)).toBe(10n)
    store.setRetentionHold('h', 's', 0, null)
    await store.runMaintenance()
    expect(store.earliestOffset('s', 0)).toBe(32n)
  })

  test('retention - deletes only a prefix: logStart moves forward, the rest stays intact', async () => {
    const { store, clock } = openTempStore({ segment })
    store.createStream('s', { retentionMs: 10 * second })
    const t0 = clock.now()
    // Timestamps go back and forth; retention still only ever removes a prefix, cut at a boundary
    // (8, 16) behind which every record is expired. Record 12 is stamped +30 s and guards [8, 16).
    const stamps = Array.from({ length: 24 }, (_, i) => (i === 12 ? 30 : i === 3 || i === 20 ? 0 : i))
    await appendEach(
      store,
      's',
      stamps.map((s, i) => ({ value: bytes(String(i)), timestamp: t0 + s * second })),
    )
    const expectations: Array<[nowSeconds: number, logStart: number]> = [
      [10, 0],
      [17, 0], // cutoff 7 s: record 7 is not older than it
      [18, 8],
      [35, 8],
      [40, 8], // cutoff 30 s: record 12 is not older than it
      [41, 24],
    ]
    for (const [now, logStart] of expectations) {
      clock.set(t0 + now * second)
      await store.runMaintenance()
      expect(store.earliestOffset('s', 0), `at +${now} s`).toBe(BigInt(logStart))
      expect(values(store, 's')).toEqual(numbered(logStart, stamps.length))
    }
  })
})

describe('retention - disk budget', () => {
  const budget = 200_000
  const bigRecord = (timestamp: number): RecordInput => ({ value: new Uint8Array(10_000), timestamp })

  /** Fills two streams alternately, oldest timestamps first, until the database is well over the budget. */
  async function overBudget(store: LogStore): Promise<void> {
    store.createStream('a', { retentionMs: null })
    store.createStream('b', { retentionMs: null })
    for (let i = 0; store.stats().usedBytes <= budget + 40_000; i++) {
      if (i > 100) throw new Error('never got over the budget')
      await store.append(i % 2 === 0 ? 'a' : 'b', 0, [bigRecord(1000 + i)])
    }
  }

  test('retention - over the disk budget the globally oldest records go first', async () => {
    // One record per step, so the eviction order is visible.
    const { store } = openTempStore({ maxDiskBytes: budget, maintenance: { stepRecords: 1 } })
    await overBudget(store)
    const ends = { a: store.latestOffset('a', 0), b: store.latestOffset('b', 0) }
    await store.runMaintenance()
    expect(store.stats().usedBytes).toBeLessThanOrEqual(budget)
    const startA = store.earliestOffset('a', 0)
    const startB = store.earliestOffset('b', 0)
    expect(startA + startB).toBeGreaterThan(0n)
    // Alternating appends, oldest first: the two streams lose the same number of records, give or take one.
    expect(startA - startB).toBeGreaterThanOrEqual(0n)
    expect(startA - startB).toBeLessThanOrEqual(1n)
    expect(store.stats().retentionDeletedRecords).toBe(Number(startA + startB))
    expect(store.latestOffset('a', 0)).toBe(ends.a)
    expect(store.latestOffset('b', 0)).toBe(ends.b)
    await expect(store.append('a', 0, [bigRecord(5000)])).resolves.toMatchObject({ baseOffset: ends.a })
  })

  test('retention - when everything left is held, appends are refused with CAIRN_STORAGE_FULL until a release', async () => {
    const { store } = openTempStore({ maxDiskBytes: budget, maintenance: { stepRecords: 1 } })
    await overBudget(store)
    store.setRetentionHold('mirror', 'a', 0, 0n)
    store.setRetentionHold('mirror', 'b', 0, 1n)
    await store.runMaintenance()
    // Only what lies below the holds could go, and it was not enough.
    expect(store.earliestOffset('a', 0)).toBe(0n)
    expect(store.earliestOffset('b', 0)).toBe(1n)
    expect(store.stats().usedBytes).toBeGreaterThan(budget)
    const endA = store.latestOffset('a', 0)
    const refused = store.append('a', 0, [bigRecord(9000)])
    await expect(refused).rejects.toMatchObject({
      code: 'CAIRN_STORAGE_FULL',
      retriable: true,
      details: { maxDiskBytes: budget },
    })
    expect(store.latestOffset('a', 0)).toBe(endA)
    // Reads still work.
    expect(store.read('a', 0, 0n, { maxRecords: 1 }).records).toHaveLength(1)

    store.setRetentionHold('mirror', 'a', 0, null)
    // The release alone does not reopen intake: the next maintenance pass decides.
    await expect(store.append('a', 0, [bigRecord(9001)])).rejects.toMatchObject({ code: 'CAIRN_STORAGE_FULL' })
    await store.runMaintenance()
    expect(store.stats().usedBytes).toBeLessThanOrEqual(budget)
    expect(store.earliestOffset('a', 0)).toBeGreaterThan(0n)
    expect(store.earliestOffset('b', 0)).toBe(1n) // still held
    await expect(store.append('a', 0, [bigRecord(9002)])).resolves.toMatchObject({ baseOffset: endA })
  })
})

describe('retention - vacuum', () => {
  test('retention - incremental vacuum returns the pages a big delete freed', async () => {
    // First without vacuum (the default policy wants 8 MiB free): the delete leaves free pages.
    const temp = openTempStore({ segment })
    temp.store.createStream('s', { retentionMs: 10 * second })
    await appendEach(
      temp.store,
      's',
      Array.from({ length: 200 }, () => ({ value: new Uint8Array(4096).fill(7) })),
    )
    const full = temp.store.stats()
    temp.clock.advance(11 * second)
    await temp.store.runMaintenance()
    const deleted = temp.store.stats()
    expect(temp.store.describeStream('s').partitions[0]).toMatchObject({ records: 0 })
    expect(deleted.freeBytes).toBeGreaterThan(600_000)
    expect(deleted.fileBytes).toBe(full.fileBytes)
    expect(deleted.usedBytes).toBeLessThan(full.usedBytes)

    // Then with a policy that vacuums small amounts, a few pages per step.
    const store = await temp.reopen({
      maintenance: { vacuumMinFreeBytes: 4096, vacuumFreeFraction: 0.01, vacuumStepPages: 16 },
    })
    expect(store.stats().freeBytes).toBe(deleted.freeBytes)
    await store.runMaintenance()
    const vacuumed = store.stats()
    expect(vacuumed.freeBytes).toBeLessThan(4096 * 2)
    expect(vacuumed.fileBytes).toBeLessThan(deleted.fileBytes - 500_000)
    expect(vacuumed.usedBytes).toBe(deleted.usedBytes)
  })

  test('retention - a vacuum policy of zeros does not spin when nothing is free', async () => {
    const { store } = openTempStore({ maintenance: { vacuumMinFreeBytes: 0, vacuumFreeFraction: 0 } })
    store.createStream('s')
    await store.append('s', 0, [{ value: bytes('x') }])
    await store.runMaintenance() // would never resolve if the vacuum loop ignored "no progress"
    expect(store.stats().freeBytes).toBe(0)
  })

  test('retention - maintenance on a closed store is refused', async () => {
    const temp = openTempStore()
    await temp.store.close()
    await expect(temp.store.runMaintenance()).rejects.toMatchObject({ code: 'CAIRN_STORE_CLOSED' })
    expect(thrownBy(() => temp.store.checkpoint())).toMatchObject({ code: 'CAIRN_STORE_CLOSED' })
  })
})
