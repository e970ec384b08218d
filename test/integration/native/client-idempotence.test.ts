import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { CairnClient, type ConsumerRecord, type RecordMetadata } from '../../../src/client/index.ts'
import { decodeFrameBody } from '../../../src/native/wire/frame.ts'
import { startNativeBroker, type NativeBroker } from '../../helpers/native-broker.ts'

const dec = (b: Uint8Array | null): string => (b === null ? '' : new TextDecoder().decode(b))

/**
 * A TCP proxy between the client and the broker that can lose a response: when a frame from the
 * broker matches `drop`, both sides are cut before it is forwarded, so the broker has done the
 * work and the client never hears of it.
 */
class LossyProxy {
  readonly #server: Server
  readonly #sockets = new Set<Socket>()
  drop: ((response: unknown) => boolean) | undefined
  dropped = 0

  constructor(brokerPort: number) {
    this.#server = createServer((client) => {
      const upstream = connect(brokerPort, '127.0.0.1')
      for (const s of [client, upstream]) {
        this.#sockets.add(s)
        s.on('close', () => this.#sockets.delete(s))
        s.on('error', () => {})
      }
      client.on('close', () => upstream.destroy())
      upstream.on('close', () => client.destroy())
      client.pipe(upstream)
      let buffered = Buffer.alloc(0)
      upstream.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk])
        while (buffered.length >= 4) {
          const length = buffered.readUInt32BE(0)
          if (buffered.length < 4 + length) return
          const frame = buffered.subarray(0, 4 + length)
          buffered = buffered.subarray(4 + length)
          if (this.drop?.(decodeFrameBody(frame.subarray(4))) === true) {
            this.drop = undefined
            this.dropped++
            client.destroy()
            upstream.destroy()
            return
          }
          client.write(frame)
        }
      })
    })
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', () => resolve()))
    return (this.#server.address() as AddressInfo).port
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }
}

const isProduceResponse = (response: unknown): boolean => {
  const body = (response as { body?: { results?: unknown } }).body
  return body !== undefined && Array.isArray(body.results)
}

let broker: NativeBroker
let proxy: LossyProxy
let client: CairnClient

beforeEach(async () => {
  broker = await startNativeBroker()
  proxy = new LossyProxy(broker.port)
  const port = await proxy.listen()
  client = new CairnClient({ port, clientId: 'idempotence-test', reconnect: { initialDelayMs: 10, maxDelayMs: 50 } })
  await client.admin().createStream('readings', { partitions: 4 })
})

afterEach(async () => {
  await client.close()
  await proxy.close()
  await broker.close()
})

async function readAll(partitions: number[]): Promise<ConsumerRecord[]> {
  const reader = new CairnClient({ port: broker.port })
  const consumer = reader.consumer({ maxWaitMs: 0 })
  consumer.assign(partitions.map((partition) => ({ stream: 'readings', partition, offset: 0n })))
  const ends = new Map(
    (
      await reader
        .admin()
        .listOffsets(partitions.map((partition) => ({ stream: 'readings', partition, at: { latest: true } })))
    ).map((o) => [o.partition, o.offset]),
  )
  const out: ConsumerRecord[] = []
  const done = (): boolean => partitions.every((p) => (consumer.position('readings', p) ?? 0n) >= (ends.get(p) ?? 0n))
  do out.push(...(await consumer.poll()))
  while (!done())
  await consumer.close()
  await reader.close()
  return out
}

describe('client - idempotent producer', () => {
  test('client - a batch whose response was lost is resent with the same sequence and not written twice', async () => {
    const producer = client.producer({ lingerMs: 10 })
    proxy.drop = isProduceResponse
    const values = Array.from({ length: 10 }, (_, i) => ({ value: `r${i}`, partition: 1 }))
    const metadata = await producer.send('readings', values)
    expect(proxy.dropped).toBe(1)
    expect(metadata.map((m) => m.offset)).toEqual(Array.from({ length: 10 }, (_, i) => BigInt(i)))
    expect(broker.store.latestOffset('readings', 1)).toBe(10n)
    const records = await readAll([1])
    expect(records.map((r) => dec(r.value))).toEqual(values.map((v) => v.value))
    await producer.close()
  })

  test('client - without idempotence the same lost response duplicates the batch (control)', async () => {
    const producer = client.producer({ lingerMs: 10, idempotent: false })
    proxy.drop = isProduceResponse
    await producer.send(
      'readings',
      Array.from({ length: 10 }, (_, i) => ({ value: `r${i}`, partition: 1 })),
    )
    expect(proxy.dropped).toBe(1)
    expect(broker.store.latestOffset('readings', 1)).toBe(20n)
    await producer.close()
  })

  test('client - connections dropped mid-flight over and over: every record once, in order, no gaps', async () => {
    const producer = client.producer({ lingerMs: 2, batchMaxRecords: 50, maxInFlight: 5 })
    const total = 3000
    const pending: Promise<RecordMetadata>[] = []
    let drops = 0
    let disconnects = 0
    client.on('disconnect', () => disconnects++)
    const dropper = setInterval(() => {
      // Cut the broker side of every connection (the client's request may be in any state).
      for (const socket of broker.sockets) socket.destroy()
      drops++
    }, 40)
    try {
      for (let i = 0; i < total; i++) {
        pending.push(producer.send('readings', { key: `device-${i % 7}`, value: `${i}` }))
        if (i % 100 === 99) await new Promise((resolve) => setTimeout(resolve, 5))
      }
      const metadata = await Promise.all(pending)
      expect(metadata).toHaveLength(total)
    } finally {
      clearInterval(dropper)
    }
    expect(drops).toBeGreaterThan(0)
    expect(disconnects).toBeGreaterThan(0)
    await producer.close()
    const records = await readAll([0, 1, 2, 3])
    expect(records).toHaveLength(total)
    // No gaps: each partition holds offsets 0..n-1; no duplicates; per key, send order kept.
    for (const partition of [0, 1, 2, 3]) {
      const offsets = records.filter((r) => r.partition === partition).map((r) => r.offset)
      expect(offsets).toEqual(offsets.map((_, i) => BigInt(i)))
    }
    const seen = records.map((r) => Number(dec(r.value)))
    expect(new Set(seen).size).toBe(total)
    for (let k = 0; k < 7; k++) {
      const forKey = records.filter((r) => dec(r.key) === `device-${k}`).map((r) => Number(dec(r.value)))
      expect(forKey).toEqual([...forKey].sort((a, b) => a - b))
    }
  }, 60_000)

  test('client - the broker restarts mid-stream: every record once, no gaps', async () => {
    const producer = client.producer({ lingerMs: 2, batchMaxRecords: 20 })
    const total = 1000
    const pending: Promise<RecordMetadata>[] = []
    let disconnects = 0
    client.on('disconnect', () => disconnects++)
    for (let i = 0; i < total; i++) {
      pending.push(producer.send('readings', { key: `device-${i % 5}`, value: `${i}` }))
      if (i === 500) await broker.restart()
      else if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 2))
    }
    await Promise.all(pending)
    await producer.close()
    expect(disconnects).toBeGreaterThan(0)
    const records = await readAll([0, 1, 2, 3])
    expect(records.map((r) => Number(dec(r.value))).sort((a, b) => a - b)).toEqual(
      Array.from({ length: total }, (_, i) => i),
    )
    for (const partition of [0, 1, 2, 3]) {
      const offsets = records.filter((r) => r.partition === partition).map((r) => r.offset)
      expect(offsets).toEqual(offsets.map((_, i) => BigInt(i)))
    }
  }, 60_000)
})
