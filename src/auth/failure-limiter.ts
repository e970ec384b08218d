import type { Clock } from '../util/clock.ts'

export interface FailureLimiterOptions {
  /** Failed attempts a source address may make within `windowMs` before it is blocked. */
  maxFailures: number
  windowMs: number
  /** How long a source is refused without checking credentials once it hit the limit. */
  blockMs: number
  /** Sources remembered at most; the oldest are forgotten first, so a scan cannot grow memory. */
  maxSources: number
}

export const defaultFailureLimiterOptions: FailureLimiterOptions = {
  maxFailures: 5,
  windowMs: 60_000,
  blockMs: 60_000,
  maxSources: 10_000,
}

interface SourceState {
  windowStartMs: number
  failures: number
  blockedUntilMs: number
}

/**
 * Counts failed authentications per source address (fixed windows) and blocks a source that
 * fails too often. A success does not reset the count: one valid account must not let a
 * source keep guessing others'.
 */
export class FailureLimiter {
  readonly #options: FailureLimiterOptions
  readonly #clock: Clock
  // Map iteration order is insertion order: re-inserting on update makes the first entry the oldest.
  readonly #sources = new Map<string, SourceState>()

  constructor(clock: Clock, options: Partial<FailureLimiterOptions> = {}) {
    this.#clock = clock
    this.#options = { ...defaultFailureLimiterOptions, ...options }
  }

  /** Whether the source is blocked now. */
  isBlocked(source: string | undefined): boolean {
    if (source === undefined) return false
    const state = this.#sources.get(source)
    return state !== undefined && state.blockedUntilMs > this.#clock.now()
  }

  /** Records a failure; returns true when this failure blocked the source. */
  recordFailure(source: string | undefined): boolean {
    if (source === undefined) return false
    const now = this.#clock.now()
    let state = this.#sources.get(source)
    if (state === undefined || now - state.windowStartMs >= this.#options.windowMs) {
      state = { windowStartMs: now, failures: 0, blockedUntilMs: state?.blockedUntilMs ?? 0 }
    }
    state.failures++
    this.#sources.delete(source)
    this.#sources.set(source, state)
    while (this.#sources.size > this.#options.maxSources) {
      const oldest = this.#sources.keys().next()
      if (oldest.done === true) break
      this.#sources.delete(oldest.value)
    }
    if (state.failures >= this.#options.maxFailures && state.blockedUntilMs <= now) {
      state.blockedUntilMs = now + this.#options.blockMs
      state.failures = 0
      state.windowStartMs = now
      return true
    }
    return false
  }

  get trackedSources(): number {
    return this.#sources.size
  }
}
