import { describe, expect, test } from 'vitest'
import { RecordAccumulator, type PendingRecord } from '../../../src/client/record-accumulator.ts'
import { toWireRecord } from '../../../src/client/types.ts'
import { FakeClock } from '../../helpers/fake-clock.ts'

function record(value: string): PendingRecord {
  return { ...toWireRecord({ value }), resolve: () => {}, reject: () => {} }
}

function setup(options: {
  batchMaxRecords?: number
  batchMaxBytes?: number
  lingerMs?: number
  random?: () => number
}) {
  const clock = new FakeClock()
  let readyCalls = 0
  const accumulator = new RecordAccumulator({
    batchMaxRecords: options.batchMaxRecords ?? 1000,
    batchMaxBytes: options.batchMaxBytes ?? 1 << 20,
    lingerMs: options.lingerMs ?? 5,
    deliveryTimeoutMs: 120_000,
    clock,
    random: options.random ?? Math.random,
    onReady: () => readyCalls++,
  })
  const batches = () => accumulator.pending()
  return { clock, accumulator, batches, ready: () => readyCalls }
}

describe('client - record accumulator', () => {
  test('client - a batch becomes ready after lingerMs, or at once when full', () => {
    const { clock, accumulator, batches } = setup({ lingerMs: 10, batchMaxRecords: 3 })
    accumulator.append('s', 0, record('a'))
    accumulator.append('s', 0, record('b'))
    expect(batches().map((b) => [b.records.length, b.ready])).toEqual([[2, false]])
    clock.advance(9)
    expect(batches()[0]?.ready).toBe(false)
    clock.advance(1)
    expect(batches()[0]?.ready).toBe(true)
    accumulator.append('s', 0, record('c')) // an unsent ready batch still takes records
    accumulator.append('s', 0, record('d')) // full at 3: a new batch starts
    expect(batches().map((b) => [b.records.length, b.ready])).toEqual([
      [3, true],
      [1, false],
    ])
  })

  test('client - batchMaxBytes cuts batches, but a single large record still makes a batch', () => {
    const { accumulator, batches } = setup({ batchMaxBytes: 100 })
    accumulator.append('s', 0, record('x'.repeat(60)))
    accumulator.append('s', 0, record('y'.repeat(60)))
    accumulator.append('s', 0, record('z'.repeat(500)))
    expect(batches().map((b) => b.records.length)).toEqual([1, 1, 1])
    expect(batches().map((b) => b.ready)).toEqual([true, true, true])
  })

  test('client - a batch that was sent takes no more records', () => {
    const { accumulator, batches } = setup({ lingerMs: 0 })
    accumulator.append('s', 0, record('a'))
    const [first] = batches()
    first!.attempts = 1
    accumulator.append('s', 0, record('b'))
    expect(batches().map((b) => b.records.length)).toEqual([1, 1])
  })

  test('client - keyless records stick to a partition until its batch is sent, then move to another', () => {
    const values = [0.9, 0.0]
    const { accumulator, batches } = setup({ random: () => values.shift() ?? 0.5 })
    const first = accumulator.stickyPartition('s', 4)
    expect(first).toBe(3)
    expect(accumulator.stickyPartition('s', 4)).toBe(3)
    accumulator.append('s', first, record('a'))
    accumulator.sent(batches()[0]!)
    const second = accumulator.stickyPartition('s', 4)
    expect(second).not.toBe(3)
    expect(second).toBe(0)
    // A single partition has nowhere else to go.
    expect(accumulator.stickyPartition('one', 1)).toBe(0)
  })

  test('client - headers, keys and timestamps convert to the wire form with strings as UTF-8', () => {
    expect(toWireRecord({ key: 'k', value: 'é', headers: { a: 'b' }, timestamp: 5 }).wire).toEqual({
      key: new TextEncoder().encode('k'),
      value: new TextEncoder().encode('é'),
      headers: [['a', new TextEncoder().encode('b')]],
      timestamp: 5,
    })
    expect(toWireRecord({ key: null, value: null }).wire).toEqual({ value: null })
    expect(() => toWireRecord({ value: 'x', timestamp: -1 })).toThrow(RangeError)
  })
})
