// Time and timers are injected everywhere (retention, checkpoints, keepalive, backoff), so tests
// drive them deterministically instead of sleeping.

export interface TimerHandle {
  unref?(): unknown
}

export interface Clock {
  /** Wall-clock milliseconds since the epoch (record timestamps, retention cutoffs). */
  now(): number
  setTimeout(callback: () => void, delayMs: number): TimerHandle
  clearTimeout(handle: TimerHandle): void
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, delayMs) => {
    const handle = setTimeout(callback, delayMs)
    handle.unref()
    return handle
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
}
