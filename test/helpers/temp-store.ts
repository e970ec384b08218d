import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { onTestFinished } from 'vitest'
import { LogStore, type LogStoreOptions } from '../../src/log/log-store.ts'
import { FakeClock } from './fake-clock.ts'

export type TempStoreOverrides = Partial<Omit<LogStoreOptions, 'dataDir' | 'clock'>>

export interface TempStore {
  /** The store currently open on `dir` (replaced by reopen()). */
  readonly store: LogStore
  readonly dir: string
  readonly clock: FakeClock
  /** Closes the current store and opens a new one on the same directory and clock; returns it. */
  reopen(overrides?: TempStoreOverrides): Promise<LogStore>
}

/**
 * Opens a LogStore in a fresh temporary directory with a fake clock and a silent logger. When the
 * current test finishes (pass or fail) the store is closed and the directory removed. `overrides`
 * apply to every open, and reopen() can add more.
 */
export function openTempStore(overrides: TempStoreOverrides = {}, clock = new FakeClock()): TempStore {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-log-'))
  const open = (more: TempStoreOverrides = {}) =>
    LogStore.open({ logger: pino({ level: 'silent' }), ...overrides, ...more, dataDir: dir, clock })
  let store: LogStore
  try {
    store = open()
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
  onTestFinished(async () => {
    try {
      await store.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
  return {
    get store() {
      return store
    },
    dir,
    clock,
    async reopen(more = {}) {
      await store.close()
      store = open(more)
      return store
    },
  }
}

/** Bytes from a string, for short literal keys and values. */
export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text)
}

/** A string from bytes (null stays null), for comparing what a read returned. */
export function text(value: Uint8Array | null): string | null {
  return value === null ? null : new TextDecoder().decode(value)
}

/** The error `fn` throws; fails the test if it returns. */
export function thrownBy(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  throw new Error('expected an error, but the call returned')
}
