import { describe, expect, test } from 'vitest'
import type { AppendCallback } from '../../../src/log/log-store.ts'
import type { AppendResult, RecordInput } from '../../../src/log/types.ts'
import { bytes, openTempStore, text } from '../../helpers/temp-store.ts'

const value = (s: string): RecordInput => ({ value: bytes(s) })
const values = (...list: string[]) => list.map(value)

describe('append - offsets', () => {
  test('append - offsets are dense and monotonic per partition', async () => {
    const { store } = openTempStore()
    store.createStream('s', { partitions: 2 })
    expect(await store.append('s', 0, values('a'))).toMatchObject({ baseOffset: 0n, lastOffset: 0n })
    expect(await store.append('s', 0, values('b', 'c', 'd'))).toMatchObject({ baseOffset: 1n, lastOffset: 3n })
    // Another partition has its own offsets.
    expect(await store.append('s', 1, values('x', 'y'))).toMatchObject({ baseOffset: 0n, lastOffset: 1n })
    // Batches handed out in one turn get consecutive ranges in call order.
    const results = await Promise.all([
      store.append('s', 0, values('e', 'f')),
      store.append('s', 1, values('z')),
      store.append('s', 0, values('g')),
    ])
    expect(results.map((r) => [r.baseOffset, r.lastOffset])).toEqual([
      [4n, 5n],
      [2n, 2n],
      [6n, 6n],
    ])
    const read = store.read('s', 0, 0n)
    expect(read.records.map((r) => r.offset)).toEqual([0n, 1n, 2n, 3n, 4n, 5n, 6n])
    expect(read.records.map((r) => text(r.value))).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g'])
    expect(store.read('s', 1, 0n).records.map((r) => text(r.value))).toEqual(['x', 'y', 'z'])
    expect(store.describeStream('s').partitions.map((p) => [p.logStartOffset, p.logEndOffset, p.records])).toEqual([
      [0n, 7n, 7],
      [0n, 3n, 3],
    ])
  })

  test('append - the result carries the timestamp of the first record, the clock by default', async () => {
    const { store, clock } = openTempStore()
    store.createStream('s')
    expect((await store.append('s', 0, values('a', 'b'))).timestamp).toBe(clock.now())
    const result = await store.append('s', 0, [
      { value: null, timestamp: 5 },
      { value: null, timestamp: 2 },
    ])
    expect(result.timestamp).toBe(5)
    expect(store.read('s', 0, 2n).records.map((r) => r.timestamp)).toEqual([5, 2])
  })

  test('append - offsets survive reopen and are never reused, even after retention deleted everything', async () => {
    const temp = openTempStore()
    temp.store.createStream('s', { retentionMs: 1000 })
    await temp.store.append('s', 0, values('a', 'b', 'c'))
    temp.clock.advance(1001)
    await temp.store.runMaintenance()
    expect(temp.store.describeStream('s').partitions[0]).toMatchObject({
      logStartOffset: 3n,
      logEndOffset: 3n,
      records: 0,
      bytes: 0,
    })

    const store = await temp.reopen()
    expect(store.earliestOffset('s', 0)).toBe(3n)
    expect(store.latestOffset('s', 0)).toBe(3n)
    expect(await store.append('s', 0, values('d'))).toMatchObject({ baseOffset: 3n })
    expect(store.read('s', 0, 3n).records.map((r) => [r.offset, text(r.value)])).toEqual([[3n, 'd']])

    const again = await temp.reopen()
    expect(await again.append('s', 0, values('e'))).toMatchObject({ baseOffset: 4n })
  })
})

describe('append - group commit', () => {
  test('append - appends made in the same turn commit in one transaction and resolve only after it', async () => {
    const { store } = openTempStore()
    store.createStream('a', { partitions: 2 })
    store.createStream('b', { durability: 'os' })
    const before = store.stats()
    const settled: string[] = []
    const appends = [
      store.append('a', 0, values('1', '2')).then(() => settled.push('a0')),
      store.append('a', 1, values('3')).then(() => settled.push('a1')),
      store.append('b', 0, values('4', '5', '6')).then(() => settled.push('b0')),
      store.append('a', 0, values('7')).then(() => settled.push('a0 again')),
    ]
    // Nothing is committed within the turn: no promise settles on microtasks alone.
    for (let i = 0; i < 10; i++) await Promise.resolve()
    expect(settled).toEqual([])
    expect(store.stats().commits).toBe(before.commits)

    await Promise.all(appends)
    expect(settled).toEqual(['a0', 'a1', 'b0', 'a0 again'])
    const after = store.stats()
    expect(after.commits).toBe(before.commits + 1)
    expect(after.appendedRecords).toBe(before.appendedRecords + 7)
  })

  test('append - each turn is its own commit', async () => {
    const { store } = openTempStore()
    store.createStream('s')
    const before = store.stats().commits
    await store.append('s', 0, values('a'))
    await store.append('s', 0, values('b'))
    await Promise.all([store.append('s', 0, values('c')), store.append('s', 0, values('d'))])
    expect(store.stats().commits).toBe(before + 3)
  })

  test('append - a group commit is cut early past maxRecordsPerCommit', async () => {
    const { store } = openTempStore({ maxRecordsPerCommit: 4 })
    store.createStream('s')
    const before = store.stats().commits
    const first = store.append('s', 0, values('a', 'b'))
    const second = store.append('s', 0, values('c', 'd'))
    // The fourth pending record cut the commit synchronously, inside the second append() call.
    expect(store.stats().commits).toBe(before + 1)
    expect(store.latestOffset('s', 0)).toBe(4n)
    const third = store.append('s', 0, values('e'))
    await Promise.all([first, second, third])
    expect(store.stats().commits).toBe(before + 2)
    expect(store.read('s', 0, 0n).records.map((r) => text(r.value))).toEqual(['a', 'b', 'c', 'd', 'e'])
  })

  test('append - flush resolves once everything appended before it is committed', async () => {
    const { store } = openTempStore()
    store.createStream('s')
    await store.flush() // nothing pending: resolves at once
    const pending = [store.append('s', 0, values('a')), store.append('s', 0, values('b'))]
    await store.flush()
    expect(store.latestOffset('s', 0)).toBe(2n)
    await Promise.all(pending)
  })

  test('append - appendWithCallback calls back once, after the commit', async () => {
    const { store } = openTempStore()
    store.createStream('s')
    const calls: Array<[unknown, AppendResult | undefined]> = []
    const callback: AppendCallback = (error, result) => calls.push([error, result])
    store.appendWithCallback('s', 0, values('a', 'b'), callback)
    store.appendWithCallback('s', 0, values('c'), callback)
    expect(calls).toEqual([])
    expect(store.read('s', 0, 0n).records).toEqual([])
    await store.flush()
    expect(calls).toEqual([
      [null, { baseOffset: 0n, lastOffset: 1n, timestamp: expect.any(Number) as number }],
      [null, { baseOffset: 2n, lastOffset: 2n, timestamp: expect.any(Number) as number }],
    ])
    expect(store.read('s', 0, 0n).records).toHaveLength(3)
  })

  test('append - appendWithCallback reports a refused batch once, with the error', async () => {
    const { store } = openTempStore()
    store.createStream('s')
    const calls: unknown[][] = []
    store.appendWithCallback('s', 0, [], (...args) => calls.push(args))
    store.appendWithCallback('nope', 0, values('a'), (...args) => calls.push(args))
    await store.flush()
    expect(calls).toHaveLength(2)
    expect(calls[0]).toEqual([expect.objectContaining({ code: 'CAIRN_RECORD_INVALID' })])
    expect(calls[1]).toEqual([expect.objectContaining({ code: 'CAIRN_STREAM_NOT_FOUND' })])
  })
})

describe('append - validation', () => {
  const invalidBatches: Array<[string, RecordInput[]]> = [
    ['an empty batch', []],
    ['a string value', [{ value: 'text' as unknown as Uint8Array }]],
    ['an undefined value', [{ value: undefined as unknown as null }]],
    ['an array value', [{ value: [1, 2] as unknown as Uint8Array }]],
    ['a numeric key', [{ key: 7 as unknown as Uint8Array, value: null }]],
    ['a negative timestamp', [{ value: null, timestamp: -1 }]],
    ['a fractional timestamp', [{ value: null, timestamp: 1.5 }]],
    ['a NaN timestamp', [{ value: null, timestamp: NaN }]],
    ['an unsafe timestamp', [{ value: null, timestamp: 2 ** 53 }]],
    ['a string timestamp', [{ value: null, timestamp: '5' as unknown as number }]],
    ['one bad record among good ones', [value('ok'), { value: 'bad' as unknown as Uint8Array }, value('ok')]],
  ]

  test.each(invalidBatches)(
    'append - %s is refused with CAIRN_RECORD_INVALID and nothing is appended',
    async (_, batch) => {
      const { store } = openTempStore()
      store.createStream('s')
      await store.append('s', 0, values('before'))
      await expect(store.append('s', 0, batch)).rejects.toMatchObject({ code: 'CAIRN_RECORD_INVALID' })
      expect(store.latestOffset('s', 0)).toBe(1n)
      // The refused batch consumed no offsets.
      expect(await store.append('s', 0, values('after'))).toMatchObject({ baseOffset: 1n })
      expect(store.read('s', 0, 0n).records.map((r) => text(r.value))).toEqual(['before', 'after'])
    },
  )

  test('append - a compacted stream refuses a record without a key', async () => {
    const { store } = openTempStore()
    store.createStream('c', { cleanupPolicy: 'compact' })
    for (const batch of [
      [{ value: bytes('v') }],
      [{ key: null, value: bytes('v') }],
      [{ key: bytes('k'), value: bytes('v') }, { value: bytes('v') }],
    ]) {
      await expect(store.append('c', 0, batch)).rejects.toMatchObject({
        code: 'CAIRN_RECORD_INVALID',
        message: expect.stringContaining('key') as string,
      })
    }
    expect(store.latestOffset('c', 0)).toBe(0n)
    expect(await store.append('c', 0, [{ key: bytes('k'), value: null }])).toMatchObject({ baseOffset: 0n })
  })

  test('append - a closed store refuses appends; close commits what was pending', async () => {
    const temp = openTempStore()
    temp.store.createStream('s')
    const pending = temp.store.append('s', 0, values('pending'))
    await temp.store.close()
    await expect(pending).resolves.toMatchObject({ baseOffset: 0n })
    await expect(temp.store.append('s', 0, values('late'))).rejects.toMatchObject({ code: 'CAIRN_STORE_CLOSED' })
    const store = await temp.reopen()
    expect(store.read('s', 0, 0n).records.map((r) => text(r.value))).toEqual(['pending'])
  })
})

describe('append - record contents', () => {
  test('append - headers and meta round-trip', async () => {
    const temp = openTempStore()
    temp.store.createStream('s')
    const headers = [
      { key: 'content-type', value: bytes('application/json') },
      { key: 'trace', value: new Uint8Array([0, 255, 1]) },
      { key: 'trace', value: new Uint8Array([]) },
      { key: '', value: bytes('empty key') },
    ]
    const meta = {
      topic: 'plant/7/temp',
      qos: 1,
      retain: false,
      expiry: null,
      props: { userProperties: [['k', 'v']], correlation: 'abc', big: 2 ** 40, neg: -3.25 },
    }
    await temp.store.append('s', 0, [
      { key: bytes('k'), value: bytes('v'), headers, meta },
      { value: bytes('plain') },
      { value: bytes('meta only'), meta: 'a string', headers: [] },
      { value: bytes('null meta'), meta: null },
    ])
    const check = (records: ReturnType<typeof temp.store.read>['records']) => {
      expect(records.map((r) => r.headers.map((h) => [h.key, [...h.value]]))).toEqual([
        headers.map((h) => [h.key, [...h.value]]),
        [],
        [],
        [],
      ])
      expect(records.map((r) => r.meta)).toEqual([meta, undefined, 'a string', null])
    }
    check(temp.store.read('s', 0, 0n).records)
    check((await temp.reopen()).read('s', 0, 0n).records)
  })

  test('append - a null value (tombstone) and a null or missing key round-trip as null', async () => {
    const temp = openTempStore()
    temp.store.createStream('s')
    await temp.store.append('s', 0, [
      { key: bytes('k'), value: null },
      { key: null, value: bytes('v') },
      { value: null },
      { key: new Uint8Array(0), value: new Uint8Array(0) },
    ])
    const expected = [
      [[...bytes('k')], null],
      [null, [...bytes('v')]],
      [null, null],
      [[], []],
    ]
    const contents = () =>
      temp.store
        .read('s', 0, 0n)
        .records.map((r) => [r.key === null ? null : [...r.key], r.value === null ? null : [...r.value]])
    expect(contents()).toEqual(expected)
    await temp.reopen()
    expect(contents()).toEqual(expected)
  })

  test('append - binary keys and values come back byte for byte', async () => {
    const { store } = openTempStore()
    store.createStream('s')
    const all = Uint8Array.from({ length: 256 }, (_, i) => i)
    const large = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 31) % 256)
    await store.append('s', 0, [
      { key: all, value: large },
      { key: large.subarray(10, 20), value: all.subarray(100) },
    ])
    const [first, second] = store.read('s', 0, 0n).records
    expect(Buffer.from(first?.key ?? []).equals(all)).toBe(true)
    expect(Buffer.from(first?.value ?? []).equals(large)).toBe(true)
    expect(Buffer.from(second?.key ?? []).equals(large.subarray(10, 20))).toBe(true)
    expect(Buffer.from(second?.value ?? []).equals(all.subarray(100))).toBe(true)
  })

  test('append - durability os and fsync both commit, alone and mixed in one group commit', async () => {
    const temp = openTempStore()
    temp.store.createStream('safe', { durability: 'fsync' })
    temp.store.createStream('fast', { durability: 'os' })
    await temp.store.append('fast', 0, values('f1'))
    await temp.store.append('safe', 0, values('s1'))
    const commits = temp.store.stats().commits
    await Promise.all([temp.store.append('fast', 0, values('f2')), temp.store.append('safe', 0, values('s2'))])
    expect(temp.store.stats().commits).toBe(commits + 1)
    await temp.store.append('fast', 0, values('f3'))
    temp.store.alterStream('fast', { durability: 'fsync' })
    await temp.store.append('fast', 0, values('f4'))

    const store = await temp.reopen()
    expect(store.read('fast', 0, 0n).records.map((r) => text(r.value))).toEqual(['f1', 'f2', 'f3', 'f4'])
    expect(store.read('safe', 0, 0n).records.map((r) => text(r.value))).toEqual(['s1', 's2'])
  })

  test('append - partition info counts records and bytes of key, value, headers and meta', async () => {
    const { store } = openTempStore()
    store.createStream('s')
    await store.append('s', 0, [{ key: bytes('kk'), value: bytes('vvv') }, { value: null }])
    expect(store.describeStream('s').partitions[0]).toMatchObject({ records: 2, bytes: 5 })
    await store.append('s', 0, [{ value: bytes('v'), headers: [{ key: 'h', value: bytes('x') }], meta: 1 }])
    const info = store.describeStream('s').partitions[0]
    expect(info?.records).toBe(3)
    // 1 value byte plus the CBOR encodings of the headers and the meta.
    expect(info?.bytes).toBeGreaterThan(5 + 1 + 2)
  })
})

describe('append - callbacks', () => {
  test('append - a callback that throws does not keep the others of the same commit from running', async () => {
    const { store } = openTempStore()
    store.createStream('s')
    const results: string[] = []
    store.appendWithCallback('s', 0, [{ value: new Uint8Array([1]) }], () => {
      throw new Error('a broken front end')
    })
    store.appendWithCallback('s', 0, [{ value: new Uint8Array([2]) }], (error, result) => {
      results.push(error === null ? `ok ${result?.baseOffset}` : 'failed')
    })
    await store.flush()
    expect(results).toEqual(['ok 1'])
  })
})
