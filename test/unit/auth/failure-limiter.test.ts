import { describe, expect, test } from 'vitest'
import { FailureLimiter } from '../../../src/auth/failure-limiter.ts'
import { FakeClock } from '../../helpers/fake-clock.ts'

describe('failure limiter', () => {
  test('limiter - a source is blocked at the limit, for blockMs, others are not', () => {
    const clock = new FakeClock()
    const limiter = new FailureLimiter(clock, { maxFailures: 3, windowMs: 10_000, blockMs: 5_000 })
    expect(limiter.recordFailure('10.0.0.1')).toBe(false)
    expect(limiter.recordFailure('10.0.0.1')).toBe(false)
    expect(limiter.isBlocked('10.0.0.1')).toBe(false)
    expect(limiter.recordFailure('10.0.0.1')).toBe(true)
    expect(limiter.isBlocked('10.0.0.1')).toBe(true)
    expect(limiter.isBlocked('10.0.0.2')).toBe(false)
    clock.set(clock.now() + 4_999)
    expect(limiter.isBlocked('10.0.0.1')).toBe(true)
    clock.set(clock.now() + 1)
    expect(limiter.isBlocked('10.0.0.1')).toBe(false)
  })

  test('limiter - failures spread over more than a window do not block', () => {
    const clock = new FakeClock()
    const limiter = new FailureLimiter(clock, { maxFailures: 2, windowMs: 1_000, blockMs: 5_000 })
    limiter.recordFailure('a')
    clock.set(clock.now() + 1_000)
    expect(limiter.recordFailure('a')).toBe(false)
    expect(limiter.isBlocked('a')).toBe(false)
  })

  test('limiter - memory is bounded: the oldest sources are forgotten', () => {
    const limiter = new FailureLimiter(new FakeClock(), { maxSources: 100 })
    for (let i = 0; i < 1000; i++) limiter.recordFailure(`10.0.${i >> 8}.${i & 255}`)
    expect(limiter.trackedSources).toBe(100)
  })

  test('limiter - an unknown source address is never blocked', () => {
    const limiter = new FailureLimiter(new FakeClock(), { maxFailures: 1 })
    expect(limiter.recordFailure(undefined)).toBe(false)
    expect(limiter.isBlocked(undefined)).toBe(false)
  })
})
