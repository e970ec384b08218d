import type { Logger } from 'pino'
import { BrokerError } from '../errors.ts'
import type { OpRequest, OpResponse, StreamInfoBody } from '../native/wire/ops.ts'
import { partitionForKey } from '../streams/partitioner.ts'
import type { TimerHandle } from '../util/clock.ts'
import { wireCommitOffset } from './admin.ts'
import { sleep } from './backoff.ts'
import type { CairnClient } from './cairn-client.ts'
import { asBrokerError, clientClosed, errorFromWire, fatalProducerCodes } from './client-errors.ts'
import { type PartitionQueue, type PendingRecord, type ProducerBatch, RecordAccumulator } from './record-accumulator.ts'
import { TransactionLedger } from './transaction-ledger.ts'
import { toWireRecord, type CommitOffset, type ProducerRecord, type RecordMetadata } from './types.ts'

export interface ProducerOptions {
  /** 0: no answer; 1: after the commit (OS); -1: durable per the stream (fsync). Default -1. */
  acks?: 0 | 1 | -1
  /** Producer id + per-partition sequences so retries are deduplicated. Default true (not with acks 0). */
  idempotent?: boolean
  /** Enables transactions (implies idempotence). */
  transactionalId?: string
  transactionTimeoutMs?: number
  /** How long a batch waits for more records. Default 5. */
  lingerMs?: number
  /** Default 1000. */
  batchMaxRecords?: number
  /** Default 1 MiB (and always below the broker's maxFrameBytes). */
  batchMaxBytes?: number
  /** Produce requests in flight at once. Default 5. */
  maxInFlight?: number
  /** A record fails with CAIRN_TIMEOUT when not acknowledged this long after send(). Default 120000. */
  deliveryTimeoutMs?: number
  /** Pause before resending after a retriable failure. Default 100. */
  retryBackoffMs?: number
}

export interface SendOffsetsRequest {
  group: string
  memberId?: string
  memberEpoch?: number
  offsets: readonly CommitOffset[]
}

const TransactionStates = { none: 'none', open: 'open', committing: 'committing', aborting: 'aborting' } as const
type TransactionState = (typeof TransactionStates)[keyof typeof TransactionStates]

const noop = (): void => {}

/** Sequence numbers wrap like Kafka's (int32), as the broker expects. */
const sequenceModulus = 2 ** 31

function sequenceAfter(batch: ProducerBatch): number {
  return ((batch.firstSequence ?? 0) + batch.records.length) % sequenceModulus
}

/**
 * Sends records to streams: batching per partition, client-side partitioning (explicit > murmur2
 * of the key > sticky), pipelining up to maxInFlight requests, retries, idempotence, transactions.
 *
 * Ordering and idempotence: a partition has at most one batch in flight, so its batches reach the
 * broker in order and a retried batch (same firstSequence, same records) is always the oldest
 * unacknowledged one; the broker deduplicates it (`duplicate: true` with the original offsets).
 * A sequence is taken when a batch is first sent and counts as used only once the broker has
 * written the batch, so a batch refused outright leaves no gap. CAIRN_SEQUENCE_OUT_OF_ORDER,
 * CAIRN_PRODUCER_FENCED and CAIRN_PRODUCER_UNKNOWN are fatal: everything pending is rejected with
 * that error, and so is every later call.
 *
 * Transactions: send() inside beginTransaction()/commitTransaction() resolves only at commit (do
 * not await it before committing; commitTransaction() returns all the results), and rejects when
 * the transaction is aborted.
 */
export class Producer {
  readonly #client: CairnClient
  readonly #logger: Logger
  readonly #acks: 0 | 1 | -1
  readonly #idempotent: boolean
  readonly #transactionalId: string | undefined
  readonly #transactionTimeoutMs: number | undefined
  readonly #maxInFlight: number
  readonly #retryBackoffMs: number
  readonly #deliveryTimeoutMs: number
  readonly #accumulator: RecordAccumulator
  readonly #onClientClose = (): void => this.#fail(clientClosed('client'))
  #producerId: number | undefined
  #producerEpoch: number | undefined
  #initializing: Promise<void> | undefined
  #inFlightRequests = 0
  #fatal: BrokerError | undefined
  #closed = false
  #drainScheduled = false
  #retryTimer: TimerHandle | undefined
  #retryDueMs = Infinity
  #metadataWaits = 0
  #metadataChain: Promise<unknown> = Promise.resolve()
  /** Sends waiting for metadata: flush() waits for them to join their batches. */
  readonly #preparing = new Set<Promise<unknown>>()
  #txnState: TransactionState = TransactionStates.none
  readonly #txn = new TransactionLedger()

  constructor(client: CairnClient, options: ProducerOptions = {}) {
    this.#client = client
    this.#logger = client.logger.child({ component: 'producer' })
    this.#acks = options.acks ?? -1
    if (![0, 1, -1].includes(this.#acks)) throw new RangeError(`acks must be 0, 1 or -1 (got ${this.#acks})`)
    this.#transactionalId = options.transactionalId
    this.#transactionTimeoutMs = options.transactionTimeoutMs
    if (this.#transactionalId !== undefined && (this.#acks === 0 || options.idempotent === false)) {
      throw new RangeError('a transactional producer needs acks 1 or -1 and idempotence')
    }
    this.#idempotent = this.#transactionalId !== undefined || (options.idempotent !== false && this.#acks !== 0)
    this.#maxInFlight = positiveInt('maxInFlight', options.maxInFlight ?? 5)
    this.#retryBackoffMs = options.retryBackoffMs ?? 100
    this.#deliveryTimeoutMs = positiveInt('deliveryTimeoutMs', options.deliveryTimeoutMs ?? 120_000)
    this.#accumulator = new RecordAccumulator({
      batchMaxRecords: positiveInt('batchMaxRecords', options.batchMaxRecords ?? 1000),
      batchMaxBytes: positiveInt('batchMaxBytes', options.batchMaxBytes ?? 1024 * 1024),
      lingerMs: options.lingerMs ?? 5,
      deliveryTimeoutMs: this.#deliveryTimeoutMs,
      clock: client.clock,
      random: Math.random,
      onReady: () => this.#scheduleDrain(),
    })
    client.once('close', this.#onClientClose)
  }

  /** The broker-assigned producer id and epoch (idempotent producers, once initialised). */
  get producerId(): { producerId: number; producerEpoch: number } | undefined {
    if (this.#producerId === undefined || this.#producerEpoch === undefined) return undefined
    return { producerId: this.#producerId, producerEpoch: this.#producerEpoch }
  }

  /** Sends one record (resolves with its metadata) or several (resolves with theirs, in order). */
  send(stream: string, record: ProducerRecord): Promise<RecordMetadata>
  send(stream: string, records: readonly ProducerRecord[]): Promise<RecordMetadata[]>
  send(stream: string, input: ProducerRecord | readonly ProducerRecord[]): Promise<RecordMetadata | RecordMetadata[]> {
    const many = Array.isArray(input)
    const promise = this.#send(stream, many ? input : [input as ProducerRecord]).then((metadata) =>
      many ? metadata : (metadata[0] as RecordMetadata),
    )
    // Inside a transaction the result also comes from commitTransaction(), and an abort rejects
    // these promises routinely: an application that did not keep them must not crash on that.
    if (this.#transactionalId !== undefined) promise.catch(noop)
    return promise
  }

  async #send(stream: string, records: readonly ProducerRecord[]): Promise<RecordMetadata[]> {
    this.#checkUsable()
    if (this.#transactionalId !== undefined && this.#txnState !== TransactionStates.open) {
      throw new BrokerError('CAIRN_TRANSACTION_INVALID', 'a transactional producer sends only inside a transaction')
    }
    if (records.length === 0) return []
    const prepared = records.map((record) => ({ record, ...toWireRecord(record) }))
    const cached = this.#metadataWaits === 0 ? this.#client.metadata.cached(stream) : undefined
    // An explicit partition beyond the cached count may be new: look once more before refusing it.
    const stale = cached !== undefined && prepared.some((p) => (p.record.partition ?? 0) >= cached.config.partitions)
    let info = cached
    if (info === undefined || stale) {
      const lookup = this.#metadataInOrder(stream, stale)
      this.#preparing.add(lookup)
      try {
        info = await lookup
      } finally {
        this.#preparing.delete(lookup)
      }
      this.#checkUsable()
    }
    const partitions = info.config.partitions
    if (info.config.cleanupPolicy === 'compact' && prepared.some((p) => p.wire.key === undefined)) {
      throw new BrokerError('CAIRN_RECORD_INVALID', `stream "${stream}" is compacted: every record needs a key`)
    }
    const explicit = prepared.find(
      (p) => p.record.partition !== undefined && !validPartition(p.record.partition, partitions),
    )
    if (explicit !== undefined) {
      throw new BrokerError(
        'CAIRN_PARTITION_NOT_FOUND',
        `stream "${stream}" has no partition ${explicit.record.partition} (it has ${partitions})`,
        { details: { stream, partition: explicit.record.partition } },
      )
    }
    const promises = prepared.map(({ record, wire, bytes }) => {
      const partition =
        record.partition ??
        (wire.key !== undefined && wire.key !== null
          ? partitionForKey(wire.key, partitions)
          : this.#accumulator.stickyPartition(stream, partitions))
      return new Promise<RecordMetadata>((resolve, reject) => {
        const pending: PendingRecord = { wire, bytes, resolve, reject }
        this.#accumulator.append(stream, partition, pending)
        if (this.#transactionalId !== undefined) this.#txn.add(stream, partition, pending)
      })
    })
    return Promise.all(promises)
  }

  /** Metadata lookups that send() waits for complete in call order, so records keep their order. */
  async #metadataInOrder(stream: string, refresh: boolean): Promise<StreamInfoBody> {
    this.#metadataWaits++
    const mine = this.#metadataChain.then(() => this.#lookUp(stream, refresh))
    this.#metadataChain = mine.then(noop, noop)
    try {
      return await mine
    } finally {
      this.#metadataWaits--
    }
  }

  /** The stream's metadata, retrying retriable failures (a reconnect) within deliveryTimeoutMs. */
  async #lookUp(stream: string, refresh: boolean): Promise<StreamInfoBody> {
    const deadlineMs = this.#client.clock.now() + this.#deliveryTimeoutMs
    for (;;) {
      try {
        return await this.#client.metadata.stream(stream, { refresh })
      } catch (error) {
        if (!(error instanceof BrokerError) || !error.retriable || this.#client.clock.now() >= deadlineMs) throw error
        this.#checkUsable()
        await sleep(this.#client.clock, this.#retryBackoffMs)
      }
    }
  }

  /** Sends everything batched now and waits until every record sent so far is settled. */
  async flush(): Promise<void> {
    while (this.#preparing.size > 0) await Promise.allSettled([...this.#preparing])
    this.#accumulator.readyAll()
    this.#scheduleDrain()
    await Promise.all(this.#accumulator.pending().map((batch) => batch.done))
    if (this.#fatal !== undefined) throw this.#fatal
  }

  async beginTransaction(): Promise<void> {
    this.#checkUsable()
    if (this.#transactionalId === undefined) {
      throw new BrokerError('CAIRN_TRANSACTION_INVALID', 'this producer has no transactionalId')
    }
    if (this.#txnState !== TransactionStates.none) {
      throw new BrokerError('CAIRN_TRANSACTION_INVALID', `a transaction is already ${this.#txnState}`)
    }
    await this.#ensureProducerId()
    this.#checkUsable()
    await this.#transactionRequest('txnBegin', this.#producerRef())
    this.#txnState = TransactionStates.open
    this.#txn.reset()
  }

  /** Commits consumer offsets as part of the open transaction (consume-transform-produce). */
  async sendOffsets(request: SendOffsetsRequest): Promise<void> {
    this.#checkUsable()
    this.#checkTransactionOpen()
    const body: OpRequest<'txnAddOffsets'> = {
      ...this.#producerRef(),
      group: request.group,
      offsets: request.offsets.map(wireCommitOffset),
    }
    if (request.memberId !== undefined) body.memberId = request.memberId
    if (request.memberEpoch !== undefined) body.memberEpoch = request.memberEpoch
    await this.#transactionRequest('txnAddOffsets', body)
  }

  /** Flushes, commits the transaction and returns every record's metadata in send order. */
  async commitTransaction(): Promise<RecordMetadata[]> {
    this.#checkUsable()
    this.#checkTransactionOpen()
    this.#txnState = TransactionStates.committing
    try {
      await this.flush()
      const failure = this.#txn.error
      if (failure !== undefined) {
        throw new BrokerError('CAIRN_TRANSACTION_INVALID', `cannot commit: ${failure.message}; abort instead`, {
          cause: failure,
        })
      }
      const response = await this.#transactionRequest('txnEnd', { ...this.#producerRef(), commit: true })
      this.#txnState = TransactionStates.none
      return this.#txn.committed(response, this.#client.clock.now())
    } catch (error) {
      if (this.#txnState === TransactionStates.committing) this.#txnState = TransactionStates.open
      throw error
    }
  }

  /** Waits for records already sent, then aborts: none of the transaction's records become visible. */
  async abortTransaction(): Promise<void> {
    this.#checkUsable()
    this.#checkTransactionOpen()
    this.#txnState = TransactionStates.aborting
    try {
      // Batches already handed out must settle first (their sequences are then known used).
      await this.flush()
      try {
        await this.#transactionRequest('txnEnd', { ...this.#producerRef(), commit: false })
      } catch (error) {
        // The broker no longer has it (a refused commit or a timeout dropped it): aborted anyway.
        if (!(error instanceof BrokerError && error.code === 'CAIRN_TRANSACTION_INVALID')) throw error
      }
      const aborted = new BrokerError('CAIRN_TRANSACTION_INVALID', 'the transaction was aborted')
      this.#txn.rejectAll(aborted)
      this.#txnState = TransactionStates.none
    } catch (error) {
      if (this.#txnState === TransactionStates.aborting) this.#txnState = TransactionStates.open
      throw error
    }
  }

  /** Flushes (aborting an open transaction) and stops. Later calls reject. */
  async close(): Promise<void> {
    if (this.#closed) return
    try {
      if (this.#fatal === undefined) {
        if (this.#txnState === TransactionStates.open) await this.abortTransaction()
        else await this.flush()
      }
    } catch (error) {
      this.#logger.debug({ err: error }, 'flush on close failed')
    } finally {
      this.#closed = true
      this.#client.off('close', this.#onClientClose)
      this.#accumulator.failAll(clientClosed('producer'))
      this.#clearRetryTimer()
    }
  }

  async #transactionRequest<K extends 'txnBegin' | 'txnAddOffsets' | 'txnEnd'>(
    op: K,
    body: OpRequest<K>,
  ): Promise<OpResponse<K>> {
    try {
      return await this.#client.request(op, body)
    } catch (error) {
      if (error instanceof BrokerError && fatalProducerCodes.has(error.code)) this.#fail(error)
      throw error
    }
  }

  #checkTransactionOpen(): void {
    if (this.#transactionalId === undefined) {
      throw new BrokerError('CAIRN_TRANSACTION_INVALID', 'this producer has no transactionalId')
    }
    if (this.#txnState !== TransactionStates.open) {
      throw new BrokerError('CAIRN_TRANSACTION_INVALID', `no open transaction (${this.#txnState})`)
    }
  }

  #producerRef(): { producerId: number; producerEpoch: number } {
    if (this.#producerId === undefined || this.#producerEpoch === undefined) {
      throw new BrokerError('CAIRN_PRODUCER_UNKNOWN', 'the producer id is not initialised')
    }
    return { producerId: this.#producerId, producerEpoch: this.#producerEpoch }
  }

  #checkUsable(): void {
    if (this.#fatal !== undefined) throw this.#fatal
    if (this.#closed) throw clientClosed('producer')
  }

  #ensureProducerId(): Promise<void> {
    if (this.#producerId !== undefined) return Promise.resolve()
    this.#initializing ??= this.#initProducer().finally(() => {
      this.#initializing = undefined
    })
    return this.#initializing
  }

  async #initProducer(): Promise<void> {
    const body: OpRequest<'initProducer'> = {}
    if (this.#transactionalId !== undefined) body.transactionalId = this.#transactionalId
    if (this.#transactionTimeoutMs !== undefined) body.transactionTimeoutMs = this.#transactionTimeoutMs
    for (;;) {
      this.#checkUsable()
      try {
        const response = await this.#client.request('initProducer', body)
        this.#producerId = response.producerId
        this.#producerEpoch = response.producerEpoch
        this.#logger.debug(response, 'producer initialised')
        this.#scheduleDrain()
        return
      } catch (error) {
        const failure = asBrokerError(error, 'CAIRN_PRODUCER_UNKNOWN', 'initProducer failed')
        if (!failure.retriable || this.#closed) {
          this.#fail(failure)
          throw failure
        }
        this.#expire(this.#client.clock.now())
        await sleep(this.#client.clock, this.#retryBackoffMs)
      }
    }
  }

  #scheduleDrain(): void {
    if (this.#drainScheduled) return
    this.#drainScheduled = true
    queueMicrotask(() => this.#drain())
  }

  #drain(): void {
    this.#drainScheduled = false
    if (this.#fatal !== undefined) return
    const now = this.#client.clock.now()
    this.#expire(now)
    if (this.#idempotent && this.#producerId === undefined) {
      if (this.#accumulator.pending().length > 0) this.#ensureProducerId().catch(noop)
      return
    }
    const maxFrameBytes = this.#client.maxFrameBytes
    if (maxFrameBytes !== undefined) this.#accumulator.limitBatchBytes(maxFrameBytes)
    const budget = (maxFrameBytes ?? 8 * 1024 * 1024) - 4096
    let nextRetryMs = Infinity
    while (this.#inFlightRequests < this.#maxInFlight) {
      const selected: [PartitionQueue, ProducerBatch][] = []
      let bytes = 0
      for (const queue of this.#accumulator.queues.values()) {
        const batch = queue.batches[0]
        if (queue.inFlight || batch === undefined || !batch.ready) continue
        if (batch.retryAtMs > now) {
          nextRetryMs = Math.min(nextRetryMs, batch.retryAtMs)
          continue
        }
        if (selected.length > 0 && bytes + batch.bytes > budget) continue
        selected.push([queue, batch])
        bytes += batch.bytes
      }
      if (selected.length === 0) break
      this.#dispatch(selected)
    }
    if (nextRetryMs !== Infinity) this.#armRetryTimer(nextRetryMs)
  }

  #armRetryTimer(dueMs: number): void {
    if (this.#retryTimer !== undefined && this.#retryDueMs <= dueMs) return
    this.#clearRetryTimer()
    this.#retryDueMs = dueMs
    this.#retryTimer = this.#client.clock.setTimeout(
      () => {
        this.#retryTimer = undefined
        this.#retryDueMs = Infinity
        this.#scheduleDrain()
      },
      Math.max(0, dueMs - this.#client.clock.now()),
    )
  }

  #clearRetryTimer(): void {
    if (this.#retryTimer !== undefined) this.#client.clock.clearTimeout(this.#retryTimer)
    this.#retryTimer = undefined
    this.#retryDueMs = Infinity
  }

  /** Gives up on batches past their delivery deadline that are not in flight. */
  #expire(now: number): void {
    for (const queue of this.#accumulator.queues.values()) {
      for (const batch of [...queue.batches]) {
        if (batch.deadlineMs > now || (queue.inFlight && batch === queue.batches[0])) continue
        this.#expireBatch(queue, batch)
      }
    }
  }

  #expireBatch(queue: PartitionQueue, batch: ProducerBatch, cause?: unknown): void {
    if (batch.maybeWritten && batch.firstSequence !== undefined) {
      // The broker may have written it: its sequence numbers count as used. If it had not, the
      // next batch is refused as out of order, which is fatal — never a silent gap or duplicate.
      queue.nextSequence = sequenceAfter(batch)
      queue.uncertain = true
    }
    const error = new BrokerError(
      'CAIRN_TIMEOUT',
      `${batch.records.length} record(s) for ${batch.stream}/${batch.partition} not acknowledged within ${this.#deliveryTimeoutMs} ms`,
      { ...(cause === undefined ? {} : { cause }), details: { stream: batch.stream, partition: batch.partition } },
    )
    this.#failBatch(queue, batch, error)
  }

  #dispatch(selected: [PartitionQueue, ProducerBatch][]): void {
    for (const [queue, batch] of selected) {
      queue.inFlight = true
      batch.attempts++
      if (this.#idempotent) batch.firstSequence ??= queue.nextSequence
      this.#accumulator.sent(batch)
      this.#accumulator.rotate(queue)
    }
    this.#inFlightRequests++
    void this.#produce(selected)
  }

  async #produce(selected: [PartitionQueue, ProducerBatch][]): Promise<void> {
    const body: OpRequest<'produce'> = {
      acks: this.#acks,
      batches: selected.map(([, batch]) => ({
        stream: batch.stream,
        partition: batch.partition,
        ...(batch.firstSequence === undefined ? {} : { firstSequence: batch.firstSequence }),
        records: batch.records.map((r) => r.wire),
      })),
    }
    if (this.#idempotent) Object.assign(body, this.#producerRef())
    if (this.#transactionalId !== undefined) body.transactional = true
    try {
      let response: OpResponse<'produce'>
      try {
        response = await this.#client.request('produce', body)
      } catch (error) {
        this.#requestFailed(selected, asBrokerError(error, 'CAIRN_CONNECTION_CLOSED', 'produce failed'))
        return
      }
      await this.#responded(selected, response)
    } catch (error) {
      // A bug here must not leave records hanging forever.
      this.#fail(asBrokerError(error, 'CAIRN_REQUEST_INVALID', 'producer failed'))
    } finally {
      for (const [queue] of selected) queue.inFlight = false
      this.#inFlightRequests--
      this.#scheduleDrain()
    }
  }

  async #responded(selected: [PartitionQueue, ProducerBatch][], response: OpResponse<'produce'>): Promise<void> {
    if (this.#fatal !== undefined) return
    const now = this.#client.clock.now()
    if (this.#acks === 0) {
      for (const [queue, batch] of selected) this.#batchWritten(queue, batch, undefined, now)
      return
    }
    const results = new Map(response.results.map((r) => [r.batch, r]))
    for (const [index, [queue, batch]] of selected.entries()) {
      const result = results.get(index)
      if (result === undefined) {
        this.#failBatch(queue, batch, new BrokerError('CAIRN_FRAME_MALFORMED', `no result for batch ${index}`))
      } else if (result.error !== undefined) {
        await this.#batchRefused(queue, batch, errorFromWire(result.error, 'produce'))
      } else {
        this.#batchWritten(queue, batch, result, now)
      }
      if (this.#fatal !== undefined) return
    }
  }

  #batchWritten(
    queue: PartitionQueue,
    batch: ProducerBatch,
    result: OpResponse<'produce'>['results'][number] | undefined,
    now: number,
  ): void {
    if (batch.firstSequence !== undefined) queue.nextSequence = sequenceAfter(batch)
    queue.uncertain = false
    this.#accumulator.remove(queue, batch)
    if (this.#transactionalId !== undefined) {
      this.#txn.taken(batch.stream, batch.partition, batch.records)
      batch.finish()
      return
    }
    const base = result?.baseOffset
    for (const [i, record] of batch.records.entries()) {
      record.resolve({
        stream: batch.stream,
        partition: batch.partition,
        offset: base === undefined ? -1n : base + BigInt(i),
        timestamp: record.wire.timestamp ?? result?.timestamp ?? now,
      })
    }
    batch.finish()
  }

  async #batchRefused(queue: PartitionQueue, batch: ProducerBatch, error: BrokerError): Promise<void> {
    if (fatalProducerCodes.has(error.code)) {
      this.#fail(error)
      return
    }
    if (
      (error.code === 'CAIRN_STREAM_NOT_FOUND' || error.code === 'CAIRN_PARTITION_NOT_FOUND') &&
      !batch.metadataRetried
    ) {
      batch.metadataRetried = true
      const info = await this.#client.metadata.stream(batch.stream, { refresh: true }).catch(() => undefined)
      if (info !== undefined && batch.partition < info.config.partitions) {
        batch.retryAtMs = this.#client.clock.now()
        return
      }
    }
    // A refused batch was not written: retrying it (or the next one) reuses its sequence.
    if (error.retriable) this.#retryLater(queue, batch, error)
    else this.#failBatch(queue, batch, error)
  }

  #requestFailed(selected: [PartitionQueue, ProducerBatch][], error: BrokerError): void {
    if (this.#fatal !== undefined) return
    if (fatalProducerCodes.has(error.code)) {
      this.#fail(error)
      return
    }
    for (const [queue, batch] of selected) {
      if (error.retriable) {
        batch.maybeWritten ||= error.code === 'CAIRN_CONNECTION_CLOSED' || error.code === 'CAIRN_TIMEOUT'
        this.#retryLater(queue, batch, error)
      } else {
        this.#failBatch(queue, batch, error)
      }
    }
  }

  #retryLater(queue: PartitionQueue, batch: ProducerBatch, error: BrokerError): void {
    const now = this.#client.clock.now()
    if (now >= batch.deadlineMs) {
      this.#expireBatch(queue, batch, error)
      return
    }
    this.#logger.debug({ err: error, stream: batch.stream, partition: batch.partition }, 'batch will be resent')
    batch.retryAtMs = now + this.#retryBackoffMs
  }

  #failBatch(queue: PartitionQueue, batch: ProducerBatch, error: BrokerError): void {
    this.#accumulator.remove(queue, batch)
    if (this.#transactionalId !== undefined && this.#txnState !== TransactionStates.none) this.#txn.error ??= error
    batch.fail(error)
  }

  /** Fatal: rejects everything pending and every later call with `error`. */
  #fail(error: BrokerError): void {
    if (this.#fatal !== undefined || this.#closed) return
    this.#fatal = error
    this.#logger.error({ err: error }, 'producer stopped')
    this.#clearRetryTimer()
    this.#client.off('close', this.#onClientClose)
    this.#accumulator.failAll(error)
    this.#txn.rejectAll(error)
  }
}

function validPartition(partition: number, partitions: number): boolean {
  return Number.isInteger(partition) && partition >= 0 && partition < partitions
}

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer (got ${value})`)
  return value
}
