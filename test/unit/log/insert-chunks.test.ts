import { describe, expect, test } from 'vitest'
import type { LogStore } from '../../../src/log/log-store.ts'
import type { RecordInput } from '../../../src/log/types.ts'
import { bytes, openTempStore, text } from '../../helpers/temp-store.ts'

// PartitionLog inserts rows in multi-row INSERTs of 64, then 16, 4 and 1 rows for the remainder, and
// merges the records of consecutive appends to a partition within one group commit. These sizes sit
// on and around those chunk boundaries.
const chunk = 64
const sizes = [1, chunk - 1, chunk, chunk + 1, 3 * chunk + 7, 15, 16, 17, 3, 4, 5]

/** Record n of a partition: every column distinct per record, so a row bound in the wrong place shows. */
function record(n: number): RecordInput {
  return {
    key: n % 3 === 0 ? null : bytes(`k${n}`),
    value: n % 5 === 0 ? null : bytes(`v${n}`),
    headers: n % 2 === 0 ? [{ key: 'h', value: bytes(`h${n}`) }] : [],
    timestamp: 1_000_000 + n * 10,
    meta: n % 4 === 0 ? { n } : undefined,
  }
}

function recordsFrom(first: number, count: number): RecordInput[] {
  return Array.from({ length: count }, (_, i) => record(first + i))
}

/** Reads the whole partition and checks that record n is at offset n, column by column. */
function expectAll(store: LogStore, stream: string, partition: number, count: number): void {
  const { records, nextOffset } = store.read(stream, partition, 0n, { maxRecords: count + 10 })
  expect(nextOffset).toBe(BigInt(count))
  expect(records.map((r) => r.offset)).toEqual(Array.from({ length: count }, (_, i) => BigInt(i)))
  records.forEach((r, n) => {
    const expected = record(n)
    expect(r.timestamp).toBe(expected.timestamp)
    expect(r.key === null ? null : text(r.key)).toBe(n % 3 === 0 ? null : `k${n}`)
    expect(r.value === null ? null : text(r.value)).toBe(n % 5 === 0 ? null : `v${n}`)
    expect(r.headers.map((h) => [h.key, text(h.value)])).toEqual(n % 2 === 0 ? [['h', `h${n}`]] : [])
    expect(r.meta).toEqual(expected.meta)
  })
}

describe('append - multi-row inserts', () => {
  test('append - batches around the chunk boundaries read back at their offsets, also after reopen', async () => {
    const temp = openTempStore()
    temp.store.createStream('s')
    let next = 0
    for (const size of sizes) {
      const result = await temp.store.append('s', 0, recordsFrom(next, size))
      expect([result.baseOffset, result.lastOffset]).toEqual([BigInt(next), BigInt(next + size - 1)])
      next += size
    }
    expectAll(temp.store, 's', 0, next)
    expect(temp.store.describeStream('s').partitions[0]).toMatchObject({ logEndOffset: BigInt(next), records: next })
    const reopened = await temp.reopen()
    expectAll(reopened, 's', 0, next)
  })

  test('append - appends of one group commit share chunks per partition and keep their order', async () => {
    const { store } = openTempStore()
    store.createStream('s', { partitions: 2 })
    const commitsBefore = store.stats().commits
    // One turn: single-record appends and batches of the sizes above, interleaved over two partitions.
    const next = [0, 0]
    const appends: Array<Promise<unknown>> = []
    for (const size of [...sizes, ...sizes.map(() => 1)]) {
      for (const partition of [0, 1]) {
        const n = size + partition
        appends.push(store.append('s', partition, recordsFrom(next[partition] as number, n)))
        next[partition] = (next[partition] as number) + n
      }
    }
    await Promise.all(appends)
    expect(store.stats().commits - commitsBefore).toBe(1)
    expectAll(store, 's', 0, next[0] as number)
    expectAll(store, 's', 1, next[1] as number)
  })

  test('append - a failed group commit discards its staged rows; the offsets are handed out again', async () => {
    const { store } = openTempStore()
    store.createStream('a')
    store.createStream('b')
    await store.append('a', 0, recordsFrom(0, chunk + 1))
    // A row in b's way makes b's first full chunk fail inside the commit, while a still has rows staged
    // (70: one chunk inserted at once, 6 left for the end of the transaction).
    const [tableB] = store.database
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'rec\\_%' ESCAPE '\\' ORDER BY name")
      .pluck()
      .all()
      .slice(1) as string[]
    store.database.prepare(`INSERT INTO ${tableB as string} (offset, ts) VALUES (5, 0)`).run()
    const lostA = store.append('a', 0, recordsFrom(1000, chunk + 6))
    const lostB = store.append('b', 0, recordsFrom(0, chunk))
    await expect(lostA).rejects.toMatchObject({ code: 'CAIRN_STORAGE_FAILED' })
    await expect(lostB).rejects.toMatchObject({ code: 'CAIRN_STORAGE_FAILED' })
    expect(store.latestOffset('a', 0)).toBe(BigInt(chunk + 1))
    await store.append('a', 0, recordsFrom(chunk + 1, 2 * chunk + 3))
    expectAll(store, 'a', 0, 3 * chunk + 4)
  })

  test('append - segment entries cut inside a chunk still find the first record at or after a timestamp', async () => {
    const { store } = openTempStore({ segment: { segmentRecords: 10 } })
    store.createStream('s')
    await store.append('s', 0, recordsFrom(0, 3 * chunk + 7))
    for (const n of [0, 9, 10, 11, 63, 64, 65, 150, 3 * chunk + 6]) {
      expect(store.offsetForTimestamp('s', 0, record(n).timestamp as number)).toEqual({
        offset: BigInt(n),
        timestamp: record(n).timestamp,
      })
    }
    expect(store.offsetForTimestamp('s', 0, 9_999_999)).toBeNull()
  })
})
