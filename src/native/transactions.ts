import type { Logger } from 'pino'
import { BrokerError } from '../errors.ts'
import type { AtomicPart, LogStore } from '../log/log-store.ts'
import type { AppendResult, RecordInput } from '../log/types.ts'
import type { Clock, TimerHandle } from '../util/clock.ts'
import type { Producer, ProducerRegistry } from './producers.ts'

// Transactions (exactly-once read-process-write). An open transaction's records and offset
// commits are held here, not in the log: at commit they are appended, and the group offsets
// written, in one SQLite transaction, so a consumer can never read a record of an open or aborted
// transaction (there is no read_uncommitted to choose). Offsets are assigned at commit. The cost:
// an open transaction is held in memory (bounded by maxTransactionBytes), and a broker restart
// aborts it — the producer's commit then fails and it retries the whole transaction.

export interface CommitOffset {
  stream: string
  partition: number
  offset: bigint
  metadata?: string
}

/** What the transaction needs from the group coordinator (src/groups). */
export interface GroupOffsetWriter {
  checkCommit(
    group: string,
    memberId: string | undefined,
    memberEpoch: number | undefined,
    offsets: readonly CommitOffset[],
  ): void
  writeOffsets(group: string, offsets: readonly CommitOffset[]): void
}

export interface TransactionOptions {
  /** Records buffered by one open transaction (keys + values + headers). Default 16 MiB. */
  maxTransactionBytes: number
  defaultTransactionTimeoutMs: number
  maxTransactionTimeoutMs: number
}

export const defaultTransactionOptions: TransactionOptions = {
  maxTransactionBytes: 16 * 1024 * 1024,
  defaultTransactionTimeoutMs: 60_000,
  maxTransactionTimeoutMs: 15 * 60_000,
}

interface PendingPart {
  stream: string
  partition: number
  records: RecordInput[]
  /** Sequence ranges added, so a retried produce inside the transaction is not added twice. */
  sequences: Array<[number, number]>
}

interface PendingOffsets {
  group: string
  memberId: string | undefined
  memberEpoch: number | undefined
  offsets: CommitOffset[]
}

interface OpenTransaction {
  producer: Producer
  epoch: number
  parts: Map<string, PendingPart>
  offsets: PendingOffsets[]
  bytes: number
  timer: TimerHandle
  committing: boolean
}

export interface CommittedPart extends AppendResult {
  stream: string
  partition: number
}

export class TransactionManager {
  readonly #store: LogStore
  readonly #producers: ProducerRegistry
  readonly #groups: GroupOffsetWriter
  readonly #clock: Clock
  readonly #logger: Logger
  readonly #options: TransactionOptions
  readonly #open = new Map<Producer, OpenTransaction>()

  constructor(
    store: LogStore,
    producers: ProducerRegistry,
    groups: GroupOffsetWriter,
    clock: Clock,
    logger: Logger,
    options: Partial<TransactionOptions> = {},
  ) {
    this.#store = store
    this.#producers = producers
    this.#groups = groups
    this.#clock = clock
    this.#logger = logger
    this.#options = { ...defaultTransactionOptions, ...options }
  }

  /** The timeout a producer asked for, checked against the broker's bound. */
  timeoutFor(requestedMs: number | undefined): number {
    const timeoutMs = requestedMs ?? this.#options.defaultTransactionTimeoutMs
    if (timeoutMs < 1 || timeoutMs > this.#options.maxTransactionTimeoutMs) {
      throw new BrokerError(
        'CAIRN_REQUEST_INVALID',
        `transactionTimeoutMs must be in 1..${this.#options.maxTransactionTimeoutMs} (got ${timeoutMs})`,
      )
    }
    return timeoutMs
  }

  begin(producer: Producer): void {
    if (producer.transactionalId === null) {
      throw new BrokerError('CAIRN_TRANSACTION_INVALID', `producer ${producer.id} has no transactionalId`)
    }
    if (this.#open.has(producer)) {
      throw new BrokerError('CAIRN_TRANSACTION_INVALID', `producer ${producer.id} already has an open transaction`)
    }
    const timer = this.#clock.setTimeout(() => this.#timedOut(producer), producer.transactionTimeoutMs)
    this.#open.set(producer, {
      producer,
      epoch: producer.epoch,
      parts: new Map(),
      offsets: [],
      bytes: 0,
      timer,
      committing: false,
    })
  }

  /** Buffers records for commit. Returns false when they are a retry of records already added. */
  addRecords(
    producer: Producer,
    stream: string,
    partition: number,
    records: readonly RecordInput[],
    firstSeq: number | undefined,
  ): boolean {
    const txn = this.#current(producer)
    const partitions = this.#store.partitionCount(stream)
    if (partition >= partitions) {
      throw new BrokerError('CAIRN_PARTITION_NOT_FOUND', `stream "${stream}" has no partition ${partition}`, {
        details: { stream, partition },
      })
    }
    const key = `${stream}\u0000${partition}`
    let part = txn.parts.get(key)
    if (part === undefined) txn.parts.set(key, (part = { stream, partition, records: [], sequences: [] }))
    if (firstSeq !== undefined) {
      const lastSeq = firstSeq + records.length - 1
      if (part.sequences.some(([a, b]) => a === firstSeq && b === lastSeq)) return false
      const previous = part.sequences.at(-1)
      if (previous !== undefined && firstSeq !== previous[1] + 1) {
        throw new BrokerError(
          'CAIRN_SEQUENCE_OUT_OF_ORDER',
          `${stream}/${partition}: sequence ${firstSeq} in a transaction, expected ${previous[1] + 1}`,
        )
      }
      part.sequences.push([firstSeq, lastSeq])
    }
    let bytes = 0
    for (const r of records) bytes += (r.key?.length ?? 0) + (r.value?.length ?? 0)
    if (txn.bytes + bytes > this.#options.maxTransactionBytes) {
      this.#abort(txn, 'too large')
      throw new BrokerError(
        'CAIRN_TRANSACTION_TOO_LARGE',
        `transaction of producer ${producer.id} would exceed ${this.#options.maxTransactionBytes} bytes; it was aborted`,
      )
    }
    txn.bytes += bytes
    part.records.push(...records)
    return true
  }

  addOffsets(
    producer: Producer,
    group: string,
    memberId: string | undefined,
    memberEpoch: number | undefined,
    offsets: CommitOffset[],
  ): void {
    const txn = this.#current(producer)
    this.#groups.checkCommit(group, memberId, memberEpoch, offsets)
    txn.offsets.push({ group, memberId, memberEpoch, offsets })
  }

  /** Commits (atomically) or aborts the open transaction. */
  end(producer: Producer, commit: boolean): Promise<CommittedPart[]> {
    const txn = this.#current(producer)
    if (!commit) {
      this.#abort(txn, 'aborted by the producer')
      return Promise.resolve([])
    }
    // A member fenced since its offsets were added must not commit them. The transaction stays
    // open: the producer aborts it (or it times out), as after any refused commit.
    for (const o of txn.offsets) this.#groups.checkCommit(o.group, o.memberId, o.memberEpoch, o.offsets)
    txn.committing = true
    this.#clock.clearTimeout(txn.timer)
    const parts: AtomicPart[] = [...txn.parts.values()].filter((p) => p.records.length > 0)
    if (parts.length === 0 && txn.offsets.length === 0) {
      this.#open.delete(producer)
      return Promise.resolve([])
    }
    return new Promise((resolve, reject) => {
      this.#store.appendAtomic(
        parts,
        () => {
          for (const o of txn.offsets) this.#groups.writeOffsets(o.group, o.offsets)
        },
        undefined,
        (error, results) => {
          this.#open.delete(producer)
          if (error !== null || results === undefined) {
            reject(error ?? new BrokerError('CAIRN_STORAGE_FAILED', 'transaction commit returned no results'))
            return
          }
          resolve(
            results.map((r, i) => ({ stream: parts[i]?.stream ?? '', partition: parts[i]?.partition ?? 0, ...r })),
          )
        },
      )
    })
  }

  /** A newer instance of the producer took over: its predecessor's transaction is dropped. */
  abortFor(producer: Producer): void {
    const txn = this.#open.get(producer)
    if (txn !== undefined && !txn.committing) this.#abort(txn, 'fenced by a newer producer instance')
  }

  #current(producer: Producer): OpenTransaction {
    const txn = this.#open.get(producer)
    if (txn === undefined || txn.epoch !== producer.epoch) {
      throw new BrokerError(
        'CAIRN_TRANSACTION_INVALID',
        `producer ${producer.id} has no open transaction (never begun, timed out, or the broker restarted)`,
      )
    }
    if (txn.committing) {
      throw new BrokerError('CAIRN_TRANSACTION_INVALID', `producer ${producer.id}'s transaction is being committed`)
    }
    return txn
  }

  #abort(txn: OpenTransaction, reason: string): void {
    this.#clock.clearTimeout(txn.timer)
    this.#open.delete(txn.producer)
    this.#logger.info(
      { producerId: txn.producer.id, transactionalId: txn.producer.transactionalId, reason },
      'transaction aborted',
    )
  }

  /** A producer that went quiet mid-transaction is fenced, so a late commit from it fails. */
  #timedOut(producer: Producer): void {
    const txn = this.#open.get(producer)
    if (txn === undefined || txn.committing) return
    this.#abort(txn, `timed out after ${producer.transactionTimeoutMs} ms`)
    producer.epoch++
    this.#producers.persist(producer).catch((err: unknown) => {
      this.#logger.error({ err, producerId: producer.id }, 'could not persist the fencing epoch')
    })
  }

  close(): void {
    for (const txn of this.#open.values()) this.#clock.clearTimeout(txn.timer)
    this.#open.clear()
  }
}
