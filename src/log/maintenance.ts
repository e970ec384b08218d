import { performance } from 'node:perf_hooks'
import type { Logger } from 'pino'
import { BrokerError, type ErrorCode } from '../errors.ts'
import type { Clock, TimerHandle } from '../util/clock.ts'
import type { SqliteDatabase } from './open-database.ts'
import type { PartitionLog } from './partition-log.ts'
import { storageError } from './storage-error.ts'
import type { StoreStats } from './types.ts'

export interface MaintenancePolicy {
  /** How often a background pass (retention, budget, compaction, vacuum) starts. */
  intervalMs: number
  /** Records deleted or examined per transaction: bounds how long one step holds the writer. */
  stepRecords: number
  /** Work per event-loop turn before yielding to appends and reads. */
  sliceMs: number
  /** Free pages are returned to the file system once they exceed this share of the file... */
  vacuumFreeFraction: number
  /** ...and this many bytes. */
  vacuumMinFreeBytes: number
  vacuumStepPages: number
}

const defaultPolicy: MaintenancePolicy = {
  intervalMs: 5_000,
  stepRecords: 2_000,
  sliceMs: 4,
  vacuumFreeFraction: 0.25,
  vacuumMinFreeBytes: 8 * 1024 * 1024,
  vacuumStepPages: 256,
}

export interface MaintenanceDeps {
  db: SqliteDatabase
  clock: Clock
  logger: Logger
  partitions: () => PartitionLog[]
  holdFor: (p: PartitionLog) => number
  maxDiskBytes: number | null
  usedBytes: () => number
  policy: Partial<MaintenancePolicy> | undefined
}

/**
 * Retention (age, bytes), the global disk budget, compaction and incremental vacuum, done in small
 * steps that each hold the writer for at most `stepRecords` rows and yield to the event loop every
 * `sliceMs`, so appends are never stalled for long. Nothing at or above a partition's retention
 * hold is ever deleted.
 */
export class Maintenance {
  readonly #deps: MaintenanceDeps
  readonly #policy: MaintenancePolicy
  #timer: TimerHandle | undefined
  #running: Promise<void> | undefined
  #stopped = false
  #sliceStart = 0
  /** Over the disk budget with nothing left that retention may delete: appends are refused. */
  #budgetExhausted = false
  #bytesSinceBudgetCheck = 0
  #lastCompactionMs = new WeakMap<PartitionLog, number>()
  #counters = {
    retentionDeletedRecords: 0,
    compactionDeletedRecords: 0,
    budgetDeletedRecords: 0,
    retentionDeletedBytes: 0,
  }

  constructor(deps: MaintenanceDeps) {
    this.#deps = deps
    this.#policy = { ...defaultPolicy, ...deps.policy }
    this.#schedule(this.#policy.intervalMs)
  }

  assertCanAppend(): void {
    if (!this.#budgetExhausted) return
    throw new BrokerError(
      'CAIRN_STORAGE_FULL',
      `disk budget of ${this.#deps.maxDiskBytes} bytes reached and the remaining records are held (not yet mirrored or consumed)`,
      { details: { maxDiskBytes: this.#deps.maxDiskBytes } },
    )
  }

  /** Near the disk budget, a pass starts as soon as 1 % of it was written, not at the next interval. */
  noteCommit(bytes: number): void {
    const { maxDiskBytes } = this.#deps
    if (maxDiskBytes === null) return
    this.#bytesSinceBudgetCheck += bytes
    if (this.#bytesSinceBudgetCheck < maxDiskBytes / 100) return
    this.#bytesSinceBudgetCheck = 0
    if (this.#running === undefined && this.#deps.usedBytes() > maxDiskBytes) this.#schedule(0)
  }

  /** Intake refused for the budget may reopen as soon as a hold moves: check now, not at the next interval. */
  holdReleased(): void {
    if (this.#budgetExhausted && this.#running === undefined) this.#schedule(0)
  }

  noteAppendFailure(error: BrokerError): void {
    // A full disk may be relieved by retention: run a pass now rather than at the next interval.
    if (error.code === ('CAIRN_STORAGE_FULL' satisfies ErrorCode)) this.#schedule(0)
  }

  counters(): Pick<StoreStats, 'retentionDeletedRecords' | 'retentionDeletedBytes' | 'compactionDeletedRecords'> {
    return {
      retentionDeletedRecords: this.#counters.retentionDeletedRecords + this.#counters.budgetDeletedRecords,
      retentionDeletedBytes: this.#counters.retentionDeletedBytes,
      compactionDeletedRecords: this.#counters.compactionDeletedRecords,
    }
  }

  async runToCompletion(): Promise<void> {
    if (this.#running !== undefined) await this.#running
    await this.#startPass()
  }

  stop(): void {
    this.#stopped = true
    if (this.#timer !== undefined) this.#deps.clock.clearTimeout(this.#timer)
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return
    if (this.#timer !== undefined) this.#deps.clock.clearTimeout(this.#timer)
    this.#timer = this.#deps.clock.setTimeout(() => {
      this.#timer = undefined
      this.#startPass().then(
        () => this.#schedule(this.#policy.intervalMs),
        (err: unknown) => {
          // Logged here because this is the boundary that decides: retry at the next interval.
          this.#deps.logger.error({ err }, 'log maintenance pass failed; retrying at the next interval')
          this.#schedule(this.#policy.intervalMs)
        },
      )
    }, delayMs)
  }

  #startPass(): Promise<void> {
    this.#running ??= this.#pass().finally(() => (this.#running = undefined))
    return this.#running
  }

  async #pass(): Promise<void> {
    this.#sliceStart = performance.now()
    for (const p of this.#deps.partitions()) {
      while (!this.#stopped && !p.dropped && this.#retentionStep(p)) await this.#yieldIfSliceUsed()
    }
    await this.#enforceBudget()
    for (const p of this.#deps.partitions()) {
      if (!p.dropped && p.config.cleanupPolicy === 'compact' && this.#compactionDue(p)) await this.#compact(p)
    }
    while (!this.#stopped && this.#vacuumStep()) await this.#yieldIfSliceUsed()
  }

  async #yieldIfSliceUsed(): Promise<void> {
    if (performance.now() - this.#sliceStart < this.#policy.sliceMs) return
    await new Promise<void>((resolve) => setImmediate(resolve))
    this.#sliceStart = performance.now()
  }

  /** Deletes one step of the prefix that age and byte retention allow; true if more remains. */
  #retentionStep(p: PartitionLog): boolean {
    const { retentionMs, retentionBytes } = p.config
    let target = p.logStartOffset
    if (retentionMs !== null) target = Math.max(target, p.expiredBoundary(this.#deps.clock.now() - retentionMs))
    if (retentionBytes !== null) target = Math.max(target, p.bytesBoundary(retentionBytes))
    target = Math.min(target, this.#deps.holdFor(p), p.logEndOffset)
    if (target <= p.logStartOffset) return false
    const end = Math.min(target, p.logStartOffset + this.#policy.stepRecords)
    this.#counters.retentionDeletedRecords += this.#deletePrefix(p, end, 'retention')
    return end < target
  }

  async #enforceBudget(): Promise<void> {
    const { maxDiskBytes } = this.#deps
    if (maxDiskBytes === null) return
    while (!this.#stopped && this.#deps.usedBytes() > maxDiskBytes) {
      const victim = this.#oldestDeletable()
      if (victim === undefined) {
        if (!this.#budgetExhausted)
          this.#deps.logger.warn({ maxDiskBytes }, 'disk budget reached and all data is held; refusing appends')
        this.#budgetExhausted = true
        return
      }
      const end = Math.min(
        this.#deps.holdFor(victim),
        victim.logEndOffset,
        victim.logStartOffset + this.#policy.stepRecords,
      )
      this.#counters.budgetDeletedRecords += this.#deletePrefix(victim, end, 'disk budget')
      await this.#yieldIfSliceUsed()
    }
    if (this.#budgetExhausted) this.#deps.logger.info({ maxDiskBytes }, 'back under the disk budget; accepting appends')
    this.#budgetExhausted = false
  }

  /** The partition whose oldest deletable record is the oldest: the budget evicts in global age order. */
  #oldestDeletable(): PartitionLog | undefined {
    let victim: PartitionLog | undefined
    let oldest = Infinity
    for (const p of this.#deps.partitions()) {
      if (p.recordCount === 0 || this.#deps.holdFor(p) <= p.logStartOffset) continue
      const ts = p.firstTimestamp() ?? Infinity
      if (ts < oldest || victim === undefined) {
        oldest = ts
        victim = p
      }
    }
    return victim
  }

  #deletePrefix(p: PartitionLog, end: number, reason: string): number {
    const bytesBefore = p.liveBytes
    const deleted = this.#inTransaction(`${reason} on ${p.table}`, () => {
      const n = p.deletePrefix(end)
      p.saveState()
      return n
    })
    this.#counters.retentionDeletedBytes += bytesBefore - p.liveBytes
    this.#deps.logger.debug({ table: p.table, logStartOffset: end, deleted, reason }, 'deleted log prefix')
    return deleted
  }

  #compactionDue(p: PartitionLog): boolean {
    const last = this.#lastCompactionMs.get(p)
    return p.compactionDirty || last === undefined || this.#deps.clock.now() - last >= p.config.deleteRetentionMs
  }

  async #compact(p: PartitionLog): Promise<void> {
    p.compactionDirty = false
    const now = this.#deps.clock.now()
    this.#lastCompactionMs.set(p, now)
    const tombstoneCutoff = now - p.config.deleteRetentionMs
    let from = p.logStartOffset
    while (!this.#stopped && !p.dropped) {
      const to = Math.min(from + this.#policy.stepRecords, this.#deps.holdFor(p), p.logEndOffset)
      if (to <= from) break
      const deleted = this.#inTransaction(`compaction of ${p.table}`, () => {
        const n = p.compactWindow(from, to, tombstoneCutoff)
        p.saveState()
        return n
      })
      this.#counters.compactionDeletedRecords += deleted
      from = to
      await this.#yieldIfSliceUsed()
    }
  }

  #vacuumStep(): boolean {
    const { db } = this.#deps
    const pageSize = db.pragma('page_size', { simple: true }) as number
    const pages = db.pragma('page_count', { simple: true }) as number
    const free = db.pragma('freelist_count', { simple: true }) as number
    const freeBytes = free * pageSize
    if (free === 0 || freeBytes < this.#policy.vacuumMinFreeBytes || free < pages * this.#policy.vacuumFreeFraction)
      return false
    try {
      db.pragma(`incremental_vacuum(${this.#policy.vacuumStepPages})`)
    } catch (cause) {
      throw storageError(cause, 'incremental vacuum')
    }
    // No progress (e.g. a file whose auto_vacuum is not INCREMENTAL) must end the loop, not spin it.
    return (db.pragma('freelist_count', { simple: true }) as number) < free
  }

  #inTransaction<T>(operation: string, fn: () => T): T {
    try {
      return this.#deps.db.transaction(fn)()
    } catch (cause) {
      throw storageError(cause, operation)
    }
  }
}
