import { BrokerError } from '../../errors.ts'
import type { AppendResult, Durability, RecordInput } from '../../log/types.ts'
import { partitionForKey } from '../../streams/partitioner.ts'
import type { Producer, RecentBatch } from '../producers.ts'
import { toNativeFailure } from '../status.ts'
import type { OpRequest, OpResponse, RecordInBody } from '../wire/ops.ts'
import { noReply, type Handler, type NativeContext } from './index.ts'

type ProduceBatch = OpRequest<'produce'>['batches'][number]
type ProduceResult = OpResponse<'produce'>['results'][number]

// Produce: every batch is appended through the log store's group commit and answered only after
// that commit (acks 1: written to the OS; acks -1: durable per the stream; acks 0: not answered).
// A batch's failure is reported in its own result; the other batches still go in.

export function toRecordInput(r: RecordInBody): RecordInput {
  const record: RecordInput = { key: r.key ?? null, value: r.value }
  if (r.headers !== undefined) record.headers = r.headers.map(([key, value]) => ({ key, value }))
  if (r.timestamp !== undefined) record.timestamp = r.timestamp
  return record
}

/** Collects the answers of one request's appends and resolves when the last has arrived. */
class ProduceReply {
  readonly results: ProduceResult[][] = []
  #waiting = 1
  #resolve: ((body: OpResponse<'produce'>) => void) | undefined
  readonly promise = new Promise<OpResponse<'produce'>>((resolve) => (this.#resolve = resolve))

  expect(): void {
    this.#waiting++
  }

  set(batch: number, piece: number, result: ProduceResult): void {
    ;(this.results[batch] ??= [])[piece] = result
  }

  done(): void {
    if (--this.#waiting > 0) return
    this.#resolve?.({ results: this.results.flat() })
  }
}

function failed(batch: number, stream: string, partition: number, error: unknown): ProduceResult {
  return { batch, stream, partition, error: toNativeFailure(error).error }
}

function appended(batch: number, stream: string, partition: number, result: AppendResult): ProduceResult {
  return {
    batch,
    stream,
    partition,
    baseOffset: result.baseOffset,
    lastOffset: result.lastOffset,
    timestamp: result.timestamp,
  }
}

export const handleProduce: Handler<'produce'> = (ctx, body) => {
  const { producers } = ctx.frontEnd
  let producer: Producer | undefined
  if (body.producerId !== undefined) {
    if (body.producerEpoch === undefined) throw invalid('producerEpoch is required with producerId')
    producer = producers.get(body.producerId, body.producerEpoch)
  } else if (body.transactional === true) {
    throw invalid('a transactional produce needs producerId and producerEpoch')
  }
  const durability: Durability | undefined = body.acks === 1 ? 'os' : undefined
  const reply = new ProduceReply()
  body.batches.forEach((batch, index) => {
    ctx.frontEnd.counters.messagesReceived += batch.records.length
    try {
      if (producer === undefined) appendPartitioned(ctx, reply, index, batch, durability)
      else if (body.transactional === true) addToTransaction(ctx, reply, index, batch, producer)
      else appendIdempotent(ctx, reply, index, batch, producer, durability)
    } catch (error) {
      reply.set(index, 0, failed(index, batch.stream, batch.partition ?? 0, error))
    }
  })
  for (const batch of body.batches) if (batch.partition === undefined) ctx.stickyPartitions.delete(batch.stream)
  reply.done()
  if (body.acks === 0) {
    reply.promise.then(
      (res) => {
        const errors = res.results.filter((r) => r.error !== undefined)
        if (errors.length > 0) ctx.logger.debug({ errors, clientId: ctx.clientId }, 'acks=0 produce had failures')
      },
      () => undefined,
    )
    return noReply
  }
  return reply.promise
}

function invalid(message: string): BrokerError {
  return new BrokerError('CAIRN_REQUEST_INVALID', message)
}

/** Plain produce: the broker picks partitions for records without one (key hash, else sticky). */
function appendPartitioned(
  ctx: NativeContext,
  reply: ProduceReply,
  index: number,
  batch: ProduceBatch,
  durability: Durability | undefined,
): void {
  const { store } = ctx.frontEnd
  const records = batch.records.map(toRecordInput)
  const pieces = new Map<number, number[]>()
  if (batch.partition !== undefined)
    pieces.set(
      batch.partition,
      records.map((_, i) => i),
    )
  else {
    const partitions = store.partitionCount(batch.stream)
    records.forEach((r, i) => {
      const p = r.key != null ? partitionForKey(r.key, partitions) : stickyPartition(ctx, batch.stream, partitions)
      let list = pieces.get(p)
      if (list === undefined) pieces.set(p, (list = []))
      list.push(i)
    })
  }
  const split = pieces.size > 1
  let piece = 0
  for (const [partition, indices] of pieces) {
    const at = piece++
    const slice = split ? indices.map((i) => records[i] as RecordInput) : records
    reply.expect()
    store.appendWithCallback(
      batch.stream,
      partition,
      slice,
      (error, result) => {
        const base =
          error === null && result !== undefined
            ? appended(index, batch.stream, partition, result)
            : failed(index, batch.stream, partition, error)
        reply.set(index, at, split ? { ...base, records: indices } : base)
        reply.done()
      },
      durability,
    )
  }
}

function stickyPartition(ctx: NativeContext, stream: string, partitions: number): number {
  let p = ctx.stickyPartitions.get(stream)
  if (p === undefined || p >= partitions) {
    p = Math.floor(Math.random() * partitions)
    ctx.stickyPartitions.set(stream, p)
  }
  return p
}

function requireSequenced(batch: ProduceBatch): { partition: number; firstSequence: number } {
  if (batch.partition === undefined)
    throw invalid(`batch for "${batch.stream}": an idempotent producer names the partition`)
  if (batch.firstSequence === undefined)
    throw invalid(`batch for "${batch.stream}": firstSequence is required with producerId`)
  return { partition: batch.partition, firstSequence: batch.firstSequence }
}

/** Idempotent produce: the sequence check and its persisted state commit with the records. */
function appendIdempotent(
  ctx: NativeContext,
  reply: ProduceReply,
  index: number,
  batch: ProduceBatch,
  producer: Producer,
  durability: Durability | undefined,
): void {
  const { store, producers } = ctx.frontEnd
  const { partition, firstSequence } = requireSequenced(batch)
  store.partitionCount(batch.stream) // unknown stream: refused before a sequence is reserved
  const decision = producers.checkSequence(producer, batch.stream, partition, firstSequence, batch.records.length)
  const answer = (error: BrokerError | null, result?: AppendResult, duplicate = false): void => {
    const base =
      error === null && result !== undefined
        ? appended(index, batch.stream, partition, result)
        : failed(index, batch.stream, partition, error)
    reply.set(index, 0, duplicate && error === null ? { ...base, duplicate: true } : base)
    reply.done()
  }
  reply.expect()
  if (decision.kind === 'duplicate') {
    if (decision.batch.result !== undefined) answer(null, decision.batch.result, true)
    else decision.batch.waiters.push((error, result) => answer(error, result, true))
    return
  }
  const reserved: RecentBatch = decision.batch
  store.appendAtomic(
    [{ stream: batch.stream, partition, records: batch.records.map(toRecordInput) }],
    (planned) => producers.recordSequence(producer, batch.stream, partition, reserved, planned[0] as AppendResult),
    durability,
    (error, results) => {
      if (error !== null) producers.rollBack(producer, batch.stream, partition, reserved)
      producers.completed(reserved, error, results?.[0])
      answer(error, results?.[0])
    },
  )
}

function addToTransaction(
  ctx: NativeContext,
  reply: ProduceReply,
  index: number,
  batch: ProduceBatch,
  producer: Producer,
): void {
  const { partition, firstSequence } = requireSequenced(batch)
  const added = ctx.frontEnd.transactions.addRecords(
    producer,
    batch.stream,
    partition,
    batch.records.map(toRecordInput),
    firstSequence,
  )
  reply.set(
    index,
    0,
    added
      ? { batch: index, stream: batch.stream, partition }
      : { batch: index, stream: batch.stream, partition, duplicate: true },
  )
}
