import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { BrokerError } from '../../../src/errors.ts'
import type { LogRecord, RecordInput } from '../../../src/log/types.ts'
import { bytes, openTempStore, text, thrownBy } from '../../helpers/temp-store.ts'

const value = (s: string): RecordInput => ({ value: bytes(s) })

/** Opens a store with one stream holding `count` records whose values are "0", "1", ... */
async function storeWithRecords(count: number) {
  const temp = openTempStore()
  temp.store.createStream('s')
  await temp.store.append(
    's',
    0,
    Array.from({ length: count }, (_, i) => value(String(i))),
  )
  return temp.store
}

const offsets = (records: LogRecord[]) => records.map((r) => Number(r.offset))

describe('read - limits', () => {
  test('read - returns records from the offset asked, with the partition bounds', async () => {
    const store = await storeWithRecords(10)
    const result = store.read('s', 0, 3n)
    expect(offsets(result.records)).toEqual([3, 4, 5, 6, 7, 8, 9])
    expect(result.records.map((r) => text(r.value))).toEqual(['3', '4', '5', '6', '7', '8', '9'])
    expect(result).toMatchObject({ nextOffset: 10n, logStartOffset: 0n, logEndOffset: 10n })
  })

  test('read - maxRecords caps the records and nextOffset continues after the last one', async () => {
    const store = await storeWithRecords(10)
    const first = store.read('s', 0, 0n, { maxRecords: 4 })
    expect(offsets(first.records)).toEqual([0, 1, 2, 3])
    expect(first.nextOffset).toBe(4n)
    const second = store.read('s', 0, first.nextOffset, { maxRecords: 4 })
    expect(offsets(second.records)).toEqual([4, 5, 6, 7])
    const third = store.read('s', 0, second.nextOffset, { maxRecords: 4 })
    expect(offsets(third.records)).toEqual([8, 9])
    expect(third.nextOffset).toBe(10n)
    for (const maxRecords of [0, -1, 1.5]) {
      expect(() => store.read('s', 0, 0n, { maxRecords })).toThrow(RangeError)
    }
  })

  test('read - the default maxRecords is 500', async () => {
    const store = await storeWithRecords(600)
    const result = store.read('s', 0, 0n)
    expect(result.records).toHaveLength(500)
    expect(result.nextOffset).toBe(500n)
  })

  test('read - maxBytes stops before the record that would exceed it, but always returns at least one', async () => {
    const { store } = openTempStore()
    store.createStream('s')
    // key + value sizes 10, 10, 30, 10 (headers and meta do not count for maxBytes).
    await store.append('s', 0, [
      { key: bytes('kkkkk'), value: bytes('vvvvv'), meta: { large: 'x'.repeat(100) } },
      { value: bytes('x'.repeat(10)), headers: [{ key: 'h', value: new Uint8Array(100) }] },
      { value: bytes('x'.repeat(30)) },
      { value: bytes('x'.repeat(10)) },
    ])
    expect(offsets(store.read('s', 0, 0n, { maxBytes: 20 }).records)).toEqual([0, 1])
    expect(offsets(store.read('s', 0, 0n, { maxBytes: 29 }).records)).toEqual([0, 1])
    expect(offsets(store.read('s', 0, 0n, { maxBytes: 50 }).records)).toEqual([0, 1, 2])
    expect(offsets(store.read('s', 0, 0n, { maxBytes: 60 }).records)).toEqual([0, 1, 2, 3])
    // A record larger than maxBytes still comes back alone: a consumer must always make progress.
    const big = store.read('s', 0, 2n, { maxBytes: 1 })
    expect(offsets(big.records)).toEqual([2])
    expect(big.nextOffset).toBe(3n)
    expect(offsets(store.read('s', 0, 0n, { maxBytes: 0 }).records)).toEqual([0])
  })

  test('read - at logEnd returns no records and nextOffset = logEnd', async () => {
    const store = await storeWithRecords(3)
    expect(store.read('s', 0, 3n)).toEqual({ records: [], nextOffset: 3n, logStartOffset: 0n, logEndOffset: 3n })
    const { store: empty } = openTempStore()
    empty.createStream('e')
    expect(empty.read('e', 0, 0n)).toEqual({ records: [], nextOffset: 0n, logStartOffset: 0n, logEndOffset: 0n })
  })
})

describe('read - ranges', () => {
  test('read - above logEnd is CAIRN_OFFSET_OUT_OF_RANGE with the bounds in details', async () => {
    const store = await storeWithRecords(3)
    const error = thrownBy(() => store.read('s', 0, 4n))
    expect(error).toBeInstanceOf(BrokerError)
    expect(error).toMatchObject({
      code: 'CAIRN_OFFSET_OUT_OF_RANGE',
      retriable: false,
      details: { partition: 0, offset: 4, logStartOffset: 0, logEndOffset: 3 },
    })
  })

  test('read - below logStart is CAIRN_OFFSET_OUT_OF_RANGE with the bounds in details', async () => {
    // One index segment per batch, so retention can cut after the first record.
    const temp = openTempStore({ segment: { segmentRecords: 1 } })
    temp.store.createStream('s', { retentionMs: 1000, retentionBytes: null })
    await temp.store.append('s', 0, [{ value: null, timestamp: temp.clock.now() }])
    temp.clock.advance(2000)
    await temp.store.append('s', 0, [value('young')])
    await temp.store.runMaintenance()
    expect(temp.store.earliestOffset('s', 0)).toBe(1n)
    expect(thrownBy(() => temp.store.read('s', 0, 0n))).toMatchObject({
      code: 'CAIRN_OFFSET_OUT_OF_RANGE',
      details: { partition: 0, offset: 0, logStartOffset: 1, logEndOffset: 2 },
    })
    expect(temp.store.read('s', 0, 1n).records.map((r) => text(r.value))).toEqual(['young'])
  })

  test('read - a negative or unrepresentable offset is CAIRN_OFFSET_OUT_OF_RANGE', async () => {
    const store = await storeWithRecords(1)
    for (const offset of [-1n, 2n ** 53n, 2n ** 64n]) {
      expect(thrownBy(() => store.read('s', 0, offset))).toMatchObject({ code: 'CAIRN_OFFSET_OUT_OF_RANGE' })
    }
    expect(() => store.read('s', 0, 0 as unknown as bigint)).toThrow(TypeError)
  })

  test('read - never sees records whose commit has not happened yet', async () => {
    const { store } = openTempStore()
    store.createStream('s')
    await store.append('s', 0, [value('committed')])
    const pending = store.append('s', 0, [value('pending')])
    const sameTurn = store.read('s', 0, 0n)
    expect(sameTurn.records.map((r) => text(r.value))).toEqual(['committed'])
    expect(sameTurn.logEndOffset).toBe(1n)
    expect(store.latestOffset('s', 0)).toBe(1n)
    // Reading at the offset the pending record will get is a valid empty read, not an error.
    expect(store.read('s', 0, 1n).records).toEqual([])
    expect(thrownBy(() => store.read('s', 0, 2n))).toMatchObject({ code: 'CAIRN_OFFSET_OUT_OF_RANGE' })
    await pending
    expect(store.read('s', 0, 0n).records.map((r) => text(r.value))).toEqual(['committed', 'pending'])
  })
})

describe('read - offsetForTimestamp', () => {
  const segment = { segmentRecords: 8 }

  test('offsetForTimestamp - the first record with timestamp >= T, across many index segments', async () => {
    const { store } = openTempStore({ segment })
    store.createStream('s', { retentionMs: null })
    // 100 records in batches of 3, timestamps 1000, 1010, ... (two records share each timestamp step of 20).
    const timestamps = Array.from({ length: 100 }, (_, i) => 1000 + 10 * Math.floor(i / 2) * 2)
    for (let i = 0; i < timestamps.length; i += 3) {
      await store.append(
        's',
        0,
        timestamps.slice(i, i + 3).map((timestamp) => ({ value: null, timestamp })),
      )
    }
    const expected = (t: number) => {
      const offset = timestamps.findIndex((ts) => ts >= t)
      return offset < 0 ? null : { offset: BigInt(offset), timestamp: timestamps[offset] }
    }
    for (let t = 900; t <= 2100; t += 5) {
      expect(store.offsetForTimestamp('s', 0, t), String(t)).toEqual(expected(t))
    }
    expect(store.offsetForTimestamp('s', 0, 1000)).toEqual({ offset: 0n, timestamp: 1000 })
    expect(store.offsetForTimestamp('s', 0, 1000.5)).toEqual({ offset: 2n, timestamp: 1020 })
    expect(store.offsetForTimestamp('s', 0, -5)).toEqual({ offset: 0n, timestamp: 1000 })
  })

  test('offsetForTimestamp - a T after every record, or an empty partition, gives null', async () => {
    const { store } = openTempStore({ segment })
    store.createStream('s')
    expect(store.offsetForTimestamp('s', 0, 0)).toBeNull()
    await store.append('s', 0, [
      { value: null, timestamp: 10 },
      { value: null, timestamp: 20 },
    ])
    expect(store.offsetForTimestamp('s', 0, 21)).toBeNull()
    expect(store.offsetForTimestamp('s', 0, Number.MAX_SAFE_INTEGER)).toBeNull()
    expect(() => store.offsetForTimestamp('s', 0, NaN)).toThrow(RangeError)
    expect(() => store.offsetForTimestamp('s', 0, Infinity)).toThrow(RangeError)
  })

  test('offsetForTimestamp - non-monotonic timestamps still give the first qualifying record', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.integer({ min: 0, max: 200 }), { minLength: 1, maxLength: 6 }), {
          minLength: 1,
          maxLength: 30,
        }),
        fc.array(fc.integer({ min: -5, max: 210 }), { minLength: 1, maxLength: 20 }),
        async (batches, queries) => {
          const temp = openTempStore({ segment: { segmentRecords: 4 } })
          try {
            const { store } = temp
            store.createStream('s', { retentionMs: null })
            for (const batch of batches) {
              await store.append(
                's',
                0,
                batch.map((timestamp) => ({ value: null, timestamp })),
              )
            }
            const timestamps = batches.flat()
            for (const t of queries) {
              const offset = timestamps.findIndex((ts) => ts >= t)
              const expected = offset < 0 ? null : { offset: BigInt(offset), timestamp: timestamps[offset] }
              expect(store.offsetForTimestamp('s', 0, t)).toEqual(expected)
            }
          } finally {
            await temp.store.close()
          }
        },
      ),
      { numRuns: 40 },
    )
  })

  test('offsetForTimestamp - after retention moved logStart the answer is at or above logStart', async () => {
    const temp = openTempStore({ segment })
    const { store, clock } = temp
    store.createStream('s', { retentionMs: 10_000 })
    const start = clock.now()
    // 30 records one second apart; the first ten come with timestamps far in the past.
    for (let i = 0; i < 30; i++) {
      await store.append('s', 0, [{ value: bytes(String(i)), timestamp: i < 10 ? 1000 + i : start + i * 1000 }])
    }
    clock.set(start + 25_000)
    await store.runMaintenance()
    const logStart = store.earliestOffset('s', 0)
    expect(logStart).toBeGreaterThan(0n)
    for (const t of [0, 1005, start, start + 12_000]) {
      const found = store.offsetForTimestamp('s', 0, t)
      expect(found?.offset).toBeGreaterThanOrEqual(logStart)
      // It is the first remaining record with a qualifying timestamp.
      const remaining = store.read('s', 0, logStart).records
      expect(found?.offset).toBe(remaining.find((r) => r.timestamp >= t)?.offset)
    }
    const reopened = await temp.reopen()
    expect(reopened.offsetForTimestamp('s', 0, 0)?.offset).toBe(logStart)
  })
})
