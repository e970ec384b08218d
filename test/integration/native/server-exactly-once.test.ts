import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FakeClock } from '../../helpers/fake-clock.ts'
import { startNativeBroker, type NativeBroker } from '../../helpers/native-broker.ts'
import { RawNativePeer } from '../../helpers/raw-native.ts'

// Idempotent producers and transactions, frame by frame.

type Results = {
  results: Array<{
    partition: number
    baseOffset?: bigint
    lastOffset?: bigint
    duplicate?: boolean
    error?: { code: string }
  }>
}
type Fetched = { partitions: Array<{ records: Array<[bigint, number, unknown, Uint8Array | null]> }> }

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
const dec = (b: Uint8Array | null): string => (b === null ? '' : new TextDecoder().decode(b))
let broker: NativeBroker
let p: RawNativePeer

async function values(stream: string, partition: number): Promise<string[]> {
  const fetched = await p.ok<Fetched>('fetch', { partitions: [{ stream, partition, offset: 0n }] })
  return (fetched.partitions[0]?.records ?? []).map((r) => dec(r[3]))
}

function batch(producerId: number, producerEpoch: number, firstSequence: number, ...vals: string[]) {
  return {
    acks: -1,
    producerId,
    producerEpoch,
    batches: [{ stream: 'out', partition: 0, firstSequence, records: vals.map((v) => ({ value: enc(v) })) }],
  }
}

describe('native idempotent producer', () => {
  beforeEach(async () => {
    broker = await startNativeBroker()
    p = await RawNativePeer.connect(broker.port)
    await p.ok('createStream', { name: 'out', config: { partitions: 2 } })
  })
  afterEach(async () => {
    p.close()
    await broker.close()
  })

  it('native - a retried batch is answered with its original offsets and written once', async () => {
    const { producerId, producerEpoch } = await p.ok<{ producerId: number; producerEpoch: number }>('initProducer', {})
    const first = await p.ok<Results>('produce', batch(producerId, producerEpoch, 0, 'a', 'b'))
    const retry = await p.ok<Results>('produce', batch(producerId, producerEpoch, 0, 'a', 'b'))
    expect(retry.results[0]).toMatchObject({
      baseOffset: first.results[0]?.baseOffset,
      lastOffset: 1n,
      duplicate: true,
    })
    await p.ok('produce', batch(producerId, producerEpoch, 2, 'c'))
    expect(await values('out', 0)).toEqual(['a', 'b', 'c'])
  })

  it('native - a pipelined retry of a batch still being committed gets its offsets too', async () => {
    const { producerId, producerEpoch } = await p.ok<{ producerId: number; producerEpoch: number }>('initProducer', {})
    const a = p.send('produce', batch(producerId, producerEpoch, 0, 'x'))
    const b = p.send('produce', batch(producerId, producerEpoch, 0, 'x'))
    const [ra, rb] = [await p.response(a), await p.response(b)]
    expect((rb.body as Results).results[0]).toMatchObject({ baseOffset: 0n, duplicate: true })
    expect((ra.body as Results).results[0]).toMatchObject({ baseOffset: 0n })
    expect(await values('out', 0)).toEqual(['x'])
  })

  it('native - a sequence gap is refused with a clear error and nothing is written', async () => {
    const { producerId, producerEpoch } = await p.ok<{ producerId: number; producerEpoch: number }>('initProducer', {})
    await p.ok('produce', batch(producerId, producerEpoch, 0, 'a'))
    const gap = await p.ok<Results>('produce', batch(producerId, producerEpoch, 5, 'z'))
    expect(gap.results[0]?.error?.code).toBe('CAIRN_SEQUENCE_OUT_OF_ORDER')
    expect(await values('out', 0)).toEqual(['a'])
  })

  it('native - retries are recognised across a broker restart', async () => {
    const { producerId, producerEpoch } = await p.ok<{ producerId: number; producerEpoch: number }>('initProducer', {})
    await p.ok('produce', batch(producerId, producerEpoch, 0, 'a', 'b'))
    p.close()
    await broker.restart()
    p = await RawNativePeer.connect(broker.port)
    const retry = await p.ok<Results>('produce', batch(producerId, producerEpoch, 0, 'a', 'b'))
    expect(retry.results[0]).toMatchObject({ baseOffset: 0n, lastOffset: 1n, duplicate: true })
    await p.ok('produce', batch(producerId, producerEpoch, 2, 'c'))
    expect(await values('out', 0)).toEqual(['a', 'b', 'c'])
  })

  it('native - unknown producers and missing fields are refused', async () => {
    const unknown = await p.call('produce', batch(999, 0, 0, 'a'))
    expect(unknown.error?.code).toBe('CAIRN_PRODUCER_UNKNOWN')
    const { producerId } = await p.ok<{ producerId: number }>('initProducer', {})
    const noPartition = await p.ok<Results>('produce', {
      acks: -1,
      producerId,
      producerEpoch: 0,
      batches: [{ stream: 'out', firstSequence: 0, records: [{ value: enc('a') }] }],
    })
    expect(noPartition.results[0]?.error?.code).toBe('CAIRN_REQUEST_INVALID')
  })
})

describe('native transactions', () => {
  let clock: FakeClock
  beforeEach(async () => {
    clock = new FakeClock(Date.now())
    broker = await startNativeBroker({ clock })
    p = await RawNativePeer.connect(broker.port)
    await p.ok('createStream', { name: 'out', config: { partitions: 2 } })
    await p.ok('createStream', { name: 'in', config: { partitions: 1 } })
  })
  afterEach(async () => {
    p.close()
    await broker.close()
  })

  async function init(transactionalId: string) {
    return p.ok<{ producerId: number; producerEpoch: number }>('initProducer', {
      transactionalId,
      transactionTimeoutMs: 10_000,
    })
  }

  function txProduce(id: { producerId: number; producerEpoch: number }, partition: number, seq: number, value: string) {
    return {
      acks: -1,
      transactional: true,
      ...id,
      batches: [{ stream: 'out', partition, firstSequence: seq, records: [{ value: enc(value) }] }],
    }
  }

  it('native - a committed transaction appears atomically, with its consumer offsets', async () => {
    await p.ok('produce', { acks: -1, batches: [{ stream: 'in', partition: 0, records: [{ value: enc('src') }] }] })
    const id = await init('tx-1')
    await p.ok('txnBegin', id)
    await p.ok('produce', txProduce(id, 0, 0, 'a'))
    await p.ok('produce', txProduce(id, 1, 0, 'b'))
    await p.ok('txnAddOffsets', { ...id, group: 'g', offsets: [{ stream: 'in', partition: 0, offset: 1n }] })
    expect(await values('out', 0)).toEqual([])
    expect(await values('out', 1)).toEqual([])
    expect(broker.groups.committedOffset('g', 'in', 0)).toBeUndefined()
    const end = await p.ok<{ results: Array<{ partition: number; baseOffset: bigint }> }>('txnEnd', {
      ...id,
      commit: true,
    })
    expect(end.results.map((r) => [r.partition, r.baseOffset])).toEqual([
      [0, 0n],
      [1, 0n],
    ])
    expect(await values('out', 0)).toEqual(['a'])
    expect(await values('out', 1)).toEqual(['b'])
    expect(broker.groups.committedOffset('g', 'in', 0)).toBe(1n)
  })

  it('native - an aborted transaction leaves nothing behind', async () => {
    const id = await init('tx-2')
    await p.ok('txnBegin', id)
    await p.ok('produce', txProduce(id, 0, 0, 'gone'))
    await p.ok('txnEnd', { ...id, commit: false })
    expect(await values('out', 0)).toEqual([])
    expect((await p.call('txnEnd', { ...id, commit: true })).error?.code).toBe('CAIRN_TRANSACTION_INVALID')
  })

  it('native - a second instance fences the zombie and aborts its transaction', async () => {
    const zombie = await init('tx-3')
    await p.ok('txnBegin', zombie)
    await p.ok('produce', txProduce(zombie, 0, 0, 'zombie'))
    const successor = await init('tx-3')
    expect(successor).toEqual({ producerId: zombie.producerId, producerEpoch: zombie.producerEpoch + 1 })
    expect((await p.call('txnEnd', { ...zombie, commit: true })).error?.code).toBe('CAIRN_PRODUCER_FENCED')
    expect((await p.call('produce', txProduce(zombie, 0, 1, 'late'))).error?.code).toBe('CAIRN_PRODUCER_FENCED')
    expect(await values('out', 0)).toEqual([])
  })

  it('native - a producer that goes quiet mid-transaction is aborted and fenced after its timeout', async () => {
    const id = await init('tx-4')
    await p.ok('txnBegin', id)
    await p.ok('produce', txProduce(id, 0, 0, 'stale'))
    clock.advance(10_001)
    expect((await p.call('txnEnd', { ...id, commit: true })).error?.code).toBe('CAIRN_PRODUCER_FENCED')
    expect(await values('out', 0)).toEqual([])
  })

  it('native - a retried produce inside a transaction is added once', async () => {
    const id = await init('tx-5')
    await p.ok('txnBegin', id)
    await p.ok('produce', txProduce(id, 0, 0, 'once'))
    const retry = await p.ok<Results>('produce', txProduce(id, 0, 0, 'once'))
    expect(retry.results[0]?.duplicate).toBe(true)
    await p.ok('txnEnd', { ...id, commit: true })
    expect(await values('out', 0)).toEqual(['once'])
  })

  it('native - transactions need a transactional producer and one open transaction at a time', async () => {
    const plain = await p.ok<{ producerId: number; producerEpoch: number }>('initProducer', {})
    expect((await p.call('txnBegin', plain)).error?.code).toBe('CAIRN_TRANSACTION_INVALID')
    const id = await init('tx-6')
    await p.ok('txnBegin', id)
    expect((await p.call('txnBegin', id)).error?.code).toBe('CAIRN_TRANSACTION_INVALID')
  })
})
