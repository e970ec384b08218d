import { afterEach, describe, expect, test, vi } from 'vitest'
import { systemClock } from '../../../src/util/clock.ts'

describe('clock', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  test('clock - a delay beyond 2^31-1 ms fires when due, not after 1 ms', () => {
    vi.useFakeTimers()
    const fired = vi.fn()
    const thirtyDaysMs = 30 * 86_400_000
    systemClock.setTimeout(fired, thirtyDaysMs)
    vi.advanceTimersByTime(1000)
    expect(fired).not.toHaveBeenCalled()
    vi.advanceTimersByTime(thirtyDaysMs - 1001)
    expect(fired).not.toHaveBeenCalled()
    vi.advanceTimersByTime(1)
    expect(fired).toHaveBeenCalledOnce()
  })

  test('clock - a cleared long timer never fires', () => {
    vi.useFakeTimers()
    const fired = vi.fn()
    const handle = systemClock.setTimeout(fired, 40 * 86_400_000)
    vi.advanceTimersByTime(30 * 86_400_000)
    systemClock.clearTimeout(handle)
    vi.advanceTimersByTime(20 * 86_400_000)
    expect(fired).not.toHaveBeenCalled()
  })
})
