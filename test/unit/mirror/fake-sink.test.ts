import { describe, expect, it } from 'vitest'
import { hasErrorCode } from '../../../src/errors.ts'
import { FakeSink } from '../../../src/mirror/fake-sink.ts'
import type { UpstreamRecord } from '../../../src/mirror/kafka-sink.ts'

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)

function record(n: number): UpstreamRecord {
  return {
    key: bytes(`k${n}`),
    value: bytes(`v${n}`),
    headers: [['em.src.off', bytes(String(n))]],
    timestamp: 1_700_000_000_000 + n,
  }
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (error) {
    if (hasErrorCode(error, 'CAIRN_UPSTREAM_UNAVAILABLE')) return error.code
    if (hasErrorCode(error, 'CAIRN_UPSTREAM_UNCERTAIN')) return error.code
    if (hasErrorCode(error, 'CAIRN_UPSTREAM_REJECTED')) return error.code
    throw error
  }
  return 'ok'
}

describe('FakeSink', () => {
  it('appends batches densely per partition and reads them back with offsets', async () => {
    const sink = new FakeSink()
    await sink.connect()
    expect(await sink.partitionCount('t')).toBe(4)
    expect(await sink.send('t', 1, [record(0), record(1)])).toBe(0n)
    expect(await sink.send('t', 1, [record(2)])).toBe(2n)
    expect(await sink.send('t', 2, [record(9)])).toBe(0n)
    expect(await sink.offsets('t', 1)).toEqual({ earliest: 0n, latest: 3n })
    const read = await sink.read('t', 1, 0n, 3n)
    expect(read.map((r) => r.offset)).toEqual([0n, 1n, 2n])
    expect(read[2]).toEqual({ ...record(2), offset: 2n })
    expect(await sink.read('t', 1, 1n, 3n, 1)).toEqual([{ ...record(1), offset: 1n }])
    expect(await sink.read('t', 1, 2n, 100n)).toHaveLength(1)
    expect(sink.records('t', 2)).toEqual([{ ...record(9), offset: 0n }])
  })

  it('copies records in and out (callers may reuse their buffers)', async () => {
    const sink = new FakeSink()
    const r = record(0)
    await sink.send('t', 0, [r])
    r.value?.fill(0)
    const [stored] = sink.records('t', 0)
    expect(stored?.value).toEqual(bytes('v0'))
    stored?.value?.fill(0)
    expect(sink.records('t', 0)[0]?.value).toEqual(bytes('v0'))
  })

  it('failNext: unavailable and rejected append nothing', async () => {
    const sink = new FakeSink()
    sink.failNext('unavailable').failNext('rejected', { kafkaError: 'MESSAGE_TOO_LARGE' })
    expect(await codeOf(sink.send('t', 0, [record(0)]))).toBe('CAIRN_UPSTREAM_UNAVAILABLE')
    await expect(sink.send('t', 0, [record(0)])).rejects.toMatchObject({
      code: 'CAIRN_UPSTREAM_REJECTED',
      details: { kafkaError: 'MESSAGE_TOO_LARGE' },
    })
    expect(sink.records('t', 0)).toEqual([])
    expect(await sink.send('t', 0, [record(0)])).toBe(0n)
  })

  it('failNext: uncertain-appended appends, then reports the lost ack', async () => {
    const sink = new FakeSink()
    sink.failNext('uncertain-appended')
    expect(await codeOf(sink.send('t', 0, [record(0), record(1)]))).toBe('CAIRN_UPSTREAM_UNCERTAIN')
    expect(sink.records('t', 0).map((r) => r.offset)).toEqual([0n, 1n])
    expect(sink.sends('t', 0)).toEqual([
      { op: 'send', topic: 't', partition: 0, records: 2, baseOffset: 0n, outcome: 'CAIRN_UPSTREAM_UNCERTAIN' },
    ])
  })

  it('failNext: uncertain-not-appended reports uncertainty and appends nothing', async () => {
    const sink = new FakeSink()
    sink.failNext('uncertain-not-appended')
    expect(await codeOf(sink.send('t', 0, [record(0)]))).toBe('CAIRN_UPSTREAM_UNCERTAIN')
    expect(sink.records('t', 0)).toEqual([])
  })

  it('faults can target an operation, a partition and repeat', async () => {
    const sink = new FakeSink()
    sink.failNext('unavailable', { op: 'read', partition: 3, times: 2 })
    expect(() => sink.failNext('uncertain-appended', { op: 'read' })).toThrow(RangeError)
    expect(await sink.send('t', 0, [record(0)])).toBe(0n)
    expect(await sink.read('t', 0, 0n, 1n)).toHaveLength(1)
    expect(await codeOf(sink.read('t', 3, 0n, 1n))).toBe('CAIRN_UPSTREAM_UNAVAILABLE')
    expect(await codeOf(sink.read('t', 3, 0n, 1n))).toBe('CAIRN_UPSTREAM_UNAVAILABLE')
    expect(await codeOf(sink.read('t', 3, 0n, 1n))).toBe('ok')
    sink.failNext('unavailable')
    sink.clearFaults()
    expect(await codeOf(sink.send('t', 0, [record(1)]))).toBe('ok')
  })

  it('down makes every operation unavailable until it is lifted', async () => {
    const sink = new FakeSink()
    await sink.send('t', 0, [record(0)])
    sink.down = true
    for (const call of [
      sink.connect(),
      sink.partitionCount('t'),
      sink.send('t', 0, [record(1)]),
      sink.offsets('t', 0),
      sink.read('t', 0, 0n, 1n),
    ]) {
      expect(await codeOf(call)).toBe('CAIRN_UPSTREAM_UNAVAILABLE')
    }
    sink.down = false
    expect(await sink.send('t', 0, [record(1)])).toBe(1n)
  })

  it('retention drops the earliest records; reads start at the log start', async () => {
    const sink = new FakeSink()
    await sink.send('t', 0, [record(0), record(1), record(2), record(3)])
    sink.dropEarliest('t', 0, 3)
    expect(await sink.offsets('t', 0)).toEqual({ earliest: 3n, latest: 4n })
    expect((await sink.read('t', 0, 0n, 4n)).map((r) => r.offset)).toEqual([3n])
    expect(await sink.send('t', 0, [record(4)])).toBe(4n)
  })

  it('recreating a topic resets its partitions (upstream reset)', async () => {
    const sink = new FakeSink()
    await sink.send('t', 0, [record(0), record(1)])
    sink.createTopic('t', 2)
    expect(await sink.partitionCount('t')).toBe(2)
    expect(await sink.offsets('t', 0)).toEqual({ earliest: 0n, latest: 0n })
  })

  it('foreign writers interleave with our batches', async () => {
    const sink = new FakeSink()
    await sink.send('t', 0, [record(0)])
    expect(sink.appendForeign('t', 0, [record(100), record(101)])).toBe(1n)
    expect(await sink.send('t', 0, [record(1)])).toBe(3n)
  })

  it('unknown topics and partitions are rejected when auto-creation is off or out of range', async () => {
    const sink = new FakeSink({ autoCreateTopics: false })
    await expect(sink.partitionCount('missing')).rejects.toMatchObject({
      code: 'CAIRN_UPSTREAM_REJECTED',
      details: { kafkaError: 'UNKNOWN_TOPIC_OR_PARTITION' },
    })
    sink.createTopic('t', 2)
    expect(await codeOf(sink.send('t', 2, [record(0)]))).toBe('CAIRN_UPSTREAM_REJECTED')
    expect(await codeOf(sink.send('missing', 0, [record(0)]))).toBe('CAIRN_UPSTREAM_REJECTED')
  })

  it('rejects records above maxRecordBytes (poison) and appends nothing of the batch', async () => {
    const sink = new FakeSink({ maxRecordBytes: 10 })
    const big = { ...record(1), value: new Uint8Array(64) }
    await expect(sink.send('t', 0, [record(0), big])).rejects.toMatchObject({
      code: 'CAIRN_UPSTREAM_REJECTED',
      details: { kafkaError: 'MESSAGE_TOO_LARGE' },
    })
    expect(sink.records('t', 0)).toEqual([])
  })

  it('a closed sink is unavailable; empty batches are programmer errors', async () => {
    const sink = new FakeSink()
    await expect(sink.send('t', 0, [])).rejects.toThrow(RangeError)
    await sink.close()
    expect(sink.connected).toBe(false)
    expect(await codeOf(sink.send('t', 0, [record(0)]))).toBe('CAIRN_UPSTREAM_UNAVAILABLE')
  })

  it('logs every call with its outcome', async () => {
    const sink = new FakeSink()
    await sink.connect()
    sink.failNext('unavailable')
    await codeOf(sink.send('t', 0, [record(0)]))
    await sink.send('t', 0, [record(0)])
    expect(sink.calls.map((c) => [c.op, c.outcome])).toEqual([
      ['connect', 'ok'],
      ['send', 'CAIRN_UPSTREAM_UNAVAILABLE'],
      ['send', 'ok'],
    ])
  })
})
