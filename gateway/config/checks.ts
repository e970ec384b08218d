// The building blocks of configuration validation (config.ts and its sections): a check turns a raw
// value into a typed one or an error text; Problems collects every error with its dotted path, so a
// configuration is reported whole, not one typo per start.

import { ConfigError, ConfigErrors } from '../../src/errors.ts'
import { validateStreamName } from '../../src/log/stream-config.ts'

export class Problems {
  readonly #errors: ConfigError[] = []

  add(path: string, value: unknown, message: string, source?: string): void {
    this.#errors.push(new ConfigError(path, value, source === undefined ? message : `${message}; from ${source}`))
  }

  /** A ConfigError raised by a library check (it already names its path). */
  addError(error: ConfigError): void {
    this.#errors.push(error)
  }

  /** Whether a problem was already reported at `path` (so a follow-on problem need not be). */
  has(path: string): boolean {
    return this.#errors.some((e) => e.path === path)
  }

  throwIfAny(): void {
    if (this.#errors.length > 0) throw new ConfigErrors(this.#errors)
  }
}

/** The longest delay a Node timer takes (ms). */
export const maxTimerMs = 2 ** 31 - 1

export type Checked<T> = { value: T } | { error: string }

export type Check<T> = (value: unknown) => Checked<T>

/** Checks every key of a mapping against a table of checks, rejecting unknown keys; sets what passes. */
export function readSection<T extends object>(
  settings: Record<string, unknown>,
  path: string,
  checks: { [K in keyof T]-?: Check<T[K]> },
  target: Partial<T>,
  problems: Problems,
  source: string,
): void {
  checkKeys(settings, `${path}.`, Object.keys(checks), problems, source)
  applyChecks(settings, path, checks, target, problems, source)
}

/** readSection without the unknown-key check, for a mapping whose other keys are read elsewhere. */
export function applyChecks<T extends object>(
  settings: Record<string, unknown>,
  path: string,
  checks: { [K in keyof T]?: Check<T[K]> },
  target: Partial<T>,
  problems: Problems,
  source: string,
): void {
  for (const key of Object.keys(checks) as (keyof T & string)[]) {
    const check = checks[key]
    if (check === undefined || !(key in settings)) continue
    const value = settings[key]
    const checked = check(value)
    if ('error' in checked) problems.add(`${path}.${key}`, value, checked.error, source)
    else target[key] = checked.value
  }
}

export function nonEmptyString(value: unknown): Checked<string> {
  return typeof value === 'string' && value !== '' ? { value } : { error: 'must be a non-empty string' }
}

export function assign<T extends object, K extends keyof T>(
  target: T,
  key: K,
  checked: Checked<T[K]>,
  path: string,
  raw: unknown,
  problems: Problems,
  source: string,
): void {
  if ('error' in checked) problems.add(path, raw, checked.error, source)
  else target[key] = checked.value
}

export function checkKeys(
  mapping: Record<string, unknown>,
  prefix: string,
  known: readonly string[],
  problems: Problems,
  source: string,
): void {
  for (const key of Object.keys(mapping)) {
    if (known.includes(key)) continue
    const hint = suggest(key, known)
    const message = `unknown key${hint === undefined ? '' : `; did you mean "${hint}"?`} (known: ${known.join(', ')})`
    problems.add(`${prefix}${key}`, mapping[key], message, source)
  }
}

export function expectMapping(
  value: unknown,
  path: string,
  problems: Problems,
  source: string,
): Record<string, unknown> | undefined {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>
  problems.add(path, value, 'must be a mapping', source)
  return undefined
}

// A section written with no body (`storage:`) is YAML null; treat it as empty rather than an error.
export function expectSection(
  top: Record<string, unknown>,
  key: string,
  problems: Problems,
  source: string,
): Record<string, unknown> | undefined {
  const value = top[key]
  if (value === undefined || value === null) return undefined
  return expectMapping(value, key, problems, source)
}

export function checkPath(value: unknown): Checked<string> {
  if (typeof value !== 'string' || value.trim() === '') return { error: 'must be a non-empty path' }
  return { value }
}

// The log store owns the rule; ask it rather than copy it.
export function isValidStreamName(name: unknown): name is string {
  try {
    validateStreamName(name)
    return true
  } catch {
    return false
  }
}

export function positiveInteger(value: unknown): Checked<number> {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0
    ? { value }
    : { error: 'must be a positive integer' }
}

export const rangeText = (min: number, max: number) => `an integer from ${min} to ${max}`

export function integerIn(min: number, max: number): Check<number> {
  return (value) =>
    typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max
      ? { value }
      : { error: `must be ${rangeText(min, max)}` }
}

export function withError<T>(checked: Checked<T>, error: string): Checked<T> {
  return 'error' in checked ? { error } : checked
}

export function nullable<T>(check: Check<T>): Check<T | null> {
  return (value) => {
    if (value === null) return { value: null }
    const checked = check(value)
    return 'error' in checked ? { error: `${checked.error}, or null` } : checked
  }
}

export function oneOf<const T extends string>(allowed: readonly T[]): Check<T> {
  return (value) => (isOneOf(allowed, value) ? { value } : { error: `must be one of ${allowed.join(', ')}` })
}

export function isOneOf<T extends string>(allowed: readonly T[], value: unknown): value is T {
  return typeof value === 'string' && (allowed as readonly string[]).includes(value)
}

// A near miss (edit distance ≤ 2, case-insensitive) is almost always a typo worth naming.
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = 3
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase())
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return best
}

export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1)
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution))
    }
    previous = current
  }
  return previous[b.length] ?? 0
}

/**
 * A mapping keyed by names from the configuration (streams, links): without a prototype, a stream called
 * `__proto__` or `constructor` is a stream like any other, not a member of Object.prototype.
 */
export function nameMap<T>(entries: Record<string, T> = {}): Record<string, T> {
  return Object.assign(Object.create(null) as Record<string, T>, entries)
}
