// Configuration reload (SIGHUP): re-read the file and the environment with the original flags, validate, and apply
// what can change while running. Components that can take a change live register a Reloadable naming the option
// paths they own; every other changed option is logged as needing a restart. An invalid configuration changes
// nothing: each problem is logged and the running configuration stays.

import type { Logger } from 'pino'
import { ConfigErrors } from '../src/errors.ts'
import type { LoadedConfig } from './config.ts'

/** A part of the running broker that can apply configuration changes without a restart. */
export interface Reloadable {
  /** For log lines: "log level", "mirror rate limits", "users". */
  readonly name: string
  /**
   * Option paths applied live, dotted, `*` standing for any one key: `logLevel`, `mirror.links.*.maxBytesPerSec`.
   * A path covers everything below it (`security.users` covers `security.users.alice.password`).
   */
  readonly paths: readonly string[]
  /** Called on every valid reload, changed or not: for material read from files whose names did not change (certificates). */
  readonly always?: boolean
  /**
   * Applies `next` (`running` is the configuration before it). Throwing keeps its paths at their running values,
   * so the next reload tries them again; the other reloadables still apply theirs.
   */
  apply(next: LoadedConfig, running: LoadedConfig): void | Promise<void>
}

export interface ReloadOutcome {
  /** invalid: nothing changed (problems says why); failed: a reloadable threw; else what happened. */
  result: 'unchanged' | 'applied' | 'invalid' | 'failed'
  /** Changed option paths now in effect. */
  applied: string[]
  /** Changed option paths that take effect only after a restart. */
  needsRestart: string[]
  /** Names of the reloadables that threw. */
  failed: string[]
  /** The configuration's problems, as `path: message (got value)`. */
  problems: string[]
}

export interface ReloaderOptions {
  /** The configuration the broker started with. */
  initial: LoadedConfig
  /** Reads and validates the configuration again (loadConfig with the original flags); throws ConfigErrors. */
  load: () => LoadedConfig
  logger: Logger
}

export class Reloader {
  readonly #load: () => LoadedConfig
  readonly #logger: Logger
  readonly #reloadables = new Set<Reloadable>()
  #running: LoadedConfig
  #inFlight: Promise<ReloadOutcome> | undefined
  #queued: Promise<ReloadOutcome> | undefined

  constructor(options: ReloaderOptions) {
    this.#running = options.initial
    this.#load = options.load
    this.#logger = options.logger
  }

  /** What is in effect: the start configuration with every change applied live since. */
  get running(): LoadedConfig {
    return this.#running
  }

  /** Registers a part that applies changes live; returns the function that unregisters it. */
  register(reloadable: Reloadable): () => void {
    for (const path of reloadable.paths) {
      if (path === '' || path.split('.').some((key) => key === '')) {
        throw new TypeError(`reloadable ${reloadable.name}: bad option path "${path}"`)
      }
    }
    this.#reloadables.add(reloadable)
    return () => this.#reloadables.delete(reloadable)
  }

  /**
   * Reloads once. Reloads never overlap: one asked for while another runs starts after it (signals that arrive
   * meanwhile fold into that one, as they all want the file as it is now).
   */
  reload(): Promise<ReloadOutcome> {
    if (this.#inFlight === undefined) {
      this.#inFlight = this.#reloadOnce().finally(() => (this.#inFlight = undefined))
      return this.#inFlight
    }
    this.#queued ??= this.#inFlight.then(() => {
      this.#queued = undefined
      return this.reload()
    })
    return this.#queued
  }

  async #reloadOnce(): Promise<ReloadOutcome> {
    const outcome: ReloadOutcome = { result: 'unchanged', applied: [], needsRestart: [], failed: [], problems: [] }
    let next: LoadedConfig
    try {
      next = this.#load()
    } catch (err) {
      if (!(err instanceof ConfigErrors)) {
        this.#logger.error({ err }, 'configuration not reloaded: it could not be read; keeping the running one')
        return { ...outcome, result: 'invalid', problems: [err instanceof Error ? err.message : String(err)] }
      }
      for (const problem of err.problems) this.#logger.error({ path: problem.path }, problem.message)
      this.#logger.error(
        { problems: err.problems.length },
        'configuration not reloaded: it is invalid; keeping the running one',
      )
      return { ...outcome, result: 'invalid', problems: err.problems.map((p) => p.message) }
    }
    for (const warning of next.warnings) this.#logger.warn(warning)

    const running = this.#running
    const changed = changedPaths(running.options, next.options)
    const live = new Map<Reloadable, string[][]>()
    for (const path of changed) {
      const owners = [...this.#reloadables].filter((r) => r.paths.some((pattern) => covers(pattern, path)))
      if (owners.length === 0) outcome.needsRestart.push(path.join('.'))
      for (const owner of owners) live.set(owner, [...(live.get(owner) ?? []), path])
    }
    for (const reloadable of this.#reloadables)
      if (reloadable.always === true && !live.has(reloadable)) live.set(reloadable, [])

    const options = structuredClone(running.options) as unknown as Record<string, unknown>
    const appliedPaths: string[][] = []
    const failedPaths = new Set<string[]>()
    for (const [reloadable, paths] of live) {
      try {
        await reloadable.apply(next, running)
        appliedPaths.push(...paths)
      } catch (err) {
        outcome.failed.push(reloadable.name)
        for (const path of paths) failedPaths.add(path)
        this.#logger.error(
          { err, reloadable: reloadable.name, paths: paths.map((p) => p.join('.')) },
          'a configuration change could not be applied; it keeps its running value',
        )
      }
    }
    // A path owned by two reloadables is in effect only if neither failed.
    for (const path of appliedPaths) {
      if (failedPaths.has(path) || outcome.applied.includes(path.join('.'))) continue
      setAt(options, path, getAt(next.options, path))
      outcome.applied.push(path.join('.'))
    }
    this.#running = { ...next, options: options as unknown as LoadedConfig['options'] }

    if (outcome.failed.length > 0) outcome.result = 'failed'
    else if (outcome.applied.length > 0) outcome.result = 'applied'
    if (outcome.applied.length > 0 || changed.length === 0) {
      this.#logger.info(
        { applied: outcome.applied },
        changed.length === 0 ? 'configuration reloaded: nothing changed' : 'configuration reloaded',
      )
    }
    if (outcome.needsRestart.length > 0) {
      this.#logger.warn(
        { needsRestart: outcome.needsRestart },
        'configuration changes that take effect only after a restart',
      )
    }
    return outcome
  }
}

const isMapping = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** Paths (as key lists) where the two differ: the deepest differing mapping key; lists compare whole. */
export function changedPaths(a: unknown, b: unknown, prefix: string[] = []): string[][] {
  if (isMapping(a) && isMapping(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)])
    return [...keys].flatMap((key) =>
      Object.hasOwn(a, key) && Object.hasOwn(b, key)
        ? changedPaths(a[key], b[key], [...prefix, key])
        : [[...prefix, key]],
    )
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix]
}

/** Whether a Reloadable path (with `*`) covers a changed path. */
export function covers(pattern: string, path: readonly string[]): boolean {
  const keys = pattern.split('.')
  return keys.length <= path.length && keys.every((key, i) => key === '*' || key === path[i])
}

function getAt(root: unknown, path: readonly string[]): unknown {
  let value = root
  for (const key of path) value = isMapping(value) && Object.hasOwn(value, key) ? value[key] : undefined
  return value
}

function setAt(root: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let target = root
  for (const key of path.slice(0, -1)) {
    const child = target[key]
    if (!isMapping(child)) return
    target = child
  }
  const last = path.at(-1)
  if (last === undefined) return
  if (value === undefined) delete target[last]
  else target[last] = structuredClone(value)
}
