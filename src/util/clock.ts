// Time and timers are injected everywhere (retention, checkpoints, keepalive, backoff), so tests
// drive them deterministically instead of sleeping.

/** Opaque: whatever the clock's setTimeout returned, handed back to its clearTimeout. */
export type TimerHandle = object

export interface Clock {
  /** Wall-clock milliseconds since the epoch (record timestamps, retention cutoffs). */
  now(): number
  setTimeout(callback: () => void, delayMs: number): TimerHandle
  clearTimeout(handle: TimerHandle): void
}

// Node fires a timer longer than 2^31-1 ms after 1 ms; a session expiry of weeks must not do that.
const maxTimerDelayMs = 2_147_483_647

/** A timer that re-arms itself in steps below Node's limit, so any delay (days, weeks) is honoured. */
class LongTimer implements TimerHandle {
  #handle: NodeJS.Timeout | undefined

  constructor(callback: () => void, delayMs: number) {
    this.#arm(callback, Date.now() + Math.max(0, delayMs))
  }

  #arm(callback: () => void, dueMs: number): void {
    const leftMs = dueMs - Date.now()
    const stepMs = Math.min(Math.max(0, leftMs), maxTimerDelayMs)
    this.#handle = setTimeout(() => {
      if (stepMs < maxTimerDelayMs) callback()
      else this.#arm(callback, dueMs)
    }, stepMs)
    this.#handle.unref()
  }

  cancel(): void {
    clearTimeout(this.#handle)
  }
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, delayMs) => new LongTimer(callback, delayMs),
  clearTimeout: (handle) => (handle as LongTimer).cancel(),
}
