import { describe, expect, test } from 'vitest'
import { Backoff } from '../../../src/client/backoff.ts'

describe('client - backoff', () => {
  test('client - backoff doubles from initialDelayMs up to maxDelayMs', () => {
    const backoff = new Backoff({ initialDelayMs: 100, maxDelayMs: 1000, random: () => 0.999_999 })
    expect([1, 2, 3, 4, 5, 6].map(() => backoff.next())).toEqual([100, 200, 400, 800, 1000, 1000])
    backoff.reset()
    expect(backoff.next()).toBe(100)
  })

  test('client - backoff jitter keeps each delay within half to all of its nominal value', () => {
    const low = new Backoff({ initialDelayMs: 100, maxDelayMs: 1000, random: () => 0 })
    expect([1, 2, 3, 4, 5].map(() => low.next())).toEqual([50, 100, 200, 400, 500])
    const real = new Backoff({ initialDelayMs: 100, maxDelayMs: 10_000 })
    for (let attempt = 0; attempt < 12; attempt++) {
      const nominal = Math.min(10_000, 100 * 2 ** attempt)
      const delay = real.next()
      expect(delay).toBeGreaterThanOrEqual(nominal / 2)
      expect(delay).toBeLessThanOrEqual(nominal)
    }
  })

  test('client - backoff refuses inconsistent bounds', () => {
    expect(() => new Backoff({ initialDelayMs: 100, maxDelayMs: 10 })).toThrow(RangeError)
  })
})
