import type Database from 'better-sqlite3'
import { BrokerError } from '../errors.ts'
import type { SqliteDatabase } from '../log/open-database.ts'

/*
 * The exact offset map of one mirrored partition (one link, one map epoch), mirror.md B3/B9.
 *
 * It is a sorted list of runs (localStart, upstreamStart, length): local offset localStart+i was
 * appended upstream at upstreamStart+i, for 0 <= i < length. The mirror learns every run from a
 * Produce response (base offset + record count) and stores it in the same SQLite transaction that
 * advances its cursor, so the map is exact, never sampled like MM2's OffsetSyncs. A batch that
 * continues both sequences extends the last run in place: an exclusive, gap-free partition keeps
 * one run per map epoch. Local holes (compaction, evictions, skipped poison) and, in shared upstream
 * partitions, other gateways' records between ours start new runs. Both sequences only grow,
 * because per-partition order is preserved end to end (B5.6).
 *
 * Two different questions, which must not be conflated (MM2's "+1" rule comes from conflating them):
 *
 * - Record translation, toUpstream()/toLocal(): "where is THIS record on the other side?" The answer
 *   is exact or undefined (not mirrored yet, a gap, or upstream: not one of ours).
 *
 * - Position translation, positionToUpstream()/positionToLocal(): a consumer position is the next
 *   offset to consume (Kafka semantics), which may name no record at all (a hole, a gap, the log
 *   end). The translated position must make the other side's consumer read exactly the mirrored
 *   records the first one had not read yet: it never skips one of them and never re-reads one it
 *   had. So a position in a gap moves forward to the next mirrored record, and a position at or
 *   beyond the mirror frontier becomes the upstream frontier (lastUpstream + 1): the cloud consumer
 *   then waits there for the records not mirrored yet.
 */

export interface OffsetRun {
  readonly localStart: bigint
  readonly upstreamStart: bigint
  readonly length: bigint
}

/** The mirror cursor of the partition (table mirror_partition), as of the map's latest run. */
export interface MirrorFrontier {
  /** Every local offset below it is mirrored or a recorded gap. */
  readonly nextLocal: bigint
  /** Upstream offset of the last mirrored record; -1n if none. */
  readonly lastUpstream: bigint
}

export interface TranslatedPosition {
  readonly position: bigint
  /** The input lay beyond what the map knows, so the answer is the nearest frontier, not exact. */
  readonly clamped: boolean
}

/** One change add() made or a plan will make; OffsetMapWriter.persist() writes the same change. */
export interface AddResult {
  readonly kind: 'extended' | 'created'
  /** The run as it is after the change (for 'extended': the last run with its new length). */
  readonly run: OffsetRun
}

/** Changes computed by plan() and not yet applied: persist them (OffsetMapWriter.apply), then commit(). */
export interface OffsetMapPlan {
  readonly steps: readonly AddResult[]
  /** The last run the plan was computed against; commit() refuses a plan made stale by other adds. */
  readonly basis: OffsetRun | undefined
}

export class OffsetMap {
  // Sorted by localStart and, because both sequences only grow, by upstreamStart too. Runs are
  // frozen: handing one out never lets a caller change the map.
  readonly #runs: OffsetRun[] = []

  /**
   * Runs as stored: kept as given (not merged), so that this map and the table agree on which run
   * the next add() extends. Throws RangeError if they overlap or go backwards.
   */
  constructor(runs: Iterable<OffsetRun> = []) {
    for (const run of runs) {
      checkRun(run)
      this.#checkAfterLast(run)
      this.#runs.push(Object.freeze({ ...run }))
    }
  }

  get runs(): readonly OffsetRun[] {
    return this.#runs
  }

  get lastRun(): OffsetRun | undefined {
    return this.#runs.at(-1)
  }

  /**
   * Records that local offsets localStart.. were appended upstream at upstreamStart.. (one Produce
   * response). Extends the last run when both sequences continue it. Throws RangeError for a run
   * that overlaps or precedes the last one, or is empty.
   */
  add(localStart: bigint, upstreamStart: bigint, length: bigint): AddResult {
    return this.#apply(this.#step({ localStart, upstreamStart, length }))
  }

  /**
   * What adding `runs` (in order) would change, without changing the map. The mirror persists the
   * plan inside its SQLite transaction and commits it to the map only after the commit succeeded,
   * so a rolled-back transaction leaves the map equal to the table.
   */
  plan(runs: Iterable<OffsetRun>): OffsetMapPlan {
    const basis = this.lastRun
    const scratch = new OffsetMap(basis === undefined ? [] : [basis])
    const steps = [...runs].map((run) => scratch.#apply(scratch.#step(run)))
    return { steps, basis }
  }

  commit(plan: OffsetMapPlan): void {
    if (plan.basis !== this.lastRun) throw new RangeError('offset map plan is stale: the map changed since plan()')
    for (const step of plan.steps) this.#apply(step)
  }

  /** The upstream offset of local record `local`, or undefined if it has no upstream copy. */
  toUpstream(local: bigint): bigint | undefined {
    const run = this.#runs[lastAtOrBelow(this.#runs, local, localStartOf)]
    return run !== undefined && local < run.localStart + run.length
      ? run.upstreamStart + (local - run.localStart)
      : undefined
  }

  /** The local offset of upstream record `upstream`, or undefined if it is not one of ours. */
  toLocal(upstream: bigint): bigint | undefined {
    const run = this.#runs[lastAtOrBelow(this.#runs, upstream, upstreamStartOf)]
    return run !== undefined && upstream < run.upstreamStart + run.length
      ? run.localStart + (upstream - run.upstreamStart)
      : undefined
  }

  /** toUpstream() for APIs that answer "not mirrored" as an error. */
  requireUpstream(local: bigint): bigint {
    const upstream = this.toUpstream(local)
    if (upstream === undefined) throw notMirrored(`local offset ${local} has no upstream copy`, local)
    return upstream
  }

  /** toLocal() for APIs that answer "not ours" as an error. */
  requireLocal(upstream: bigint): bigint {
    const local = this.toLocal(upstream)
    if (local === undefined)
      throw notMirrored(`upstream offset ${upstream} is not a record of this partition`, upstream)
    return local
  }

  /**
   * A local consumer position → the upstream position that reads exactly the mirrored records at
   * local offsets >= localPos: the first mirrored record at or after localPos, or the upstream
   * frontier if there is none yet. clamped: localPos lies beyond the local mirror cursor.
   */
  positionToUpstream(localPos: bigint, frontier: MirrorFrontier): TranslatedPosition {
    if (localPos < 0n) throw new RangeError(`position ${localPos} is negative`)
    this.#checkFrontier(frontier)
    const upstreamFrontier = frontier.lastUpstream + 1n
    if (localPos >= frontier.nextLocal) {
      return { position: upstreamFrontier, clamped: localPos > frontier.nextLocal }
    }
    const i = lastAtOrBelow(this.#runs, localPos, localStartOf)
    const run = this.#runs[i]
    if (run !== undefined && localPos < run.localStart + run.length) {
      return { position: run.upstreamStart + (localPos - run.localStart), clamped: false }
    }
    // A gap (or below the first run): the next mirrored record, else everything so far was read.
    const next = this.#runs[i + 1]
    return { position: next === undefined ? upstreamFrontier : next.upstreamStart, clamped: false }
  }

  /**
   * An upstream consumer position → the local position of our first record at upstream offset >=
   * upstreamPos, or the local offset after the last mirrored record if there is none. Other
   * gateways' records (shared partitions) are skipped. clamped: upstreamPos lies beyond the
   * upstream end of the last run.
   */
  positionToLocal(upstreamPos: bigint): TranslatedPosition {
    if (upstreamPos < 0n) throw new RangeError(`position ${upstreamPos} is negative`)
    const i = lastAtOrBelow(this.#runs, upstreamPos, upstreamStartOf)
    const run = this.#runs[i]
    if (run !== undefined && upstreamPos < run.upstreamStart + run.length) {
      return { position: run.localStart + (upstreamPos - run.upstreamStart), clamped: false }
    }
    const next = this.#runs[i + 1]
    if (next !== undefined) return { position: next.localStart, clamped: false }
    const last = this.lastRun
    const localEnd = last === undefined ? 0n : last.localStart + last.length
    const upstreamEnd = last === undefined ? 0n : last.upstreamStart + last.length
    return { position: localEnd, clamped: upstreamPos > upstreamEnd }
  }

  #step(run: OffsetRun): AddResult {
    checkRun(run)
    this.#checkAfterLast(run)
    const last = this.lastRun
    if (last !== undefined && continues(last, run)) {
      return { kind: 'extended', run: Object.freeze({ ...last, length: last.length + run.length }) }
    }
    return { kind: 'created', run: Object.freeze({ ...run }) }
  }

  #apply(step: AddResult): AddResult {
    if (step.kind === 'extended') this.#runs[this.#runs.length - 1] = step.run
    else this.#runs.push(step.run)
    return step
  }

  #checkAfterLast(run: OffsetRun): void {
    const last = this.lastRun
    if (last === undefined) return
    if (run.localStart < last.localStart + last.length || run.upstreamStart < last.upstreamStart + last.length) {
      throw new RangeError(`offset run ${describe(run)} overlaps or precedes the last run ${describe(last)}`)
    }
  }

  // A frontier older than the map means the caller read the cursor before its latest confirm.
  #checkFrontier(frontier: MirrorFrontier): void {
    const last = this.lastRun
    if (last === undefined) return
    if (
      frontier.nextLocal < last.localStart + last.length ||
      frontier.lastUpstream < last.upstreamStart + last.length - 1n
    ) {
      throw new RangeError(
        `frontier (nextLocal ${frontier.nextLocal}, lastUpstream ${frontier.lastUpstream}) is behind the last run ${describe(last)}`,
      )
    }
  }
}

function continues(last: OffsetRun, run: OffsetRun): boolean {
  return run.localStart === last.localStart + last.length && run.upstreamStart === last.upstreamStart + last.length
}

function checkRun(run: OffsetRun): void {
  if (run.localStart < 0n || run.upstreamStart < 0n || run.length <= 0n) {
    throw new RangeError(`invalid offset run ${describe(run)}: offsets must be >= 0 and length > 0`)
  }
  if (run.localStart + run.length - 1n > maxInt64 || run.upstreamStart + run.length - 1n > maxInt64) {
    throw new RangeError(`invalid offset run ${describe(run)}: beyond int64`)
  }
}

const localStartOf = (run: OffsetRun): bigint => run.localStart
const upstreamStartOf = (run: OffsetRun): bigint => run.upstreamStart

/** Index of the last run whose start (by `key`) is <= x; -1 if none. */
function lastAtOrBelow(runs: readonly OffsetRun[], x: bigint, key: (run: OffsetRun) => bigint): number {
  let lo = 0
  let hi = runs.length // invariant: runs[< lo] start <= x, runs[>= hi] start > x
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (key(runs[mid] as OffsetRun) <= x) lo = mid + 1
    else hi = mid
  }
  return lo - 1
}

function describe(run: OffsetRun): string {
  return `(local ${run.localStart}, upstream ${run.upstreamStart}, length ${run.length})`
}

function notMirrored(message: string, offset: bigint): BrokerError {
  return new BrokerError('CAIRN_OFFSET_NOT_MIRRORED', message, { details: { offset } })
}

// ---- persistence (table mirror_offset_run, mirror.md B3) ----

const maxInt64 = (1n << 63n) - 1n

/** Which map a run belongs to. */
export interface OffsetMapKey {
  readonly linkId: string
  readonly stream: string
  readonly partition: number
  readonly mapEpoch: number
}

export function createOffsetMapTable(db: SqliteDatabase): void {
  // WITHOUT ROWID: rows are tiny and always looked up by their key. The upstream index is UNIQUE
  // because runs never overlap upstream either; a duplicate would be a bug, not data.
  db.exec(`
    CREATE TABLE IF NOT EXISTS mirror_offset_run (
      link_id        TEXT NOT NULL,
      stream         TEXT NOT NULL,
      partition      INTEGER NOT NULL,
      map_epoch      INTEGER NOT NULL,
      local_start    INTEGER NOT NULL,
      upstream_start INTEGER NOT NULL,
      len            INTEGER NOT NULL CHECK (len > 0),
      PRIMARY KEY (link_id, stream, partition, map_epoch, local_start)
    ) STRICT, WITHOUT ROWID;
    CREATE UNIQUE INDEX IF NOT EXISTS mirror_offset_run_upstream
      ON mirror_offset_run (link_id, stream, partition, map_epoch, upstream_start);
  `)
}

interface RunRow {
  local_start: bigint
  upstream_start: bigint
  len: bigint
}

/** Reads one map. Rows that break the map's invariants mean a damaged table: CAIRN_STORAGE_CORRUPT. */
export function loadOffsetMap(
  db: SqliteDatabase,
  linkId: string,
  stream: string,
  partition: number,
  mapEpoch: number,
): OffsetMap {
  const key: OffsetMapKey = { linkId, stream, partition, mapEpoch }
  checkKey(key)
  const rows = db
    .prepare(
      `SELECT local_start, upstream_start, len FROM mirror_offset_run
       WHERE link_id = ? AND stream = ? AND partition = ? AND map_epoch = ? ORDER BY local_start`,
    )
    .safeIntegers(true) // offsets are int64: never let them round through a double
    .all(linkId, stream, partition, mapEpoch) as RunRow[]
  try {
    return new OffsetMap(
      rows.map((r) => ({ localStart: r.local_start, upstreamStart: r.upstream_start, length: r.len })),
    )
  } catch (cause) {
    throw new BrokerError(
      'CAIRN_STORAGE_CORRUPT',
      `offset map of link ${linkId} ${stream}/${partition} epoch ${mapEpoch} is inconsistent`,
      { cause, details: { ...key } },
    )
  }
}

/**
 * Writes runs inside the mirror's SQLite transactions (LogStore.enqueueWrite / appendAtomic work):
 * synchronous, prepared once. Runs come from OffsetMap.add()/plan(), which validated them.
 */
export class OffsetMapWriter {
  readonly #insert: Database.Statement
  readonly #extend: Database.Statement

  constructor(db: SqliteDatabase) {
    this.#insert = db.prepare(
      `INSERT INTO mirror_offset_run (link_id, stream, partition, map_epoch, local_start, upstream_start, len)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    )
    this.#extend = db.prepare(
      `UPDATE mirror_offset_run SET len = ?
       WHERE link_id = ? AND stream = ? AND partition = ? AND map_epoch = ? AND local_start = ?`,
    )
  }

  insertRun(key: OffsetMapKey, run: OffsetRun): void {
    checkKey(key)
    checkRun(run)
    this.#insert.run(key.linkId, key.stream, key.partition, key.mapEpoch, run.localStart, run.upstreamStart, run.length)
  }

  /** Sets the length of the run starting at `localStart` (the map's last run). */
  extendRun(key: OffsetMapKey, localStart: bigint, length: bigint): void {
    checkKey(key)
    if (length <= 0n || length > maxInt64) throw new RangeError(`invalid run length ${length}`)
    const { changes } = this.#extend.run(length, key.linkId, key.stream, key.partition, key.mapEpoch, localStart)
    if (changes !== 1) {
      // The in-memory map and the table disagree: extending would corrupt the map.
      throw new BrokerError('CAIRN_INTERNAL', `no offset run at local ${localStart} to extend`, {
        details: { ...key, localStart },
      })
    }
  }

  /** Persists one change that OffsetMap.add() made. */
  persist(key: OffsetMapKey, change: AddResult): void {
    if (change.kind === 'extended') this.extendRun(key, change.run.localStart, change.run.length)
    else this.insertRun(key, change.run)
  }

  /** Persists the changes of OffsetMap.plan(), in order. */
  apply(key: OffsetMapKey, plan: OffsetMapPlan): void {
    for (const step of plan.steps) this.persist(key, step)
  }
}

// Numbers bound to SQLite must be exact integers; a fraction or a NaN would be stored as REAL or
// refused by STRICT far from the mistake.
function checkKey(key: OffsetMapKey): void {
  for (const [name, value] of [
    ['partition', key.partition],
    ['mapEpoch', key.mapEpoch],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} ${value} is not an integer >= 0`)
  }
}
