import type { RecordInBody } from '../native/wire/ops.ts'
import type { Clock, TimerHandle } from '../util/clock.ts'
import { partitionKey, type RecordMetadata } from './types.ts'

export interface PendingRecord {
  readonly wire: RecordInBody
  readonly bytes: number
  readonly resolve: (metadata: RecordMetadata) => void
  readonly reject: (error: unknown) => void
}

/** Records for one partition that go to the broker together, in one produce batch. */
export class ProducerBatch {
  readonly stream: string
  readonly partition: number
  readonly records: PendingRecord[] = []
  readonly createdMs: number
  readonly deadlineMs: number
  bytes = 0
  /** May be sent (linger elapsed, full, flushed, or a later batch exists). */
  ready = false
  /** Idempotence: assigned when first sent, kept for every retry. */
  firstSequence: number | undefined
  /** Times sent. A batch that was sent never takes more records. */
  attempts = 0
  retryAtMs = 0
  metadataRetried = false
  /** A request carrying it failed without an answer: the broker may have written it. */
  maybeWritten = false
  lingerTimer: TimerHandle | undefined
  readonly done: Promise<void>
  #finish: () => void = () => {}
  #finished = false

  constructor(stream: string, partition: number, nowMs: number, deliveryTimeoutMs: number) {
    this.stream = stream
    this.partition = partition
    this.createdMs = nowMs
    this.deadlineMs = nowMs + deliveryTimeoutMs
    this.done = new Promise((resolve) => {
      this.#finish = resolve
    })
  }

  get finished(): boolean {
    return this.#finished
  }

  /** Marks the batch as settled (its records resolved or rejected); `done` resolves. */
  finish(): void {
    this.#finished = true
    this.#finish()
  }

  /** Rejects every record and finishes. */
  fail(error: unknown): void {
    for (const record of this.records) record.reject(error)
    this.finish()
  }
}

/** The batches of one partition, oldest first; the first is the one in flight, if any. */
export interface PartitionQueue {
  readonly key: string
  readonly stream: string
  readonly partition: number
  readonly batches: ProducerBatch[]
  inFlight: boolean
  /** Idempotence: the sequence of the next record the broker expects. */
  nextSequence: number
  /** A batch of unknown fate was given up on; its sequence numbers were assumed used. */
  uncertain: boolean
}

export interface RecordAccumulatorOptions {
  batchMaxRecords: number
  batchMaxBytes: number
  lingerMs: number
  deliveryTimeoutMs: number
  clock: Clock
  random: () => number
  /** A batch became ready to send. */
  onReady: () => void
}

/**
 * Per-partition batching for the producer: records join the newest unsent batch of their
 * partition until it holds batchMaxRecords or batchMaxBytes; a batch becomes ready when full, when
 * lingerMs has passed since its first record, or on flush. Keyless records stick to one partition
 * until the batch they went into is sent, then another is picked at random.
 */
export class RecordAccumulator {
  readonly queues = new Map<string, PartitionQueue>()
  readonly #options: RecordAccumulatorOptions
  readonly #sticky = new Map<string, number>()
  readonly #previous = new Map<string, number>()
  #maxBytes: number

  constructor(options: RecordAccumulatorOptions) {
    this.#options = options
    this.#maxBytes = options.batchMaxBytes
  }

  /** Caps batches below the broker's frame limit once it is known. */
  limitBatchBytes(maxFrameBytes: number): void {
    this.#maxBytes = Math.max(1, Math.min(this.#options.batchMaxBytes, maxFrameBytes - 4096))
  }

  /** The sticky partition for keyless records of `stream`. */
  stickyPartition(stream: string, partitions: number): number {
    const current = this.#sticky.get(stream)
    if (current !== undefined && current < partitions) return current
    // Another partition than the one just left, when there is another.
    const previous = this.#previous.get(stream)
    const avoid = previous !== undefined && previous < partitions && partitions > 1
    let chosen = Math.min(partitions - 1, Math.floor(this.#options.random() * (avoid ? partitions - 1 : partitions)))
    if (avoid && chosen >= previous) chosen++
    this.#sticky.set(stream, chosen)
    return chosen
  }

  append(stream: string, partition: number, record: PendingRecord): void {
    const key = partitionKey(stream, partition)
    let queue = this.queues.get(key)
    if (queue === undefined) {
      queue = { key, stream, partition, batches: [], inFlight: false, nextSequence: 0, uncertain: false }
      this.queues.set(key, queue)
    }
    let batch = queue.batches.at(-1)
    if (batch !== undefined && !this.#hasRoom(batch, record)) {
      this.#markReady(batch)
      batch = undefined
    }
    if (batch === undefined) {
      const now = this.#options.clock.now()
      const created = new ProducerBatch(stream, partition, now, this.#options.deliveryTimeoutMs)
      queue.batches.push(created)
      batch = created
      if (this.#options.lingerMs > 0) {
        created.lingerTimer = this.#options.clock.setTimeout(() => {
          created.lingerTimer = undefined
          this.#markReady(created)
        }, this.#options.lingerMs)
      } else {
        this.#markReady(created)
      }
    }
    batch.records.push(record)
    batch.bytes += record.bytes
    if (batch.records.length >= this.#options.batchMaxRecords || batch.bytes >= this.#maxBytes) this.#markReady(batch)
  }

  #hasRoom(batch: ProducerBatch, record: PendingRecord): boolean {
    if (batch.attempts > 0 || batch.finished) return false
    if (batch.records.length >= this.#options.batchMaxRecords) return false
    return batch.records.length === 0 || batch.bytes + record.bytes <= this.#maxBytes
  }

  #markReady(batch: ProducerBatch): void {
    if (batch.lingerTimer !== undefined) {
      this.#options.clock.clearTimeout(batch.lingerTimer)
      batch.lingerTimer = undefined
    }
    if (batch.ready) return
    batch.ready = true
    this.#options.onReady()
  }

  /** Called when a batch goes out: keyless records move on to another partition. */
  sent(batch: ProducerBatch): void {
    if (this.#sticky.get(batch.stream) === batch.partition) {
      this.#sticky.delete(batch.stream)
      this.#previous.set(batch.stream, batch.partition)
    }
  }

  /** Every batch ready now (flush). */
  readyAll(): void {
    for (const queue of this.queues.values()) for (const batch of queue.batches) this.#markReady(batch)
  }

  /** Every batch not yet finished. */
  pending(): ProducerBatch[] {
    const out: ProducerBatch[] = []
    for (const queue of this.queues.values()) out.push(...queue.batches)
    return out
  }

  /** Removes a batch from its queue (acknowledged or failed). */
  remove(queue: PartitionQueue, batch: ProducerBatch): void {
    const index = queue.batches.indexOf(batch)
    if (index >= 0) queue.batches.splice(index, 1)
    if (batch.lingerTimer !== undefined) {
      this.#options.clock.clearTimeout(batch.lingerTimer)
      batch.lingerTimer = undefined
    }
  }

  /** Fails and removes everything (fatal error, client closed). */
  failAll(error: unknown): void {
    for (const queue of this.queues.values()) {
      for (const batch of [...queue.batches]) {
        this.remove(queue, batch)
        batch.fail(error)
      }
    }
  }

  /** Moves a queue to the back of the iteration order, so partitions take turns. */
  rotate(queue: PartitionQueue): void {
    this.queues.delete(queue.key)
    this.queues.set(queue.key, queue)
  }
}
