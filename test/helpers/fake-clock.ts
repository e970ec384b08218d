import type { Clock, TimerHandle } from '../../src/util/clock.ts'

interface FakeTimer {
  readonly id: number
  readonly dueMs: number
  readonly callback: () => void
}

/**
 * A Clock for tests: now() only changes when the test says so, and timers fire only inside
 * advance(), in due order, with now() set to each timer's due time while it runs. Nothing here
 * touches real time, so a test never sleeps.
 */
export class FakeClock implements Clock {
  #nowMs: number
  #nextId = 1
  #timers = new Map<number, FakeTimer>()

  constructor(startMs = Date.UTC(2025, 0, 1)) {
    this.#nowMs = startMs
  }

  now(): number {
    return this.#nowMs
  }

  /** Moves now() without firing timers (jumps in wall-clock time, e.g. NTP corrections). */
  set(ms: number): void {
    this.#nowMs = ms
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const timer: FakeTimer = {
      id: this.#nextId++,
      dueMs: this.#nowMs + Math.max(0, delayMs),
      callback,
    }
    this.#timers.set(timer.id, timer)
    return timer
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete((handle as FakeTimer).id)
  }

  /** Timers waiting to fire. */
  get pendingTimers(): number {
    return this.#timers.size
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way (including timers that
   * those callbacks set, if they fall due before the end), each with now() at its due time.
   */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError('advance() moves time forward only')
    const endMs = this.#nowMs + ms
    for (;;) {
      let next: FakeTimer | undefined
      for (const timer of this.#timers.values()) {
        if (timer.dueMs <= endMs && (next === undefined || timer.dueMs < next.dueMs)) next = timer
      }
      if (next === undefined) break
      this.#timers.delete(next.id)
      this.#nowMs = Math.max(this.#nowMs, next.dueMs)
      next.callback()
    }
    this.#nowMs = endMs
  }
}
