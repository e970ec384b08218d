import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { exponentialBuckets, Histogram, latencyBucketsSec } from '../../../src/observability/histogram.ts'
import { LogMetrics } from '../../../src/observability/log-metrics.ts'

describe('histogram', () => {
  test('histogram - bounds are inclusive upper bounds; values above all of them count only in +Inf', () => {
    const h = new Histogram([1, 2, 5])
    for (const v of [0, 1, 1.5, 2, 5, 5.1, 100]) h.observe(v)
    expect(h.snapshot()).toEqual({
      labels: {},
      bounds: [1, 2, 5],
      cumulativeCounts: [2, 4, 5],
      sum: 114.6,
      count: 7,
    })
  })

  test('histogram - cumulative counts never fall and end at most at count, for any observations', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1, max: 20, noNaN: true })), (values) => {
        const h = new Histogram(latencyBucketsSec)
        for (const v of values) h.observe(v)
        const { cumulativeCounts, count } = h.snapshot()
        cumulativeCounts.forEach((c, i) => expect(c).toBeGreaterThanOrEqual(cumulativeCounts[i - 1] ?? 0))
        expect(cumulativeCounts.at(-1)).toBe(values.filter((v) => v <= 10).length)
        expect(count).toBe(values.length)
      }),
    )
  })

  test('histogram - observeMany is the same as observing one value that many times', () => {
    const once = new Histogram([1, 10])
    const many = new Histogram([1, 10])
    for (let i = 0; i < 4; i++) once.observe(3)
    many.observeMany(3, 4)
    expect(many.snapshot()).toEqual(once.snapshot())
  })

  test('histogram - bounds must ascend strictly and be finite', () => {
    expect(() => new Histogram([1, 1])).toThrow(/ascending/)
    expect(() => new Histogram([2, 1])).toThrow(/ascending/)
    expect(() => new Histogram([1, Infinity])).toThrow(/finite/)
    expect(exponentialBuckets(1, 4, 4)).toEqual([1, 4, 16, 64])
    expect(() => exponentialBuckets(0, 2, 3)).toThrow(RangeError)
  })

  test('histogram - log metrics: commit duration per commit, each append of it waited since the first was staged', () => {
    let nowMs = 1000
    const m = new LogMetrics(() => nowMs)
    m.batchStarted()
    nowMs = 1002
    const started = m.commitStarting()
    nowMs = 1005
    m.committed(started, 3, 40)
    expect(m.commitDuration.snapshot()).toMatchObject({ count: 1, sum: 0.003 })
    expect(m.appendLatency.snapshot()).toMatchObject({ count: 3, sum: 0.015 })
    expect(m.commitRecords.snapshot()).toMatchObject({ count: 1, sum: 40 })
    // A commit of state writes only: timed, but no appends and no batch size.
    m.committed(m.commitStarting(), 0, 0)
    expect(m.commitDuration.count).toBe(2)
    expect(m.appendLatency.count).toBe(3)
    expect(m.commitRecords.count).toBe(1)
  })
})
