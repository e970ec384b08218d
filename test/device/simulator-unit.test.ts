// The simulator's pieces that need no broker: payload formats, option checks, the arrival checker
// (it must catch what it is there to catch), and the seeded randomness.
import { describe, expect, it } from 'vitest'
import {
  checkArrivals,
  decodePayload,
  encodePayload,
  payloadFormats,
  resolveFleetOptions,
  type Arrival,
  type DeviceReport,
  type FleetReport,
  type TopicReport,
} from '../../device/simulator/index.ts'
import { zeroCounts } from '../../device/simulator/report.ts'
import { deviceSeed, makeRng } from '../../device/simulator/rng.ts'

const reading = { deviceId: 'sim-0042', seq: 123_456, timestampMs: 1_763_784_000_123, value: 21.5 }

describe('payload - formats', () => {
  it.each(payloadFormats)('%s round-trips and is padded to the requested size', (format) => {
    const minimum = encodePayload(reading, format, 0).length
    for (let size = 0; size <= 300; size++) {
      const payload = encodePayload(reading, format, size)
      expect(decodePayload(payload), `${size} bytes`).toEqual(reading)
      expect(payload.length, `${size} bytes`).toBe(Math.max(size, minimum))
    }
  })

  it('json is readable by anything that reads JSON', () => {
    const parsed = JSON.parse(encodePayload(reading, 'json', 100).toString()) as Record<string, unknown>
    expect(parsed).toMatchObject({ device: 'sim-0042', seq: 123_456, ts: 1_763_784_000_123, value: 21.5 })
  })

  it('rejects what is not a reading', () => {
    for (const text of ['', 'hello', '{"seq":1}', '{"device":"a","seq":-1,"ts":1}', 'dev x 1 2', '\u00ca\u001e']) {
      expect(decodePayload(Buffer.from(text)), text).toBeUndefined()
    }
    expect(decodePayload(Buffer.from([0xca, 0x1e, 1, 200, 1, 2]))).toBeUndefined()
  })
})

describe('options - validation', () => {
  it('fills defaults and keeps what is given', () => {
    const o = resolveFleetOptions({ url: 'mqtt://h:1', devices: 3, durationMs: undefined })
    expect(o).toMatchObject({ url: 'mqtt://h:1', devices: 3, qos: 1, persistent: true, durationMs: undefined })
  })

  it('names every wrong option', () => {
    expect(() =>
      resolveFleetOptions({
        url: 'http://h',
        devices: 0,
        idPrefix: 'a b',
        topics: ['x/y'],
        qos: 3 as 1,
        inflight: 70_000,
        flapDowntimeMs: [50, 10],
      }),
    ).toThrow(/url[\s\S]*devices[\s\S]*idPrefix[\s\S]*topics[\s\S]*qos[\s\S]*inflight[\s\S]*flapDowntimeMs/)
  })
})

describe('rng - seeded', () => {
  it('the same seed gives the same choices, another seed others', () => {
    const draw = (seed: number) => {
      const rng = makeRng(seed)
      return Array.from({ length: 5 }, () => rng.next())
    }
    expect(draw(7)).toEqual(draw(7))
    expect(draw(7)).not.toEqual(draw(8))
    expect(deviceSeed(1, 0)).not.toBe(deviceSeed(1, 1))
  })
})

function topic(acked: number[], unacked: number[] = []): TopicReport {
  return { acked, sent: [...acked, ...unacked].sort((a, b) => a - b), refused: [], dropped: [], unacked }
}

function fleetReport(topics: Record<string, TopicReport>, published: number): FleetReport {
  const device: DeviceReport = {
    deviceId: 'd-0001',
    clientId: 'd-0001',
    topics,
    lastError: undefined,
    ...zeroCounts(),
    published,
  }
  return { seed: 1, startedAtMs: 0, endedAtMs: 0, totals: zeroCounts(), ackLatency: undefined, devices: [device] }
}

const arrival = (seq: number, to = 's/d-0001/a', orderDomain?: number): Arrival => ({
  topic: to,
  payload: encodePayload({ deviceId: 'd-0001', seq, timestampMs: 1, value: 1 }, 'json', 0),
  ...(orderDomain === undefined ? {} : { orderDomain }),
})

describe('checkArrivals - catches what it must', () => {
  const report = fleetReport({ 's/d-0001/a': topic([1, 3, 4], [5]), 's/d-0001/b': topic([2]) }, 5)
  const arrivals = (seqs: number[]) => seqs.map((seq) => arrival(seq, seq === 2 ? 's/d-0001/b' : 's/d-0001/a'))

  it('passes a complete, ordered delivery (an unacknowledged message may be absent)', () => {
    const check = checkArrivals(report, arrivals([1, 2, 3, 4]), { duplicatesAllowed: false })
    expect(check).toMatchObject({ ok: true, arrived: 4, missing: [], duplicates: [], outOfOrder: [] })
  })

  it('a missing acknowledged message', () => {
    const check = checkArrivals(report, arrivals([1, 2, 4, 5]), { duplicatesAllowed: true })
    expect(check.ok).toBe(false)
    expect(check.missing).toEqual([{ deviceId: 'd-0001', topic: 's/d-0001/a', seq: 3 }])
  })

  it('duplicates: allowed at QoS 1, not at QoS 2', () => {
    const seqs = [1, 2, 3, 2, 3, 4]
    expect(checkArrivals(report, arrivals(seqs), { duplicatesAllowed: true }).ok).toBe(true)
    const strict = checkArrivals(report, arrivals(seqs), { duplicatesAllowed: false })
    expect(strict.ok).toBe(false)
    expect(strict.duplicates.map((d) => d.seq)).toEqual([2, 3])
  })

  it('a first arrival out of order, but not across order domains', () => {
    const check = checkArrivals(report, arrivals([1, 3, 2, 4]), { duplicatesAllowed: true })
    expect(check.outOfOrder.map((d) => d.seq)).toEqual([2])
    const split = [arrival(1, 's/d-0001/a', 0), arrival(3, 's/d-0001/a', 0), arrival(2, 's/d-0001/b', 1)]
    expect(checkArrivals(report, [...split, arrival(4)], { duplicatesAllowed: true }).outOfOrder).toEqual([])
  })

  it('messages the fleet never published, or under the wrong topic', () => {
    const strangers: Arrival[] = [
      { topic: 's/d-0001/a', payload: Buffer.from('hello') },
      arrival(6),
      { topic: 's/x/a', payload: encodePayload({ deviceId: 'x', seq: 1, timestampMs: 1, value: 1 }, 'text', 0) },
      arrival(3, 's/d-0001/b'),
    ]
    const check = checkArrivals(report, [...arrivals([1, 2, 4]), ...strangers], { duplicatesAllowed: true })
    expect(check.ok).toBe(false)
    expect(check.unexpected.map((u) => u.reason)).toEqual([
      'not a simulator payload',
      'd-0001 never published seq 6',
      'x never published seq 1',
      'd-0001 seq 3 was published to s/d-0001/a',
    ])
  })
})
