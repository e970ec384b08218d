// KafkajsSink against librdkafka's mock cluster (hosted by kcat), with kcat as the independent reader.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hasErrorCode } from '../../../src/errors.ts'
import type { FetchedRecord, UpstreamRecord } from '../../../src/mirror/kafka-sink.ts'
import { KafkajsSink } from '../../../src/mirror/kafkajs-sink.ts'
import { kcat, kcatRead, startKafkaMock, type KafkaMock } from '../../helpers/kafka-mock.ts'

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)
let topicSeq = 0
/** The mock cannot delete topics: every test gets its own. */
const uniqueTopic = (name: string): string => `sink.${name}.${process.pid}.${++topicSeq}`

function record(n: number, extra: Partial<UpstreamRecord> = {}): UpstreamRecord {
  return {
    key: bytes(`key-${n}`),
    value: bytes(`value-${n}`),
    headers: [
      ['em.src', bytes('gw-0042')],
      ['em.src.off', bytes(String(n))],
    ],
    timestamp: 1_700_000_000_000 + n,
    ...extra,
  }
}

describe.skipIf(kcat.skip)(`KafkajsSink on the librdkafka mock ${kcat.reason}`, () => {
  let mock: KafkaMock
  let sink: KafkajsSink

  beforeAll(async () => {
    mock = await startKafkaMock()
    sink = new KafkajsSink({ brokers: [mock.bootstrap], clientId: 'cairn-sink-test', requestTimeoutMs: 5000 })
    await sink.connect()
  })

  afterAll(async () => {
    await sink?.close()
    await mock?.stop()
  })

  it('sees the partitions the mock auto-creates', async () => {
    expect(await sink.partitionCount(uniqueTopic('count'))).toBe(4)
  })

  it('produces batches to an explicit partition: base offsets are dense, other partitions untouched', async () => {
    const topic = uniqueTopic('dense')
    expect(await sink.send(topic, 2, [record(0), record(1), record(2)])).toBe(0n)
    expect(await sink.send(topic, 2, [record(3)])).toBe(3n)
    expect(await sink.send(topic, 2, [record(4), record(5)])).toBe(4n)
    expect(await sink.send(topic, 1, [record(6)])).toBe(0n)
    expect(await sink.offsets(topic, 2)).toEqual({ earliest: 0n, latest: 6n })
    expect(await sink.offsets(topic, 1)).toEqual({ earliest: 0n, latest: 1n })
    expect(await sink.offsets(topic, 0)).toEqual({ earliest: 0n, latest: 0n })
  })

  it('sends concurrently to one partition one request at a time, in call order', async () => {
    const topic = uniqueTopic('order')
    const bases = await Promise.all([0, 1, 2, 3, 4].map((i) => sink.send(topic, 0, [record(2 * i), record(2 * i + 1)])))
    expect(bases).toEqual([0n, 2n, 4n, 6n, 8n])
    const back = await sink.read(topic, 0, 0n, 10n)
    expect(back.map((r) => Buffer.from(r.value ?? []).toString())).toEqual(
      Array.from({ length: 10 }, (_, i) => `value-${i}`),
    )
  })

  it('reads back exactly what was sent — bytes, headers, timestamps — via read() and via kcat', async () => {
    const topic = uniqueTopic('exact')
    const every = Uint8Array.from({ length: 256 }, (_, i) => i)
    const sent: UpstreamRecord[] = [
      record(0),
      { key: null, value: every, headers: [['bin', every]], timestamp: 1_600_000_000_123 },
      { key: every.slice(0, 10), value: null, headers: [], timestamp: 0 },
      { key: bytes(''), value: bytes(''), headers: [['empty', bytes('')]], timestamp: 1 },
      {
        key: bytes('dup'),
        value: bytes('x'),
        headers: [
          ['a', bytes('1')],
          ['a', bytes('2')],
          ['ü-name', bytes('ü-value')],
        ],
        timestamp: 1_700_000_000_999,
      },
    ]
    const base = await sink.send(topic, 3, sent)
    expect(base).toBe(0n)
    const expected: FetchedRecord[] = sent.map((r, i) => ({ ...r, offset: BigInt(i) }))

    expect(await sink.read(topic, 3, 0n, 5n)).toEqual(expected)

    const viaKcat = await kcatRead(mock.bootstrap, topic, 3, 0)
    expect(viaKcat).toEqual(expected)
  })

  it('read() honours [from, until), maxRecords and the high watermark', async () => {
    const topic = uniqueTopic('window')
    await sink.send(
      topic,
      0,
      [0, 1, 2, 3, 4, 5].map((n) => record(n)),
    )
    const offsets = (records: FetchedRecord[]): bigint[] => records.map((r) => r.offset)
    expect(offsets(await sink.read(topic, 0, 2n, 5n))).toEqual([2n, 3n, 4n])
    expect(offsets(await sink.read(topic, 0, 1n, 6n, 2))).toEqual([1n, 2n])
    expect(offsets(await sink.read(topic, 0, 4n, 1000n))).toEqual([4n, 5n])
    expect(await sink.read(topic, 0, 6n, 10n)).toEqual([])
    expect(await sink.read(topic, 0, 3n, 3n)).toEqual([])
    expect(await sink.read(topic, 1, 0n, 10n)).toEqual([])
  })

  it('read() pages through many fetches and grows for a batch larger than fetchMaxBytes', async () => {
    const small = new KafkajsSink({ brokers: [mock.bootstrap], clientId: 'cairn-sink-test-small', fetchMaxBytes: 2048 })
    try {
      const topic = uniqueTopic('paging')
      const filler = (n: number): UpstreamRecord => record(n, { value: new Uint8Array(700).fill(n) })
      for (let i = 0; i < 10; i++) await small.send(topic, 0, [filler(2 * i), filler(2 * i + 1)])
      await small.send(topic, 0, [record(20, { value: new Uint8Array(20_000).fill(7) })])
      const back = await small.read(topic, 0, 0n, 21n)
      expect(back.map((r) => r.offset)).toEqual(Array.from({ length: 21 }, (_, i) => BigInt(i)))
      expect(back[20]?.value).toEqual(new Uint8Array(20_000).fill(7))
    } finally {
      await small.close()
    }
  })

  it('reads from the log start once the mock trimmed the partition (5 MiB per partition)', async () => {
    const topic = uniqueTopic('trimmed')
    const payload = new Uint8Array(256 * 1024)
    let next = 0
    for (let batch = 0; batch < 6; batch++) {
      await sink.send(
        topic,
        0,
        Array.from({ length: 4 }, () => record(next++, { value: payload })),
      )
    }
    const { earliest, latest } = await sink.offsets(topic, 0)
    expect(latest).toBe(24n)
    expect(earliest).toBeGreaterThan(0n)
    const back = await sink.read(topic, 0, 0n, latest)
    expect(back[0]?.offset).toBe(earliest)
    expect(back.map((r) => r.offset)).toEqual(
      Array.from({ length: Number(latest - earliest) }, (_, i) => earliest + BigInt(i)),
    )
  })

  it('rejects a partition the topic does not have, without sending', async () => {
    const topic = uniqueTopic('nopartition')
    const error: unknown = await sink.send(topic, 7, [record(0)]).catch((e: unknown) => e)
    expect(hasErrorCode(error, 'CAIRN_UPSTREAM_REJECTED')).toBe(true)
    expect(error).toMatchObject({ details: { kafkaError: 'UNKNOWN_TOPIC_OR_PARTITION' } })
    await expect(sink.offsets(topic, 7)).rejects.toMatchObject({ code: 'CAIRN_UPSTREAM_REJECTED' })
  })

  it('a closed sink is unavailable; bad arguments are programmer errors', async () => {
    const other = new KafkajsSink({ brokers: [mock.bootstrap], clientId: 'cairn-sink-test-closed' })
    await other.connect()
    await other.close()
    await expect(other.partitionCount('x')).rejects.toMatchObject({ code: 'CAIRN_UPSTREAM_UNAVAILABLE' })
    await expect(sink.send('t', -1, [record(0)])).rejects.toThrow(RangeError)
    await expect(sink.send('t', 0, [])).rejects.toThrow(RangeError)
    await expect(sink.send('t', 0, [record(0, { timestamp: -5 })])).rejects.toThrow(RangeError)
    expect(() => new KafkajsSink({ brokers: ['nohost'], clientId: 'x', brokerAddressMap: { a: 'b' } })).toThrow(
      RangeError,
    )
  })
})
