import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { BrokerError, ConfigError, ConfigErrors } from '../../../src/errors.ts'
import {
  LinkBackoff,
  defaultBackoffConfig,
  linkErrorClass,
  type LinkErrorClass,
} from '../../../src/mirror/link-backoff.ts'
import { FakeClock } from '../../helpers/fake-clock.ts'
import { thrownBy } from '../../helpers/temp-store.ts'

/** A random source that always returns `r`; with almostOne a delay is its ceiling - 1 ms. */
const constant = (r: number) => () => r
const almostOne = 1 - 2 ** -40

describe('link backoff', () => {
  test('delays - ceilings double from base and stop at the network cap', () => {
    const backoff = new LinkBackoff({ clock: new FakeClock(), random: constant(almostOne) })
    const delays = Array.from({ length: 11 }, () => backoff.nextDelayMs('network'))
    expect(delays.map((d) => Math.ceil(d / 1000))).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300])
    expect(backoff.attempt).toBe(11)
  })

  test('delays - full jitter: the random source picks anywhere from 0 up to the ceiling', () => {
    const clock = new FakeClock()
    expect(new LinkBackoff({ clock, random: constant(0) }).nextDelayMs('network')).toBe(0)
    const half = new LinkBackoff({ clock, random: constant(0.5) })
    expect([half.nextDelayMs('network'), half.nextDelayMs('network'), half.nextDelayMs('network')]).toEqual([
      500, 1000, 2000,
    ])
  })

  test('delays - auth and config errors back off up to 30 minutes', () => {
    const backoff = new LinkBackoff({ clock: new FakeClock(), random: constant(almostOne) })
    for (let i = 0; i < 20; i++) backoff.nextDelayMs('auth')
    expect(Math.ceil(backoff.nextDelayMs('config') / 60_000)).toBe(30)
    expect(Math.ceil(backoff.nextDelayMs('network') / 60_000)).toBe(5)
  })

  test('delays - thousands of attempts stay at the cap (2^attempt overflow)', () => {
    const backoff = new LinkBackoff({ clock: new FakeClock(), random: constant(almostOne) })
    for (let i = 0; i < 5000; i++) backoff.nextDelayMs('network')
    expect(backoff.nextDelayMs('network') + 1).toBe(defaultBackoffConfig.capMs)
  })

  test('stability - the attempt counter resets only after the link stayed up for stableAfterMs', () => {
    const clock = new FakeClock()
    const backoff = new LinkBackoff({ clock, random: constant(almostOne) })
    for (let i = 0; i < 5; i++) backoff.nextDelayMs('network')
    backoff.connected()
    clock.advance(59_999)
    expect(backoff.nextDelayMs('network') + 1).toBe(32_000) // up 59.999 s: not stable, keeps growing
    backoff.connected()
    clock.advance(60_000)
    expect(backoff.attempt).toBe(0)
    expect(backoff.nextDelayMs('network') + 1).toBe(1000)
  })

  test('stability - a link flapping 1 s up / 1 s down for 5 minutes never resets and reaches the cap', () => {
    const clock = new FakeClock()
    const backoff = new LinkBackoff({ clock, random: constant(almostOne) })
    const ceilings: number[] = []
    for (let t = 0; t < 300_000; t += 2000) {
      backoff.connected()
      clock.advance(1000)
      ceilings.push(backoff.nextDelayMs('network') + 1)
      clock.advance(1000)
    }
    expect(ceilings.slice(0, 3)).toEqual([1000, 2000, 4000])
    expect(ceilings.every((c, i) => i === 0 || c >= (ceilings[i - 1] ?? 0))).toBe(true)
    expect(ceilings.at(-1)).toBe(defaultBackoffConfig.capMs)
  })

  test('stability - connected() twice keeps one timer; close() and nextDelayMs() cancel it', () => {
    const clock = new FakeClock()
    const backoff = new LinkBackoff({ clock })
    backoff.connected()
    backoff.connected()
    expect(clock.pendingTimers).toBe(1)
    backoff.nextDelayMs('network')
    expect(clock.pendingTimers).toBe(0)
    backoff.connected()
    backoff.close()
    expect(clock.pendingTimers).toBe(0)
  })

  test('stability - a wall-clock jump does not count as time up', () => {
    const clock = new FakeClock()
    const backoff = new LinkBackoff({ clock, random: constant(almostOne) })
    backoff.nextDelayMs('network')
    backoff.connected()
    clock.set(clock.now() + 3_600_000) // NTP step forward
    expect(backoff.nextDelayMs('network') + 1).toBe(2000)
  })

  test('linkErrorClass - refusals a retry cannot fix back off longest', () => {
    expect(linkErrorClass(new BrokerError('CAIRN_UPSTREAM_REJECTED', 'TOPIC_AUTHORIZATION_FAILED'))).toBe('auth')
    expect(linkErrorClass(new ConfigError('mirror.link.bootstrap', [], 'empty'))).toBe('config')
    expect(linkErrorClass(new BrokerError('CAIRN_UPSTREAM_UNCERTAIN', 'timeout'))).toBe('network')
    expect(linkErrorClass(new Error('ECONNREFUSED'))).toBe('network')
  })

  test('random source - a value outside [0, 1) is a programmer error', () => {
    expect(() => new LinkBackoff({ clock: new FakeClock(), random: constant(1) }).nextDelayMs('network')).toThrow(
      RangeError,
    )
  })

  test('config - every invalid field is reported with its path', () => {
    const error = thrownBy(
      () =>
        new LinkBackoff({
          clock: new FakeClock(),
          config: { baseMs: 0, capMs: 500.5, stableAfterMs: -1 },
          path: 'mirror.links.central.backoff',
        }),
    )
    expect(error).toBeInstanceOf(ConfigErrors)
    expect((error as ConfigErrors).problems.map((p) => p.path)).toEqual([
      'mirror.links.central.backoff.baseMs',
      'mirror.links.central.backoff.capMs',
      'mirror.links.central.backoff.stableAfterMs',
    ])
    expect(() => new LinkBackoff({ clock: new FakeClock(), config: { baseMs: 10, authCapMs: 5 } })).toThrow(
      /authCapMs: must be >= baseMs/,
    )
  })

  test('property - matches a model of full jitter, caps and the stability timer', () => {
    const config = { baseMs: 100, capMs: 5000, authCapMs: 20_000, stableAfterMs: 1000 }
    const event = fc.oneof(
      fc.record({ kind: fc.constant('up' as const) }),
      fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 1500 }) }),
      fc.record({
        kind: fc.constant('failed' as const),
        errorClass: fc.constantFrom<LinkErrorClass>('network', 'auth', 'config'),
        r: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      }),
    )
    fc.assert(
      fc.property(fc.array(event, { maxLength: 60 }), (events) => {
        const clock = new FakeClock()
        let nextR = 0
        const backoff = new LinkBackoff({ clock, config, random: () => nextR })
        let attempt = 0
        let upSince: number | undefined
        let now = 0
        for (const e of events) {
          if (e.kind === 'up') {
            upSince ??= now
            backoff.connected()
          } else if (e.kind === 'advance') {
            now += e.ms
            if (upSince !== undefined && now - upSince >= config.stableAfterMs) [attempt, upSince] = [0, undefined]
            clock.advance(e.ms)
          } else {
            upSince = undefined
            nextR = e.r
            const cap = e.errorClass === 'network' ? config.capMs : config.authCapMs
            const ceiling = Math.min(cap, config.baseMs * 2 ** attempt)
            const delay = backoff.nextDelayMs(e.errorClass)
            expect(delay).toBe(Math.floor(e.r * ceiling))
            expect(delay).toBeGreaterThanOrEqual(0)
            expect(delay).toBeLessThan(ceiling)
            attempt++
          }
          expect(backoff.attempt).toBe(attempt)
        }
      }),
    )
  })
})
