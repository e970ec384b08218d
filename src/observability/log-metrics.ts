import { performance } from 'node:perf_hooks'
import { commitRecordBuckets, Histogram, latencyBucketsSec } from './histogram.ts'

/**
 * The log store's group-commit numbers. The store calls in twice per commit, never per record:
 * appends that share a group commit arrive within one event-loop turn, so the first of them
 * stands for all (each append's latency is at most the one observed).
 */
export class LogMetrics {
  /** From an append being accepted to the commit that holds it having returned (what an ack waits for). */
  readonly appendLatency = new Histogram(latencyBucketsSec)
  /** The commit transaction itself, fsync included. */
  readonly commitDuration = new Histogram(latencyBucketsSec)
  /** Records per group commit. */
  readonly commitRecords = new Histogram(commitRecordBuckets)
  readonly #nowMs: () => number
  #firstStagedMs = 0

  /** `nowMs`: a monotonic clock in milliseconds (tests inject one). */
  constructor(nowMs: () => number = () => performance.now()) {
    this.#nowMs = nowMs
  }

  /** The first append of the next group commit was accepted. */
  batchStarted(): void {
    this.#firstStagedMs = this.#nowMs()
  }

  /** Call just before the commit transaction; hand the result to committed(). */
  commitStarting(): number {
    return this.#nowMs()
  }

  committed(startedMs: number, appends: number, records: number): void {
    const endMs = this.#nowMs()
    this.commitDuration.observe((endMs - startedMs) / 1000)
    if (appends === 0) return
    this.appendLatency.observeMany((endMs - this.#firstStagedMs) / 1000, appends)
    this.commitRecords.observe(records)
  }
}
