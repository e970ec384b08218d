import { statSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import type { Logger } from 'pino'
import type { Clock, TimerHandle } from '../util/clock.ts'
import type { SqliteDatabase } from './open-database.ts'
import { storageError } from './storage-error.ts'

export interface CheckpointPolicy {
  /** A PASSIVE checkpoint runs this often when anything was committed since the last one. */
  intervalMs: number
  /** ...and as soon as this many record bytes were committed since the last one, to keep each short. */
  passiveAfterBytes: number
  /** Above this WAL file size, a TRUNCATE checkpoint shrinks the file back (blocks writers briefly). */
  truncateAboveBytes: number
}

const defaultPolicy: CheckpointPolicy = {
  intervalMs: 1_000,
  passiveAfterBytes: 4 * 1024 * 1024,
  truncateAboveBytes: 64 * 1024 * 1024,
}

/**
 * SQLite's automatic checkpoint is off (open-database.ts): it would run inside whichever commit
 * crossed the threshold. Here a PASSIVE checkpoint runs between commits, often enough that each one
 * copies only a few MiB; SQLITE_BUSY from PASSIVE is normal (an outside reader) and not an error.
 */
export class Checkpointer {
  readonly #db: SqliteDatabase
  readonly #walFile: string
  readonly #clock: Clock
  readonly #logger: Logger
  readonly #policy: CheckpointPolicy
  #timer: TimerHandle | undefined
  #bytesSinceCheckpoint = 0
  #soonScheduled = false
  #stopped = false
  #stats = { checkpoints: 0, maxCheckpointMs: 0 }

  constructor(
    db: SqliteDatabase,
    file: string,
    clock: Clock,
    logger: Logger,
    policy: Partial<CheckpointPolicy> | undefined,
  ) {
    this.#db = db
    this.#walFile = `${file}-wal`
    this.#clock = clock
    this.#logger = logger
    this.#policy = { ...defaultPolicy, ...policy }
    this.#arm()
  }

  noteCommit(bytes: number): void {
    this.#bytesSinceCheckpoint += bytes
    if (this.#bytesSinceCheckpoint >= this.#policy.passiveAfterBytes && !this.#soonScheduled) {
      this.#soonScheduled = true
      setImmediate(() => {
        this.#soonScheduled = false
        if (!this.#stopped) this.#runLogged('PASSIVE')
      })
    }
  }

  checkpoint(mode: 'PASSIVE' | 'TRUNCATE'): void {
    const started = performance.now()
    let result: { busy: number; log: number; checkpointed: number } | undefined
    try {
      result = (this.#db.pragma(`wal_checkpoint(${mode})`) as Array<typeof result>)[0]
    } catch (cause) {
      throw storageError(cause, `wal_checkpoint(${mode})`)
    }
    const tookMs = performance.now() - started
    this.#bytesSinceCheckpoint = 0
    this.#stats.checkpoints++
    this.#stats.maxCheckpointMs = Math.max(this.#stats.maxCheckpointMs, tookMs)
    this.#logger.debug({ mode, ...result, tookMs }, 'checkpoint')
  }

  walBytes(): number {
    try {
      return statSync(this.#walFile).size
    } catch {
      return 0
    }
  }

  stats(): { checkpoints: number; maxCheckpointMs: number } {
    return { ...this.#stats }
  }

  stop(): void {
    this.#stopped = true
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer)
  }

  #arm(): void {
    this.#timer = this.#clock.setTimeout(() => {
      if (this.#stopped) return
      if (this.walBytes() > this.#policy.truncateAboveBytes) this.#runLogged('TRUNCATE')
      else if (this.#bytesSinceCheckpoint > 0) this.#runLogged('PASSIVE')
      this.#arm()
    }, this.#policy.intervalMs)
  }

  #runLogged(mode: 'PASSIVE' | 'TRUNCATE'): void {
    try {
      this.checkpoint(mode)
    } catch (err) {
      // The decision point for background checkpoints: the next interval tries again.
      this.#logger.warn({ err, mode }, 'checkpoint failed; will retry')
    }
  }
}
