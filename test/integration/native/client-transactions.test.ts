import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { CairnClient, hasErrorCode, type ConsumerRecord } from '../../../src/client/index.ts'
import { startNativeBroker, type NativeBroker } from '../../helpers/native-broker.ts'

const dec = (b: Uint8Array | null): string => (b === null ? '' : new TextDecoder().decode(b))

let broker: NativeBroker
let client: CairnClient

beforeEach(async () => {
  broker = await startNativeBroker()
  client = new CairnClient({ port: broker.port, clientId: 'txn-test' })
  await client.admin().createStream('out', { partitions: 2 })
})

afterEach(async () => {
  await client.close()
  await broker.close()
})

/** Everything in `stream` right now (fetches without waiting until the log ends are reached). */
async function readAll(stream: string, partitions: number[]): Promise<ConsumerRecord[]> {
  const consumer = client.consumer({ maxWaitMs: 0 })
  consumer.assign(partitions.map((partition) => ({ stream, partition, offset: 0n })))
  const ends = await client
    .admin()
    .listOffsets(partitions.map((partition) => ({ stream, partition, at: { latest: true } })))
  const out: ConsumerRecord[] = []
  const done = (): boolean => ends.every((e) => (consumer.position(stream, e.partition) ?? 0n) >= e.offset)
  while (!done()) out.push(...(await consumer.poll()))
  await consumer.close()
  return out
}

describe('client - transactions', () => {
  test('client - committed records appear together, with their offsets, only at commit', async () => {
    const producer = client.producer({ transactionalId: 'etl-1' })
    await producer.beginTransaction()
    const a = producer.send('out', [
      { value: 'a0', partition: 0 },
      { value: 'a1', partition: 1 },
    ])
    const b = producer.send('out', { value: 'a2', partition: 0 })
    await producer.flush() // written into the open transaction, not into the log
    expect(await readAll('out', [0, 1])).toEqual([])
    const committed = await producer.commitTransaction()
    expect(committed.map((m) => [m.partition, m.offset])).toEqual([
      [0, 0n],
      [1, 0n],
      [0, 1n],
    ])
    // The per-record promises resolve at commit with the same metadata.
    expect(await a).toEqual(committed.slice(0, 2))
    expect(await b).toEqual(committed[2])
    const records = await readAll('out', [0, 1])
    expect(records.map((r) => dec(r.value)).sort()).toEqual(['a0', 'a1', 'a2'])
    await producer.close()
  })

  test('client - aborted records never become visible and their sends reject', async () => {
    const producer = client.producer({ transactionalId: 'etl-2' })
    await producer.beginTransaction()
    const doomed = producer.send('out', [{ value: 'x', partition: 0 }])
    await producer.abortTransaction()
    await expect(doomed).rejects.toSatisfy((e) => hasErrorCode(e, 'CAIRN_TRANSACTION_INVALID'))
    expect(broker.store.latestOffset('out', 0)).toBe(0n)
    await expect(producer.send('out', { value: 'outside' })).rejects.toSatisfy((e) =>
      hasErrorCode(e, 'CAIRN_TRANSACTION_INVALID'),
    )
    await producer.beginTransaction()
    void producer.send('out', { value: 'kept', partition: 0 })
    await producer.commitTransaction()
    expect((await readAll('out', [0])).map((r) => dec(r.value))).toEqual(['kept'])
    await producer.close()
  })

  test('client - a second producer with the same transactionalId fences the zombie', async () => {
    const zombie = client.producer({ transactionalId: 'etl-3' })
    await zombie.beginTransaction()
    const lost = zombie.send('out', { value: 'from-zombie', partition: 0 })
    await zombie.flush()
    const other = new CairnClient({ port: broker.port, clientId: 'successor' })
    const successor = other.producer({ transactionalId: 'etl-3' })
    await successor.beginTransaction() // initProducer bumps the epoch and aborts the zombie's transaction
    void successor.send('out', { value: 'from-successor', partition: 0 })
    await expect(zombie.commitTransaction()).rejects.toSatisfy((e) => hasErrorCode(e, 'CAIRN_PRODUCER_FENCED'))
    await expect(lost).rejects.toSatisfy((e) => hasErrorCode(e, 'CAIRN_PRODUCER_FENCED'))
    await expect(zombie.send('out', { value: 'again' })).rejects.toSatisfy((e) =>
      hasErrorCode(e, 'CAIRN_PRODUCER_FENCED'),
    )
    await successor.commitTransaction()
    expect((await readAll('out', [0])).map((r) => dec(r.value))).toEqual(['from-successor'])
    await successor.close()
    await zombie.close()
    await other.close()
  })

  test('client - consume-transform-produce commits the output and the input offsets atomically', async () => {
    await client.admin().createStream('in', { partitions: 1 })
    const feeder = client.producer()
    await feeder.send(
      'in',
      Array.from({ length: 5 }, (_, i) => ({ value: `${i}` })),
    )
    await feeder.close()
    const consumer = client.consumer({ group: 'doubler', streams: ['in'], maxWaitMs: 50 })
    const producer = client.producer({ transactionalId: 'doubler-1' })
    const input: ConsumerRecord[] = []
    while (input.length < 5) input.push(...(await consumer.poll()))
    await producer.beginTransaction()
    for (const r of input) void producer.send('out', { value: `${Number(dec(r.value)) * 2}`, partition: 0 })
    const group = consumer.groupMetadata()
    expect(group?.memberId).toBeDefined()
    await producer.sendOffsets({ ...group!, offsets: [{ stream: 'in', partition: 0, offset: 5n }] })
    expect(await client.admin().fetchOffsets('doubler')).toEqual([])
    await producer.commitTransaction()
    const [committed] = await client.admin().fetchOffsets('doubler')
    expect(committed?.offset).toBe(5n)
    expect((await readAll('out', [0])).map((r) => dec(r.value))).toEqual(['0', '2', '4', '6', '8'])
    await consumer.close()
    await producer.close()
  })
})
