import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { partitionForKey } from '../../../src/streams/partitioner.ts'
import { startNativeBroker, type NativeBroker } from '../../helpers/native-broker.ts'
import { RawNativePeer } from '../../helpers/raw-native.ts'

type Results = {
  results: Array<{
    batch: number
    partition: number
    baseOffset?: bigint
    records?: number[]
    error?: { code: string }
  }>
}
type Fetched = {
  partitions: Array<{
    records: Array<[bigint, number, Uint8Array | null, Uint8Array | null, Array<[string, Uint8Array]>, unknown]>
    nextOffset: bigint
    logEndOffset: bigint
    error?: { code: string }
  }>
}

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
let broker: NativeBroker
let p: RawNativePeer

beforeEach(async () => {
  broker = await startNativeBroker()
  p = await RawNativePeer.connect(broker.port)
  await p.ok('createStream', { name: 'events', config: { partitions: 4 } })
})

afterEach(async () => {
  p.close()
  await broker.close()
})

describe('native produce and fetch', () => {
  it('native - produce is answered after commit and fetch returns the exact records', async () => {
    const res = await p.ok<Results>('produce', {
      acks: -1,
      batches: [
        {
          stream: 'events',
          partition: 2,
          records: [
            { key: enc('k'), value: enc('v1'), headers: [['h', enc('x')]], timestamp: 1000 },
            { key: null, value: null },
          ],
        },
      ],
    })
    expect(res.results).toEqual([
      { batch: 0, stream: 'events', partition: 2, baseOffset: 0n, lastOffset: 1n, timestamp: 1000 },
    ])
    expect(broker.store.latestOffset('events', 2)).toBe(2n)
    const fetched = await p.ok<Fetched>('fetch', { partitions: [{ stream: 'events', partition: 2, offset: 0n }] })
    const [part] = fetched.partitions
    expect(part?.records[0]).toEqual([0n, 1000, enc('k'), enc('v1'), [['h', enc('x')]], null])
    expect(part?.records[1]?.slice(0, 4)).toEqual([1n, expect.any(BigInt), null, null])
    expect(part?.nextOffset).toBe(2n)
  })

  it('native - keyed records without a partition land where Kafka would put them; a split batch lists its records', async () => {
    const keys = ['a', 'b', 'c', 'd', 'e', 'f']
    const res = await p.ok<Results>('produce', {
      acks: 1,
      batches: [{ stream: 'events', records: keys.map((k) => ({ key: enc(k), value: enc(k) })) }],
    })
    const placed = new Map<number, number>()
    for (const r of res.results) for (const i of r.records ?? [0]) placed.set(i, r.partition)
    keys.forEach((k, i) => expect(placed.get(i)).toBe(partitionForKey(enc(k), 4)))
  })

  it('native - keyless records stick to one partition per request', async () => {
    const res = await p.ok<Results>('produce', {
      acks: 1,
      batches: [{ stream: 'events', records: Array.from({ length: 10 }, () => ({ value: enc('x') })) }],
    })
    expect(res.results).toHaveLength(1)
    expect(res.results[0]?.records).toBeUndefined()
  })

  it('native - acks 0 gets no response, yet the records are written', async () => {
    const id = p.send('produce', {
      acks: 0,
      batches: [{ stream: 'events', partition: 0, records: [{ value: enc('fire') }] }],
    })
    const after = await p.ok<{ streams: Array<{ partitions: Array<{ logEndOffset: bigint }> }> }>('metadata', {
      streams: ['events'],
    })
    await broker.store.flush()
    expect(p.responses.filter((r) => r.id === id)).toHaveLength(0)
    expect(broker.store.latestOffset('events', 0)).toBe(1n)
    expect(after.streams).toHaveLength(1)
  })

  it('native - one bad batch fails alone', async () => {
    const res = await p.ok<Results>('produce', {
      acks: -1,
      batches: [
        { stream: 'nope', partition: 0, records: [{ value: enc('x') }] },
        { stream: 'events', partition: 9, records: [{ value: enc('x') }] },
        { stream: 'events', partition: 1, records: [{ value: enc('ok') }] },
      ],
    })
    expect(res.results.map((r) => r.error?.code)).toEqual([
      'CAIRN_STREAM_NOT_FOUND',
      'CAIRN_PARTITION_NOT_FOUND',
      undefined,
    ])
  })

  it('native - a long-poll fetch answers when a record arrives', async () => {
    const id = p.send('fetch', { maxWaitMs: 60_000, partitions: [{ stream: 'events', partition: 3, offset: 0n }] })
    const other = await RawNativePeer.connect(broker.port)
    await other.ok('produce', {
      acks: -1,
      batches: [{ stream: 'events', partition: 3, records: [{ value: enc('wake') }] }],
    })
    const fetched = (await p.response(id)).body as Fetched
    expect(fetched.partitions[0]?.records.map((r) => r[3])).toEqual([enc('wake')])
    other.close()
  })

  it('native - a long-poll that sees nothing answers empty when its time is up', async () => {
    const fetched = await p.ok<Fetched>('fetch', {
      maxWaitMs: 50,
      partitions: [{ stream: 'events', partition: 3, offset: 0n }],
    })
    expect(fetched.partitions[0]).toMatchObject({ records: [], nextOffset: 0n, logEndOffset: 0n })
  })

  it('native - fetch past the end reports out of range with the bounds', async () => {
    const fetched = await p.ok<Fetched>('fetch', { partitions: [{ stream: 'events', partition: 0, offset: 5n }] })
    expect(fetched.partitions[0]?.error?.code).toBe('CAIRN_OFFSET_OUT_OF_RANGE')
  })

  it('native - list offsets: earliest, latest, by timestamp', async () => {
    await p.ok('produce', {
      acks: -1,
      batches: [
        { stream: 'events', partition: 0, records: [10, 20, 30].map((t) => ({ value: enc(`${t}`), timestamp: t })) },
      ],
    })
    const listed = await p.ok<{ partitions: Array<{ offset?: bigint; timestamp?: number }> }>('listOffsets', {
      partitions: [
        { stream: 'events', partition: 0, at: { earliest: true } },
        { stream: 'events', partition: 0, at: { latest: true } },
        { stream: 'events', partition: 0, at: { timestamp: 15 } },
        { stream: 'events', partition: 0, at: { timestamp: 99 } },
      ],
    })
    expect(listed.partitions).toEqual([
      { stream: 'events', partition: 0, offset: 0n },
      { stream: 'events', partition: 0, offset: 3n },
      { stream: 'events', partition: 0, offset: 1n, timestamp: 20 },
      { stream: 'events', partition: 0, offset: 3n },
    ])
  })

  it('native - stream admin: create, alter (grow partitions, retention), delete', async () => {
    const created = await p.ok<{ stream: { config: { retentionMs: number } } }>('createStream', {
      name: 'admin',
      config: { retentionMs: -1, durability: 'os' },
    })
    expect(created.stream.config.retentionMs).toBe(-1)
    const altered = await p.ok<{ stream: { partitions: unknown[]; config: { retentionMs: number } } }>('alterStream', {
      name: 'admin',
      config: { partitions: 3, retentionMs: 1000 },
    })
    expect(altered.stream.partitions).toHaveLength(3)
    expect(altered.stream.config.retentionMs).toBe(1000)
    const exists = await p.call('createStream', { name: 'admin' })
    expect(exists.error?.code).toBe('CAIRN_STREAM_EXISTS')
    const bad = await p.call('alterStream', { name: 'admin', config: { partitions: 1 } })
    expect(bad.error?.code).toBe('CAIRN_STREAM_CONFIG_INVALID')
    await p.ok('deleteStream', { name: 'admin' })
    expect((await p.call('deleteStream', { name: 'admin' })).error?.code).toBe('CAIRN_STREAM_NOT_FOUND')
  })
})
