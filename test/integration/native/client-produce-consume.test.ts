import { randomBytes } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest'
import { CairnClient, type ConsumerRecord, type RecordMetadata } from '../../../src/client/index.ts'
import { hasErrorCode } from '../../../src/errors.ts'
import { partitionForKey } from '../../../src/streams/partitioner.ts'
import { startNativeBroker, type NativeBroker } from '../../helpers/native-broker.ts'

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
const dec = (b: Uint8Array | null): string | null => (b === null ? null : new TextDecoder().decode(b))

let broker: NativeBroker
let client: CairnClient

beforeEach(async () => {
  broker = await startNativeBroker()
  client = new CairnClient({ port: broker.port, clientId: 'client-test' })
  await client.connect()
})

afterEach(async () => {
  await client.close()
  await broker.close()
})

/** Polls until `count` records have arrived (the test's own timeout bounds it). */
async function pollUntil(consumer: ReturnType<CairnClient['consumer']>, count: number): Promise<ConsumerRecord[]> {
  const out: ConsumerRecord[] = []
  while (out.length < count) out.push(...(await consumer.poll()))
  return out
}

describe('client - produce and consume', () => {
  test('client - round trip keeps bytes, keys, headers and timestamps exact; keys land on murmur2 partitions', async () => {
    const admin = client.admin()
    await admin.createStream('events', { partitions: 5 })
    const producer = client.producer()
    const binary = new Uint8Array(randomBytes(300))
    const sent = [
      { key: 'sensor-1', value: binary, headers: { unit: 'C', raw: Uint8Array.of(0, 255) }, timestamp: 1_000 },
      { key: enc('sensor-2'), value: 'twenty-one', headers: [['h', 'a'] as const, ['h', 'b'] as const] },
      { key: 'sensor-3', value: null },
      { key: 'sensor-1', value: new Uint8Array(0), timestamp: 2_000 },
    ]
    const metadata = await producer.send('events', sent)
    await producer.close()
    expect(metadata).toHaveLength(4)
    for (const [i, m] of metadata.entries()) {
      const key = sent[i]?.key as string | Uint8Array
      expect(m.stream).toBe('events')
      expect(m.partition).toBe(partitionForKey(typeof key === 'string' ? enc(key) : key, 5))
    }
    // Same key, same partition, in send order.
    expect(metadata[3]?.partition).toBe(metadata[0]?.partition)
    expect(metadata[3]?.offset).toBeGreaterThan(metadata[0]?.offset ?? 0n)
    expect(metadata[0]?.timestamp).toBe(1_000)

    const consumer = client.consumer()
    consumer.assign([0, 1, 2, 3, 4].map((partition) => ({ stream: 'events', partition })))
    const records = await pollUntil(consumer, 4)
    await consumer.close()
    const byKey = (key: string): ConsumerRecord[] => records.filter((r) => dec(r.key) === key)
    const [first, fourth] = byKey('sensor-1')
    expect(first?.value).toEqual(binary)
    expect(first?.timestamp).toBe(1_000)
    expect(first?.headers).toEqual([
      ['unit', enc('C')],
      ['raw', Uint8Array.of(0, 255)],
    ])
    expect(first?.meta).toBeNull()
    expect(fourth?.value).toEqual(new Uint8Array(0))
    expect(fourth?.offset).toBe(metadata[3]?.offset)
    expect(byKey('sensor-2')[0]?.headers).toEqual([
      ['h', enc('a')],
      ['h', enc('b')],
    ])
    expect(dec(byKey('sensor-2')[0]?.value ?? null)).toBe('twenty-one')
    expect(byKey('sensor-3')[0]?.value).toBeNull()
    for (const r of records) {
      const m = metadata.find((x) => x.partition === r.partition && x.offset === r.offset)
      expect(m).toBeDefined()
    }
  })

  test('client - records sent within lingerMs go out in one produce request; batchMaxRecords splits them', async () => {
    await client.admin().createStream('lingered', { partitions: 1 })
    const request = vi.spyOn(client, 'request')
    const producer = client.producer({ lingerMs: 50, batchMaxRecords: 10 })
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => producer.send('lingered', { value: `v${i}` })),
    )
    const produces = request.mock.calls.filter(([op]) => op === 'produce')
    const batches = produces.flatMap(([, body]) => (body as { batches: { records: unknown[] }[] }).batches)
    expect(batches.map((b) => b.records.length)).toEqual([10, 10, 10])
    expect(results.map((r) => r.offset)).toEqual(Array.from({ length: 30 }, (_, i) => BigInt(i)))

    request.mockClear()
    const single = client.producer({ lingerMs: 50 })
    await Promise.all(Array.from({ length: 25 }, (_, i) => single.send('lingered', { value: `w${i}` })))
    const lingered = request.mock.calls.filter(([op]) => op === 'produce')
    expect(lingered).toHaveLength(1)
    await producer.close()
    await single.close()
  })

  test('client - keyless records stick to one partition per batch', async () => {
    await client.admin().createStream('sticky', { partitions: 8 })
    const producer = client.producer({ lingerMs: 20 })
    const results = await producer.send(
      'sticky',
      Array.from({ length: 20 }, (_, i) => ({ value: `v${i}` })),
    )
    expect(new Set(results.map((r) => r.partition)).size).toBe(1)
    const explicit = await producer.send('sticky', { value: 'x', partition: 6 })
    expect(explicit.partition).toBe(6)
    await producer.close()
  })

  test('client - a waiting long-poll returns a record produced after it started', async () => {
    await client.admin().createStream('wake', { partitions: 1 })
    const consumer = client.consumer({ maxWaitMs: 30_000 })
    consumer.assign([{ stream: 'wake', partition: 0, offset: 0n }])
    const polling = consumer.poll()
    const producerClient = new CairnClient({ port: broker.port })
    const producer = producerClient.producer()
    await new Promise((resolve) => setTimeout(resolve, 50))
    await producer.send('wake', { value: 'hello' })
    // Would take 30 s (beyond this test's timeout) if the long-poll were not woken by the append.
    const records = await polling
    expect(records.map((r) => dec(r.value))).toEqual(['hello'])
    await producer.close()
    await producerClient.close()
    await consumer.close()
  }, 10_000)

  test('client - seekToTime replays from the first record at or after a timestamp', async () => {
    await client.admin().createStream('history', { partitions: 2 })
    const producer = client.producer()
    for (let i = 0; i < 10; i++) {
      await producer.send('history', [
        { value: `p0-${i}`, partition: 0, timestamp: 10_000 + i * 1000 },
        { value: `p1-${i}`, partition: 1, timestamp: 10_500 + i * 1000 },
      ])
    }
    const consumer = client.consumer()
    consumer.assign([
      { stream: 'history', partition: 0 },
      { stream: 'history', partition: 1 },
    ])
    await consumer.seekToTime('history', undefined, 15_000)
    expect(consumer.position('history', 0)).toBe(5n)
    expect(consumer.position('history', 1)).toBe(5n)
    const replayed = await pollUntil(consumer, 10)
    expect(replayed.filter((r) => r.partition === 0).map((r) => dec(r.value))).toEqual(
      [5, 6, 7, 8, 9].map((i) => `p0-${i}`),
    )
    await consumer.seekToTime('history', 1, 18_600)
    expect(consumer.position('history', 1)).toBe(9n)
    expect(consumer.position('history', 0)).toBe(10n)
    // After the end: the log end offset.
    await consumer.seekToTime('history', 0, 99_000)
    expect(consumer.position('history', 0)).toBe(10n)
    await producer.close()
    await consumer.close()
  })

  test('client - a position out of range applies the reset policy', async () => {
    await client.admin().createStream('ranged', { partitions: 1 })
    const producer = client.producer()
    await producer.send('ranged', [{ value: 'a' }, { value: 'b' }, { value: 'c' }])
    const latest = client.consumer({ reset: 'latest' })
    latest.assign([{ stream: 'ranged', partition: 0, offset: 500n }])
    expect(await latest.poll()).toEqual([])
    await latest.poll()
    expect(latest.position('ranged', 0)).toBe(3n)
    const earliest = client.consumer({ reset: 'earliest', maxWaitMs: 0 })
    earliest.assign([{ stream: 'ranged', partition: 0, offset: 500n }])
    const records = await pollUntil(earliest, 3)
    expect(records.map((r) => dec(r.value))).toEqual(['a', 'b', 'c'])
    await producer.close()
  })

  test('client - acks 0 and acks 1 producers deliver; acks 0 reports no offsets', async () => {
    await client.admin().createStream('acks', { partitions: 1 })
    const fireAndForget = client.producer({ acks: 0 })
    const sent = await fireAndForget.send('acks', { value: 'zero' })
    expect(sent.offset).toBe(-1n)
    const ackOne = client.producer({ acks: 1 })
    const m: RecordMetadata = await ackOne.send('acks', { value: 'one' })
    expect(m.offset).toBe(1n) // acks 0 record went first on the same connection
    await fireAndForget.close()
    await ackOne.close()
  })

  test('client - typed errors: unknown stream, missing partition, compacted stream without key', async () => {
    const producer = client.producer()
    await expect(producer.send('nope', { value: 'x' })).rejects.toSatisfy((e) =>
      hasErrorCode(e, 'CAIRN_STREAM_NOT_FOUND'),
    )
    await client.admin().createStream('small', { partitions: 2 })
    await expect(producer.send('small', { value: 'x', partition: 2 })).rejects.toSatisfy((e) =>
      hasErrorCode(e, 'CAIRN_PARTITION_NOT_FOUND'),
    )
    await client.admin().createStream('latest-state', { partitions: 1, cleanupPolicy: 'compact' })
    await expect(producer.send('latest-state', { value: 'x' })).rejects.toSatisfy((e) =>
      hasErrorCode(e, 'CAIRN_RECORD_INVALID'),
    )
    // The producer is still usable after refused sends.
    await expect(producer.send('small', { value: 'ok', partition: 1 })).resolves.toMatchObject({ offset: 0n })
    await expect(client.admin().createStream('small')).rejects.toSatisfy((e) => hasErrorCode(e, 'CAIRN_STREAM_EXISTS'))
    await producer.close()
  })

  test('client - a stream grown after the metadata was cached is seen on the next explicit partition', async () => {
    await client.admin().createStream('growing', { partitions: 1 })
    const producer = client.producer()
    await producer.send('growing', { value: 'a' })
    const other = new CairnClient({ port: broker.port })
    await other.admin().alterStream('growing', { partitions: 3 })
    await other.close()
    await expect(producer.send('growing', { value: 'b', partition: 2 })).resolves.toMatchObject({ partition: 2 })
    await producer.close()
  })

  test('client - admin lists, describes, lists offsets and deletes streams', async () => {
    const admin = client.admin()
    await admin.createStream('a1', { partitions: 2, retentionMs: 60_000 })
    await admin.createStream('a2')
    expect((await admin.listStreams()).map((s) => s.name).sort()).toEqual(['a1', 'a2'])
    const described = await admin.describeStream('a1')
    expect(described.config.partitions).toBe(2)
    expect(described.config.retentionMs).toBe(60_000)
    const producer = client.producer()
    await producer.send('a1', [
      { value: 'x', partition: 1, timestamp: 5000 },
      { value: 'y', partition: 1, timestamp: 6000 },
    ])
    await producer.close()
    const offsets = await admin.listOffsets([
      { stream: 'a1', partition: 1, at: { earliest: true } },
      { stream: 'a1', partition: 1, at: { latest: true } },
      { stream: 'a1', partition: 1, at: { timestamp: 5500 } },
    ])
    expect(offsets).toEqual([
      { stream: 'a1', partition: 1, offset: 0n },
      { stream: 'a1', partition: 1, offset: 2n },
      { stream: 'a1', partition: 1, offset: 1n, timestamp: 6000 },
    ])
    await admin.deleteStream('a2')
    await expect(admin.describeStream('a2')).rejects.toSatisfy((e) => hasErrorCode(e, 'CAIRN_STREAM_NOT_FOUND'))
  })
})
