import { ConfigError, ConfigErrors, hasErrorCode } from '../errors.ts'
import type { Clock, TimerHandle } from '../util/clock.ts'

/*
 * Reconnect delays of one upstream link (mirror.md B8): exponential backoff with "full jitter",
 *   delayMs = random(0, min(cap, baseMs · 2^attempt))
 * (AWS Architecture Blog, "Exponential Backoff and Jitter"): after a cloud outage a whole fleet
 * reconnects spread over the window instead of in waves. The cap depends on the error class:
 * network trouble retries within minutes; authentication/authorization/config errors need a human,
 * so they back off much further (and the caller alerts). Per-partition leadership errors are not
 * link failures and do not belong here (they refresh metadata).
 *
 * The attempt counter resets only after the link stayed up for stableAfterMs: a link that flaps
 * every second would otherwise reset on every brief success and hammer the broker at base rate.
 * That is measured with a timer, not by comparing wall-clock readings, because timers run on a
 * monotonic clock and an NTP step must not reset (or prolong) the backoff.
 */

export const linkErrorClasses = ['network', 'auth', 'config'] as const
export type LinkErrorClass = (typeof linkErrorClasses)[number]

/**
 * The backoff class of a link failure: a broker refusal that a retry cannot fix (authorization, an
 * unknown topic: CAIRN_UPSTREAM_REJECTED) is 'auth', a configuration error is 'config', anything
 * else (unreachable, timeouts, uncertain sends) is 'network'.
 */
export function linkErrorClass(error: unknown): LinkErrorClass {
  if (hasErrorCode(error, 'CAIRN_UPSTREAM_REJECTED')) return 'auth'
  if (hasErrorCode(error, 'CAIRN_CONFIG_INVALID') || error instanceof ConfigErrors) return 'config'
  return 'network'
}

export interface BackoffConfig {
  /** First delay ceiling; doubles per attempt. */
  baseMs: number
  /** Ceiling for network errors. */
  capMs: number
  /** Ceiling for auth and config errors. */
  authCapMs: number
  /** How long the link must stay up before the attempt counter resets. */
  stableAfterMs: number
}

export const defaultBackoffConfig: Readonly<BackoffConfig> = Object.freeze({
  baseMs: 1000,
  capMs: 5 * 60_000,
  authCapMs: 30 * 60_000,
  stableAfterMs: 60_000,
})

export interface LinkBackoffOptions {
  clock: Clock
  /** Uniform in [0, 1); Math.random unless a test injects a deterministic source. */
  random?: () => number
  config?: Partial<BackoffConfig>
  /** Dotted config path for error messages. */
  path?: string
}

export class LinkBackoff {
  readonly config: Readonly<BackoffConfig>
  readonly #clock: Clock
  readonly #random: () => number
  #attempt = 0
  #stableTimer: TimerHandle | undefined

  /** Throws ConfigErrors for an invalid config. */
  constructor(options: LinkBackoffOptions) {
    this.config = checkConfig({ ...defaultBackoffConfig, ...options.config }, options.path ?? 'mirror.link.backoff')
    this.#clock = options.clock
    this.#random = options.random ?? Math.random
  }

  /** Consecutive failures since the link was last stable (exported as a metric). */
  get attempt(): number {
    return this.#attempt
  }

  /** The link reached STREAMING: the attempt counter resets if it stays up for stableAfterMs. */
  connected(): void {
    if (this.#stableTimer !== undefined) return
    this.#stableTimer = this.#clock.setTimeout(() => {
      this.#stableTimer = undefined
      this.#attempt = 0
    }, this.config.stableAfterMs)
  }

  /** The link failed (or a connect attempt did): how long to wait before the next attempt. */
  nextDelayMs(errorClass: LinkErrorClass): number {
    this.#cancelStableTimer()
    const capMs = errorClass === 'network' ? this.config.capMs : this.config.authCapMs
    // 2^attempt overflows to Infinity after ~1000 attempts; min() then keeps the cap.
    const ceilingMs = Math.min(capMs, this.config.baseMs * 2 ** this.#attempt)
    const r = this.#random()
    if (!(r >= 0 && r < 1)) throw new RangeError(`random source returned ${r}, not a number in [0, 1)`)
    this.#attempt++
    return Math.floor(r * ceilingMs)
  }

  /** Stops the stability timer (link closed for good). */
  close(): void {
    this.#cancelStableTimer()
  }

  #cancelStableTimer(): void {
    if (this.#stableTimer === undefined) return
    this.#clock.clearTimeout(this.#stableTimer)
    this.#stableTimer = undefined
  }
}

function checkConfig(config: BackoffConfig, path: string): BackoffConfig {
  const problems: ConfigError[] = []
  for (const name of ['baseMs', 'capMs', 'authCapMs', 'stableAfterMs'] as const) {
    const value = config[name]
    const min = name === 'baseMs' ? 1 : 0
    if (!Number.isSafeInteger(value) || value < min) {
      problems.push(new ConfigError(`${path}.${name}`, value, `must be an integer >= ${min} (milliseconds)`))
    }
  }
  for (const name of ['capMs', 'authCapMs'] as const) {
    if (config[name] < config.baseMs) {
      problems.push(new ConfigError(`${path}.${name}`, config[name], `must be >= baseMs (${config.baseMs})`))
    }
  }
  if (problems.length > 0) throw new ConfigErrors(problems)
  return Object.freeze(config)
}
