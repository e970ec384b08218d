import type Database from 'better-sqlite3'
import type { Logger } from 'pino'
import { BrokerError } from '../errors.ts'
import type { LogStore } from '../log/log-store.ts'
import type { SqliteDatabase } from '../log/open-database.ts'
import type { AppendResult } from '../log/types.ts'
import type { Clock, TimerHandle } from '../util/clock.ts'

// Idempotent producers (Kafka's model): a producer id + epoch from initProducer, and per partition
// a sequence number on every batch. The broker accepts the next expected sequence, answers a retry
// of a recent batch with that batch's original offsets, and refuses a gap. The last batch per
// partition is persisted in the same commit as its records, so a retry is recognised across a
// broker restart too; the last few are also kept in memory for pipelined retries.

/** Kafka keeps the last five batches per partition (max.in.flight.requests = 5). */
const recentBatchesKept = 5
/** Sequences wrap like Kafka's (int32). */
const sequenceModulus = 2 ** 31

export interface ProducerOptions {
  /** A producer id unused this long is forgotten (its retries are then refused). Default 7 days. */
  producerExpiryMs: number
}

export const defaultProducerOptions: ProducerOptions = { producerExpiryMs: 7 * 24 * 3_600_000 }

export interface RecentBatch {
  firstSeq: number
  lastSeq: number
  /** The partition's last sequence before this batch, restored if its append fails. */
  previousLastSeq: number
  /** Set once committed; until then retries wait in `waiters`. */
  result?: AppendResult
  waiters: Array<(error: BrokerError | null, result?: AppendResult) => void>
}

interface SequenceState {
  epoch: number
  lastSeq: number
  recent: RecentBatch[]
}

export interface Producer {
  readonly id: number
  readonly transactionalId: string | null
  epoch: number
  transactionTimeoutMs: number
  readonly sequences: Map<string, SequenceState>
  lastUsedMs: number
}

export type SequenceDecision = { kind: 'append'; batch: RecentBatch } | { kind: 'duplicate'; batch: RecentBatch }

function partitionKey(stream: string, partition: number): string {
  return `${stream}\u0000${partition}`
}

export class ProducerRegistry {
  readonly #store: LogStore
  readonly #clock: Clock
  readonly #logger: Logger
  readonly #options: ProducerOptions
  readonly #producers = new Map<number, Producer>()
  readonly #byTransactionalId = new Map<string, Producer>()
  readonly #saveProducer: Database.Statement
  readonly #saveSequence: Database.Statement
  readonly #deleteProducer: Database.Statement[]
  #nextId = 1
  #expiryTimer: TimerHandle | undefined

  constructor(store: LogStore, clock: Clock, logger: Logger, options: Partial<ProducerOptions> = {}) {
    this.#store = store
    this.#clock = clock
    this.#logger = logger
    this.#options = { ...defaultProducerOptions, ...options }
    const db = store.database
    createTables(db)
    this.#saveProducer = db.prepare(
      `INSERT INTO native_producer (producer_id, transactional_id, epoch, txn_timeout_ms, used_ms)
       VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (producer_id) DO UPDATE SET epoch = excluded.epoch,
         txn_timeout_ms = excluded.txn_timeout_ms, used_ms = excluded.used_ms`,
    )
    this.#saveSequence = db.prepare(
      `INSERT OR REPLACE INTO native_producer_sequence
       (producer_id, stream, partition, epoch, first_seq, last_seq, base_offset, timestamp, used_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    this.#deleteProducer = [
      db.prepare('DELETE FROM native_producer_sequence WHERE producer_id = ?'),
      db.prepare('DELETE FROM native_producer WHERE producer_id = ?'),
    ]
    this.#load(db)
    this.#scheduleExpiry()
  }

  #load(db: SqliteDatabase): void {
    const producers = db
      .prepare('SELECT producer_id, transactional_id, epoch, txn_timeout_ms, used_ms FROM native_producer')
      .all() as Array<{
      producer_id: number
      transactional_id: string | null
      epoch: number
      txn_timeout_ms: number
      used_ms: number
    }>
    for (const row of producers) {
      const producer: Producer = {
        id: row.producer_id,
        transactionalId: row.transactional_id,
        epoch: row.epoch,
        transactionTimeoutMs: row.txn_timeout_ms,
        sequences: new Map(),
        lastUsedMs: row.used_ms,
      }
      this.#producers.set(producer.id, producer)
      if (producer.transactionalId !== null) this.#byTransactionalId.set(producer.transactionalId, producer)
      this.#nextId = Math.max(this.#nextId, producer.id + 1)
    }
    const sequences = db.prepare('SELECT * FROM native_producer_sequence').all() as Array<{
      producer_id: number
      stream: string
      partition: number
      epoch: number
      first_seq: number
      last_seq: number
      base_offset: number
      timestamp: number
      used_ms: number
    }>
    for (const row of sequences) {
      const producer = this.#producers.get(row.producer_id)
      if (producer === undefined) continue
      const count = (row.last_seq - row.first_seq + sequenceModulus) % sequenceModulus
      producer.sequences.set(partitionKey(row.stream, row.partition), {
        epoch: row.epoch,
        lastSeq: row.last_seq,
        recent: [
          {
            firstSeq: row.first_seq,
            lastSeq: row.last_seq,
            previousLastSeq: -1,
            result: {
              baseOffset: BigInt(row.base_offset),
              lastOffset: BigInt(row.base_offset + count),
              timestamp: row.timestamp,
            },
            waiters: [],
          },
        ],
      })
      producer.lastUsedMs = Math.max(producer.lastUsedMs, row.used_ms)
    }
  }

  /**
   * A new producer id, or for a transactional id the same id with the epoch bumped (which fences
   * the previous instance). Resolves after the new state is committed.
   */
  init(transactionalId: string | undefined, transactionTimeoutMs: number): Promise<Producer> {
    const now = this.#clock.now()
    let producer = transactionalId === undefined ? undefined : this.#byTransactionalId.get(transactionalId)
    if (producer === undefined) {
      producer = {
        id: this.#nextId++,
        transactionalId: transactionalId ?? null,
        epoch: 0,
        transactionTimeoutMs,
        sequences: new Map(),
        lastUsedMs: now,
      }
      this.#producers.set(producer.id, producer)
      if (transactionalId !== undefined) this.#byTransactionalId.set(transactionalId, producer)
    } else {
      producer.epoch++
      producer.transactionTimeoutMs = transactionTimeoutMs
      producer.lastUsedMs = now
    }
    return this.persist(producer)
  }

  /** Commits the producer's id, epoch and timeout; resolves with it. */
  persist(producer: Producer): Promise<Producer> {
    const { id, transactionalId, epoch, transactionTimeoutMs, lastUsedMs } = producer
    return new Promise((resolve, reject) => {
      this.#store.enqueueWrite(
        () => this.#saveProducer.run(id, transactionalId, epoch, transactionTimeoutMs, lastUsedMs),
        'fsync',
        (error) => (error === null ? resolve(producer) : reject(error)),
      )
    })
  }

  /** The producer for a request: unknown ids and other epochs are refused. */
  get(producerId: number, epoch: number): Producer {
    const producer = this.#producers.get(producerId)
    if (producer === undefined) {
      throw new BrokerError('CAIRN_PRODUCER_UNKNOWN', `producer ${producerId} is not known (expired or never issued)`, {
        details: { producerId },
      })
    }
    if (epoch < producer.epoch) {
      throw new BrokerError(
        'CAIRN_PRODUCER_FENCED',
        `producer ${producerId} epoch ${epoch} is fenced by epoch ${producer.epoch} (a newer instance took over)`,
        { details: { producerId, epoch, currentEpoch: producer.epoch } },
      )
    }
    if (epoch > producer.epoch) {
      throw new BrokerError('CAIRN_PRODUCER_UNKNOWN', `producer ${producerId} has no epoch ${epoch}`, {
        details: { producerId, epoch },
      })
    }
    producer.lastUsedMs = this.#clock.now()
    return producer
  }

  /**
   * Checks an idempotent batch's sequence numbers against what this partition has seen:
   * the next expected batch is to be appended (its state is reserved now, so a pipelined
   * batch behind it is judged against it), a recent batch's retry is a duplicate, anything else
   * is refused.
   */
  checkSequence(
    producer: Producer,
    stream: string,
    partition: number,
    firstSeq: number,
    count: number,
  ): SequenceDecision {
    if (firstSeq >= sequenceModulus) {
      throw new BrokerError('CAIRN_REQUEST_INVALID', `firstSequence must be below 2^31 (got ${firstSeq})`)
    }
    const key = partitionKey(stream, partition)
    let state = producer.sequences.get(key)
    if (state === undefined || state.epoch !== producer.epoch) {
      state = { epoch: producer.epoch, lastSeq: -1, recent: [] }
      producer.sequences.set(key, state)
    }
    const lastSeq = (firstSeq + count - 1) % sequenceModulus
    const retry = state.recent.find((b) => b.firstSeq === firstSeq && b.lastSeq === lastSeq)
    if (retry !== undefined) return { kind: 'duplicate', batch: retry }
    const expected = (state.lastSeq + 1) % sequenceModulus
    if (firstSeq !== expected) {
      throw new BrokerError(
        'CAIRN_SEQUENCE_OUT_OF_ORDER',
        `${stream}/${partition}: producer ${producer.id} sent sequence ${firstSeq}, expected ${expected}` +
          (state.recent.length > 0 && sequenceBefore(firstSeq, expected) ? ' (an old batch no longer kept)' : ''),
        { details: { stream, partition, producerId: producer.id, firstSequence: firstSeq, expected } },
      )
    }
    const batch: RecentBatch = { firstSeq, lastSeq, previousLastSeq: state.lastSeq, waiters: [] }
    state.lastSeq = lastSeq
    state.recent.push(batch)
    if (state.recent.length > recentBatchesKept) state.recent.shift()
    return { kind: 'append', batch }
  }

  /** Inside the append's commit: persist the batch as this partition's last. */
  recordSequence(
    producer: Producer,
    stream: string,
    partition: number,
    batch: RecentBatch,
    result: AppendResult,
  ): void {
    this.#saveSequence.run(
      producer.id,
      stream,
      partition,
      producer.epoch,
      batch.firstSeq,
      batch.lastSeq,
      result.baseOffset,
      result.timestamp,
      this.#clock.now(),
    )
  }

  /** After the commit: answers the retries that waited for it. */
  completed(batch: RecentBatch, error: BrokerError | null, result?: AppendResult): void {
    if (error === null && result !== undefined) batch.result = result
    const waiters = batch.waiters
    batch.waiters = []
    for (const waiter of waiters) waiter(error, result)
  }

  /** The append failed: forget the reservation so the producer's retry with the same sequence is accepted. */
  rollBack(producer: Producer, stream: string, partition: number, batch: RecentBatch): void {
    const state = producer.sequences.get(partitionKey(stream, partition))
    if (state === undefined) return
    const at = state.recent.indexOf(batch)
    if (at < 0) return
    // Later reservations were made on top of this one; their commits failed with it.
    state.recent.splice(at)
    state.lastSeq = batch.previousLastSeq
  }

  #scheduleExpiry(): void {
    const everyMs = Math.min(3_600_000, this.#options.producerExpiryMs)
    this.#expiryTimer = this.#clock.setTimeout(() => {
      this.expireIdle()
      this.#scheduleExpiry()
    }, everyMs)
  }

  /**
   * Forgets producers unused for producerExpiryMs. A producer with an open transaction is never
   * among them: a transaction times out long before (at most 15 minutes).
   */
  expireIdle(): void {
    const cutoff = this.#clock.now() - this.#options.producerExpiryMs
    const expired = [...this.#producers.values()].filter((p) => p.lastUsedMs < cutoff)
    if (expired.length === 0) return
    for (const p of expired) {
      this.#producers.delete(p.id)
      if (p.transactionalId !== null) this.#byTransactionalId.delete(p.transactionalId)
    }
    this.#store.enqueueWrite(
      () => {
        for (const p of expired) for (const statement of this.#deleteProducer) statement.run(p.id)
      },
      'os',
      (error) => {
        if (error !== null) this.#logger.warn({ err: error }, 'could not delete expired producers; retried later')
      },
    )
    this.#logger.info({ producers: expired.length }, 'expired idle producer ids')
  }

  close(): void {
    if (this.#expiryTimer !== undefined) this.#clock.clearTimeout(this.#expiryTimer)
  }
}

/** True when sequence `a` comes before `b` within half the wrap-around space. */
function sequenceBefore(a: number, b: number): boolean {
  return (b - a + sequenceModulus) % sequenceModulus < sequenceModulus / 2
}

function createTables(db: SqliteDatabase): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS native_producer (
      producer_id      INTEGER PRIMARY KEY,
      transactional_id TEXT UNIQUE,
      epoch            INTEGER NOT NULL,
      txn_timeout_ms   INTEGER NOT NULL,
      used_ms          INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE IF NOT EXISTS native_producer_sequence (
      producer_id INTEGER NOT NULL, stream TEXT NOT NULL, partition INTEGER NOT NULL,
      epoch INTEGER NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,
      base_offset INTEGER NOT NULL, timestamp INTEGER NOT NULL, used_ms INTEGER NOT NULL,
      PRIMARY KEY (producer_id, stream, partition)
    ) STRICT, WITHOUT ROWID;
  `)
}
