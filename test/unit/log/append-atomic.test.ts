import { describe, expect, test } from 'vitest'
import type { AppendResult, RecordInput } from '../../../src/log/types.ts'
import { bytes, openTempStore, text } from '../../helpers/temp-store.ts'

const values = (...list: string[]): RecordInput[] => list.map((s) => ({ value: bytes(s) }))

function appendAtomic(
  store: ReturnType<typeof openTempStore>['store'],
  parts: Array<{ stream: string; partition: number; records: RecordInput[] }>,
  work: ((planned: readonly AppendResult[]) => void) | null,
): Promise<AppendResult[]> {
  return new Promise((resolve, reject) =>
    store.appendAtomic(parts, work, undefined, (error, results) =>
      error === null ? resolve(results ?? []) : reject(error),
    ),
  )
}

describe('append - atomic', () => {
  test('append - atomic parts and their state commit together, with the planned offsets', async () => {
    const { store } = openTempStore()
    store.createStream('a', { partitions: 2 })
    store.createStream('b')
    store.database.exec('CREATE TABLE side (v TEXT)')
    await store.append('a', 1, values('before'))
    let planned: readonly AppendResult[] = []
    const results = await appendAtomic(
      store,
      [
        { stream: 'a', partition: 1, records: values('x', 'y') },
        { stream: 'b', partition: 0, records: values('z') },
      ],
      (p) => {
        planned = p
        store.database.prepare('INSERT INTO side VALUES (?)').run('state')
      },
    )
    expect(results.map((r) => [r.baseOffset, r.lastOffset])).toEqual([
      [1n, 2n],
      [0n, 0n],
    ])
    expect(planned).toEqual(results)
    expect(store.read('a', 1, 1n).records.map((r) => text(r.value))).toEqual(['x', 'y'])
    expect(store.database.prepare('SELECT v FROM side').pluck().all()).toEqual(['state'])
  })

  test('append - when the state write throws, none of it commits and the offsets are handed out again', async () => {
    const { store } = openTempStore()
    store.createStream('a')
    await expect(
      appendAtomic(store, [{ stream: 'a', partition: 0, records: values('lost') }], () => {
        throw new Error('state write failed')
      }),
    ).rejects.toMatchObject({ code: 'CAIRN_STORAGE_FAILED' })
    expect(store.latestOffset('a', 0)).toBe(0n)
    expect(await store.append('a', 0, values('next'))).toMatchObject({ baseOffset: 0n })
  })

  test('append - an invalid part refuses the whole atomic append before anything is staged', async () => {
    const { store } = openTempStore()
    store.createStream('a')
    await expect(
      appendAtomic(
        store,
        [
          { stream: 'a', partition: 0, records: values('ok') },
          { stream: 'missing', partition: 0, records: values('x') },
        ],
        null,
      ),
    ).rejects.toMatchObject({ code: 'CAIRN_STREAM_NOT_FOUND' })
    await store.flush()
    expect(store.latestOffset('a', 0)).toBe(0n)
  })

  test('append - a commit cut by size never splits an atomic append', async () => {
    const { store } = openTempStore({ maxRecordsPerCommit: 4 })
    store.createStream('a', { partitions: 2 })
    const commitsBefore = store.stats().commits
    const results = await appendAtomic(
      store,
      [
        { stream: 'a', partition: 0, records: values('1', '2', '3') },
        { stream: 'a', partition: 1, records: values('4', '5', '6') },
      ],
      null,
    )
    expect(results).toHaveLength(2)
    expect(store.stats().commits - commitsBefore).toBe(1)
  })
})
