/**
 * Exponential backoff with jitter for reconnects and retries: attempt n waits
 * min(maxDelayMs, initialDelayMs * 2^n), scaled by a random factor in [0.5, 1) ("equal jitter"),
 * so many clients that lost the same broker do not come back in lockstep, yet none retries
 * sooner than half the nominal delay.
 */
export interface BackoffOptions {
  initialDelayMs: number
  maxDelayMs: number
  /** Random source in [0, 1); injectable for tests. */
  random?: () => number
}

export class Backoff {
  readonly #initialDelayMs: number
  readonly #maxDelayMs: number
  readonly #random: () => number
  #attempt = 0

  constructor(options: BackoffOptions) {
    if (!(options.initialDelayMs >= 0) || !(options.maxDelayMs >= options.initialDelayMs)) {
      throw new RangeError('backoff needs 0 <= initialDelayMs <= maxDelayMs')
    }
    this.#initialDelayMs = options.initialDelayMs
    this.#maxDelayMs = options.maxDelayMs
    this.#random = options.random ?? Math.random
  }

  /** Attempts made since the last reset(). */
  get attempt(): number {
    return this.#attempt
  }

  /** The delay before the next attempt; each call counts one attempt. */
  next(): number {
    const nominal = Math.min(this.#maxDelayMs, this.#initialDelayMs * 2 ** Math.min(this.#attempt, 30))
    this.#attempt++
    return Math.round(nominal * (0.5 + this.#random() * 0.5))
  }

  reset(): void {
    this.#attempt = 0
  }
}

/** Resolves after `ms` on the given clock. */
export function sleep(
  clock: { setTimeout(callback: () => void, delayMs: number): unknown },
  ms: number,
): Promise<void> {
  return new Promise((resolve) => {
    clock.setTimeout(resolve, ms)
  })
}
