// An in-process upstream for unit tests of the mirror loop (mirror.md §B12.1 "FakeUpstream"): partitions
// are arrays, and every outcome the real sink can report can be programmed — including the ones the
// librdkafka mock cannot produce (a lost ack after the append, a poison batch, retention at will, a
// recreated topic).
import { BrokerError, type ErrorCode } from '../errors.ts'
import type { FetchedRecord, KafkaSink, UpstreamRecord } from './kafka-sink.ts'
import { decodeRecordBatch, toRecordBatch, type RecordBatch } from './record-batch.ts'

/**
 * - `unavailable`: nothing is appended; rejects CAIRN_UPSTREAM_UNAVAILABLE.
 * - `rejected`: nothing is appended; rejects CAIRN_UPSTREAM_REJECTED (a poison batch).
 * - `uncertain-appended`: the batch IS appended, then the call rejects CAIRN_UPSTREAM_UNCERTAIN (lost ack).
 * - `uncertain-not-appended`: nothing is appended; rejects CAIRN_UPSTREAM_UNCERTAIN (lost request).
 */
export type FakeFault = 'unavailable' | 'rejected' | 'uncertain-appended' | 'uncertain-not-appended'

export type FakeOperation = 'connect' | 'partitionCount' | 'send' | 'offsets' | 'read'

export interface FakeFaultOptions {
  /** Which operation the fault hits; default 'send'. The uncertain kinds apply to send only. */
  op?: FakeOperation
  topic?: string
  partition?: number
  /** How many matching calls fail in a row; default 1. */
  times?: number
  /** Kafka error name put in `details.kafkaError` (e.g. 'MESSAGE_TOO_LARGE'). */
  kafkaError?: string
}

export interface FakeSinkOptions {
  /** Partition count of topics created on first use; default 4 (like the librdkafka mock). */
  defaultPartitions?: number
  /** Create unknown topics on first use (the mock does); when false they are REJECTED. Default true. */
  autoCreateTopics?: boolean
  /** Records whose key + value + headers exceed this are REJECTED as MESSAGE_TOO_LARGE. Default none. */
  maxRecordBytes?: number
}

/** One call as the fake saw it: for assertions such as "nothing was resent". */
export interface FakeCall {
  op: FakeOperation
  topic?: string
  partition?: number
  /** send(): records in the batch. */
  records?: number
  /** send(): the base offset given, when the batch was appended (also for 'uncertain-appended'). */
  baseOffset?: bigint
  outcome: 'ok' | ErrorCode
}

interface FakePartition {
  /** Offset of records[0]. */
  logStart: bigint
  records: FetchedRecord[]
}

interface PendingFault extends FakeFaultOptions {
  kind: FakeFault
  remaining: number
}

export class FakeSink implements KafkaSink {
  /** While true every operation rejects CAIRN_UPSTREAM_UNAVAILABLE and nothing is appended. */
  down = false
  /** Every call, in order. */
  readonly calls: FakeCall[] = []
  readonly #defaultPartitions: number
  readonly #autoCreate: boolean
  /** Records larger than this (key + value + headers) are refused, MESSAGE_TOO_LARGE; tests may change it. */
  maxRecordBytes: number
  readonly #topics = new Map<string, FakePartition[]>()
  #faults: PendingFault[] = []
  #connected = false
  #closed = false

  constructor(options: FakeSinkOptions = {}) {
    this.#defaultPartitions = options.defaultPartitions ?? 4
    this.#autoCreate = options.autoCreateTopics ?? true
    this.maxRecordBytes = options.maxRecordBytes ?? Number.POSITIVE_INFINITY
  }

  get connected(): boolean {
    return this.#connected
  }

  // --- test controls -----------------------------------------------------------------------------

  /** The next matching call fails as `kind` (faults queue up in order). */
  failNext(kind: FakeFault, options: FakeFaultOptions = {}): this {
    const op = options.op ?? 'send'
    if (op !== 'send' && (kind === 'uncertain-appended' || kind === 'uncertain-not-appended')) {
      throw new RangeError(`${kind} only applies to send()`)
    }
    this.#faults.push({ ...options, op, kind, remaining: options.times ?? 1 })
    return this
  }

  /** Drops pending faults. */
  clearFaults(): void {
    this.#faults = []
  }

  /** Creates (or re-creates, empty) a topic — re-creating is the "upstream reset" case. */
  createTopic(topic: string, partitions = this.#defaultPartitions): void {
    this.#topics.set(
      topic,
      Array.from({ length: partitions }, () => ({ logStart: 0n, records: [] })),
    )
  }

  /** Retention: drops the earliest `count` records of the partition (log start advances). */
  dropEarliest(topic: string, partition: number, count: number): void {
    const p = this.#partition(topic, partition)
    const dropped = p.records.splice(0, Math.max(0, count))
    p.logStart += BigInt(dropped.length)
  }

  /** A write by someone else (another gateway sharing the partition); returns its base offset. */
  appendForeign(topic: string, partition: number, records: readonly UpstreamRecord[]): bigint {
    return this.#append(this.#ensureTopic(topic, partition), partition, records)
  }

  /** Copies of the retained records of a partition, with their offsets. */
  records(topic: string, partition: number): FetchedRecord[] {
    const p = this.#topics.get(topic)?.[partition]
    return p === undefined ? [] : p.records.map(copyRecord)
  }

  /** Sends that appended (including lost acks) and their sizes — "what reached upstream". */
  sends(topic?: string, partition?: number): FakeCall[] {
    return this.calls.filter(
      (c) =>
        c.op === 'send' &&
        (topic === undefined || c.topic === topic) &&
        (partition === undefined || c.partition === partition),
    )
  }

  // --- KafkaSink ---------------------------------------------------------------------------------

  async connect(): Promise<void> {
    await Promise.resolve()
    this.#gate('connect')
    this.#connected = true
    this.calls.push({ op: 'connect', outcome: 'ok' })
  }

  async partitionCount(topic: string): Promise<number> {
    await Promise.resolve()
    this.#gate('partitionCount', topic)
    const partitions = this.#topics.get(topic) ?? (this.#autoCreate ? this.#create(topic) : undefined)
    if (partitions === undefined) {
      throw this.#fail('partitionCount', 'CAIRN_UPSTREAM_REJECTED', `topic ${topic} does not exist`, topic, undefined, {
        kafkaError: 'UNKNOWN_TOPIC_OR_PARTITION',
      })
    }
    this.calls.push({ op: 'partitionCount', topic, outcome: 'ok' })
    return partitions.length
  }

  async send(topic: string, partition: number, input: RecordBatch | readonly UpstreamRecord[]): Promise<bigint> {
    // Through the wire format and back (CRC checked): every mirror test exercises the encoder, and the
    // records are copies the caller may not change while the call is pending.
    const batch = decodeRecordBatch(toRecordBatch(input).bytes)
    await Promise.resolve()
    const fault = this.#gate('send', topic, partition, batch.length)
    const partitions = this.#topics.get(topic) ?? (this.#autoCreate ? this.#create(topic) : undefined)
    if (partitions?.[partition] === undefined) {
      throw this.#fail('send', 'CAIRN_UPSTREAM_REJECTED', `${topic}[${partition}] does not exist`, topic, partition, {
        kafkaError: 'UNKNOWN_TOPIC_OR_PARTITION',
      })
    }
    const tooLarge = batch.find((r) => recordBytes(r) > this.maxRecordBytes)
    if (tooLarge !== undefined) {
      throw this.#fail('send', 'CAIRN_UPSTREAM_REJECTED', 'record too large', topic, partition, {
        kafkaError: 'MESSAGE_TOO_LARGE',
      })
    }
    if (fault === 'uncertain-not-appended') {
      throw this.#fail('send', 'CAIRN_UPSTREAM_UNCERTAIN', 'request lost (fake)', topic, partition, {}, batch.length)
    }
    const baseOffset = this.#append(partitions, partition, batch)
    if (fault === 'uncertain-appended') {
      this.calls.push({
        op: 'send',
        topic,
        partition,
        records: batch.length,
        baseOffset,
        outcome: 'CAIRN_UPSTREAM_UNCERTAIN',
      })
      throw new BrokerError('CAIRN_UPSTREAM_UNCERTAIN', `produce to ${topic}[${partition}]: ack lost (fake)`, {
        details: { topic, partition, fake: true },
      })
    }
    this.calls.push({ op: 'send', topic, partition, records: batch.length, baseOffset, outcome: 'ok' })
    return baseOffset
  }

  async offsets(topic: string, partition: number): Promise<{ earliest: bigint; latest: bigint }> {
    await Promise.resolve()
    this.#gate('offsets', topic, partition)
    const p = this.#existing('offsets', topic, partition)
    this.calls.push({ op: 'offsets', topic, partition, outcome: 'ok' })
    return { earliest: p.logStart, latest: p.logStart + BigInt(p.records.length) }
  }

  async read(
    topic: string,
    partition: number,
    from: bigint,
    until: bigint,
    maxRecords = Number.POSITIVE_INFINITY,
  ): Promise<FetchedRecord[]> {
    await Promise.resolve()
    this.#gate('read', topic, partition)
    const p = this.#existing('read', topic, partition)
    const start = from > p.logStart ? from : p.logStart
    const out: FetchedRecord[] = []
    for (let offset = start; offset < until && out.length < maxRecords; offset++) {
      const record = p.records[Number(offset - p.logStart)]
      if (record === undefined) break
      out.push(copyRecord(record))
    }
    this.calls.push({ op: 'read', topic, partition, outcome: 'ok' })
    return out
  }

  async close(): Promise<void> {
    await Promise.resolve()
    this.#connected = false
    this.#closed = true
  }

  // --- internals ---------------------------------------------------------------------------------

  /** Applies `down`, `closed` and programmed faults; returns the uncertain kinds for send() to act on. */
  #gate(op: FakeOperation, topic?: string, partition?: number, records?: number): FakeFault | undefined {
    if (this.#closed)
      throw this.#fail(op, 'CAIRN_UPSTREAM_UNAVAILABLE', 'the sink is closed', topic, partition, {}, records)
    if (this.down)
      throw this.#fail(op, 'CAIRN_UPSTREAM_UNAVAILABLE', 'upstream is down (fake)', topic, partition, {}, records)
    const index = this.#faults.findIndex(
      (f) =>
        f.op === op &&
        (f.topic === undefined || f.topic === topic) &&
        (f.partition === undefined || f.partition === partition),
    )
    const fault = this.#faults[index]
    if (fault === undefined) return undefined
    if (--fault.remaining <= 0) this.#faults.splice(index, 1)
    const details = fault.kafkaError === undefined ? {} : { kafkaError: fault.kafkaError }
    if (fault.kind === 'unavailable') {
      throw this.#fail(op, 'CAIRN_UPSTREAM_UNAVAILABLE', 'injected: unavailable', topic, partition, details, records)
    }
    if (fault.kind === 'rejected') {
      throw this.#fail(op, 'CAIRN_UPSTREAM_REJECTED', 'injected: rejected', topic, partition, details, records)
    }
    return fault.kind
  }

  #fail(
    op: FakeOperation,
    code: ErrorCode,
    message: string,
    topic: string | undefined,
    partition: number | undefined,
    details: Record<string, unknown> = {},
    records?: number,
  ): BrokerError {
    const call: FakeCall = { op, outcome: code }
    if (topic !== undefined) call.topic = topic
    if (partition !== undefined) call.partition = partition
    if (records !== undefined) call.records = records
    this.calls.push(call)
    const where = topic === undefined ? op : partition === undefined ? `${op} ${topic}` : `${op} ${topic}[${partition}]`
    return new BrokerError(code, `${where}: ${message}`, { details: { topic, partition, fake: true, ...details } })
  }

  #existing(op: FakeOperation, topic: string, partition: number): FakePartition {
    const p = this.#topics.get(topic)?.[partition] ?? (this.#autoCreate ? this.#create(topic)[partition] : undefined)
    if (p === undefined) {
      throw this.#fail(op, 'CAIRN_UPSTREAM_REJECTED', 'no such topic-partition', topic, partition, {
        kafkaError: 'UNKNOWN_TOPIC_OR_PARTITION',
      })
    }
    return p
  }

  #partition(topic: string, partition: number): FakePartition {
    const p = this.#topics.get(topic)?.[partition]
    if (p === undefined) throw new RangeError(`${topic}[${partition}] does not exist in the fake`)
    return p
  }

  #ensureTopic(topic: string, partition: number): FakePartition[] {
    const partitions = this.#topics.get(topic) ?? this.#create(topic)
    if (partitions[partition] === undefined) throw new RangeError(`${topic}[${partition}] does not exist in the fake`)
    return partitions
  }

  #create(topic: string): FakePartition[] {
    this.createTopic(topic)
    return this.#topics.get(topic) ?? []
  }

  #append(partitions: FakePartition[], partition: number, records: readonly UpstreamRecord[]): bigint {
    const p = partitions[partition]
    if (p === undefined) throw new RangeError(`partition ${partition} does not exist in the fake`)
    const base = p.logStart + BigInt(p.records.length)
    records.forEach((r, i) => p.records.push({ ...copyRecord(r), offset: base + BigInt(i) }))
    return base
  }
}

function copyRecord<T extends UpstreamRecord>(record: T): T {
  return {
    ...record,
    key: record.key === null ? null : record.key.slice(),
    value: record.value === null ? null : record.value.slice(),
    headers: record.headers.map(([name, value]) => [name, value.slice()] as [string, Uint8Array]),
  }
}

function recordBytes(record: UpstreamRecord): number {
  let size = (record.key?.byteLength ?? 0) + (record.value?.byteLength ?? 0)
  for (const [name, value] of record.headers) size += Buffer.byteLength(name) + value.byteLength
  return size
}
