import { BrokerError } from '../errors.ts'

/*
 * MirrorMaker 2's record formats for its internal topics (mirror.md A1.3), so that Java consumers
 * can use RemoteClusterUtils.translateOffsets() and MirrorClient against what a gateway writes.
 * They are Kafka's protocol `Schema` types: big-endian, no varints,
 * STRING = INT16 length N (non-negative) + N bytes of UTF-8.
 *
 * OffsetSync  topic mm2-offset-syncs.<alias>.internal, partition 0
 *   key   = STRING topic | INT32 partition
 *   value = INT64 upstreamOffset | INT64 offset                       (no version field)
 * Checkpoint  topic <alias>.checkpoints.internal, partition 0
 *   key   = STRING group | STRING topic | INT32 partition             (topic: the upstream (remote) name)
 *   value = INT16 version (0) | INT64 upstreamOffset | INT64 offset | STRING metadata
 * Heartbeat   topic <alias>.heartbeats
 *   key   = STRING sourceClusterAlias | STRING targetClusterAlias
 *   value = INT16 version (0) | INT64 timestamp (ms)
 *
 * In MM2's naming "upstream" is the source cluster (for us: the gateway's local log) and "offset"
 * is the downstream (Kafka) one. Decoders are strict: a short or over-long buffer, an unknown
 * version or bad UTF-8 is CAIRN_REQUEST_INVALID naming the record and field.
 */

export interface Checkpoint {
  group: string
  /** The upstream (Kafka) topic the group's position applies to. */
  topic: string
  partition: number
  /** The local committed position (MM2: the source cluster's offset). */
  upstreamOffset: bigint
  /** The translated position on the Kafka cluster. */
  offset: bigint
  metadata: string
}

export interface Heartbeat {
  sourceAlias: string
  targetAlias: string
  timestampMs: number
}

export interface OffsetSync {
  topic: string
  partition: number
  upstreamOffset: bigint
  offset: bigint
}

export interface EncodedRecord {
  key: Uint8Array
  value: Uint8Array
}

const formatVersion = 0

export function encodeCheckpoint(c: Checkpoint): EncodedRecord {
  const key = new Writer('Checkpoint key').string('group', c.group).string('topic', c.topic).int32(c.partition)
  const value = new Writer('Checkpoint value')
    .int16(formatVersion)
    .int64(c.upstreamOffset)
    .int64(c.offset)
    .string('metadata', c.metadata)
  return { key: key.bytes(), value: value.bytes() }
}

export function decodeCheckpoint(key: Uint8Array, value: Uint8Array): Checkpoint {
  const k = new Reader('Checkpoint key', key)
  const group = k.string('group')
  const topic = k.string('topic')
  const partition = k.int32('partition')
  k.end()
  const v = new Reader('Checkpoint value', value)
  v.version()
  const upstreamOffset = v.int64('upstreamOffset')
  const offset = v.int64('offset')
  const metadata = v.string('metadata')
  v.end()
  return { group, topic, partition, upstreamOffset, offset, metadata }
}

export function encodeHeartbeat(h: Heartbeat): EncodedRecord {
  if (!Number.isSafeInteger(h.timestampMs)) throw new RangeError(`timestamp ${h.timestampMs} is not an integer`)
  const key = new Writer('Heartbeat key').string('sourceAlias', h.sourceAlias).string('targetAlias', h.targetAlias)
  const value = new Writer('Heartbeat value').int16(formatVersion).int64(BigInt(h.timestampMs))
  return { key: key.bytes(), value: value.bytes() }
}

export function decodeHeartbeat(key: Uint8Array, value: Uint8Array): Heartbeat {
  const k = new Reader('Heartbeat key', key)
  const sourceAlias = k.string('sourceAlias')
  const targetAlias = k.string('targetAlias')
  k.end()
  const v = new Reader('Heartbeat value', value)
  v.version()
  const timestamp = v.int64('timestamp')
  v.end()
  if (timestamp < BigInt(Number.MIN_SAFE_INTEGER) || timestamp > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw invalid('Heartbeat value', 'timestamp', `${timestamp} is not a millisecond time`)
  }
  return { sourceAlias, targetAlias, timestampMs: Number(timestamp) }
}

export function encodeOffsetSync(s: OffsetSync): EncodedRecord {
  const key = new Writer('OffsetSync key').string('topic', s.topic).int32(s.partition)
  const value = new Writer('OffsetSync value').int64(s.upstreamOffset).int64(s.offset)
  return { key: key.bytes(), value: value.bytes() }
}

export function decodeOffsetSync(key: Uint8Array, value: Uint8Array): OffsetSync {
  const k = new Reader('OffsetSync key', key)
  const topic = k.string('topic')
  const partition = k.int32('partition')
  k.end()
  const v = new Reader('OffsetSync value', value)
  const upstreamOffset = v.int64('upstreamOffset')
  const offset = v.int64('offset')
  v.end()
  return { topic, partition, upstreamOffset, offset }
}

// ---- the three primitive types ----

const maxStringBytes = 0x7fff // INT16 length
const minInt64 = -(1n << 63n)
const maxInt64 = (1n << 63n) - 1n
const utf8 = new TextDecoder('utf-8', { fatal: true })

function invalid(record: string, field: string, problem: string): BrokerError {
  return new BrokerError('CAIRN_REQUEST_INVALID', `${record}: field ${field}: ${problem}`, {
    details: { record, field },
  })
}

class Writer {
  readonly #record: string
  readonly #parts: Buffer[] = []

  constructor(record: string) {
    this.#record = record
  }

  // Names come from users (group names, metadata): too long is bad input, not a programmer error.
  string(field: string, value: string): this {
    const bytes = Buffer.from(value, 'utf8')
    if (bytes.length > maxStringBytes) {
      throw invalid(this.#record, field, `${bytes.length} bytes of UTF-8, the format allows ${maxStringBytes}`)
    }
    const length = Buffer.alloc(2)
    length.writeInt16BE(bytes.length)
    this.#parts.push(length, bytes)
    return this
  }

  int16(value: number): this {
    const b = Buffer.alloc(2)
    b.writeInt16BE(value) // throws RangeError outside INT16
    this.#parts.push(b)
    return this
  }

  int32(value: number): this {
    const b = Buffer.alloc(4)
    b.writeInt32BE(value) // throws RangeError outside INT32 or for a fraction
    this.#parts.push(b)
    return this
  }

  int64(value: bigint): this {
    if (value < minInt64 || value > maxInt64) throw new RangeError(`${value} does not fit INT64`)
    const b = Buffer.alloc(8)
    b.writeBigInt64BE(value)
    this.#parts.push(b)
    return this
  }

  bytes(): Uint8Array {
    return Buffer.concat(this.#parts)
  }
}

class Reader {
  readonly #record: string
  readonly #view: DataView
  readonly #bytes: Uint8Array
  #at = 0

  constructor(record: string, bytes: Uint8Array) {
    this.#record = record
    this.#bytes = bytes
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  #take(field: string, n: number): number {
    const left = this.#bytes.length - this.#at
    if (left < n) throw invalid(this.#record, field, `truncated (needs ${n} bytes at byte ${this.#at}, has ${left})`)
    const at = this.#at
    this.#at += n
    return at
  }

  version(): void {
    const version = this.#view.getInt16(this.#take('version', 2))
    // MM2 only defines version 0 and refuses others; so do we rather than misread a newer layout.
    if (version !== formatVersion) throw invalid(this.#record, 'version', `unsupported version ${version}`)
  }

  int32(field: string): number {
    return this.#view.getInt32(this.#take(field, 4))
  }

  int64(field: string): bigint {
    return this.#view.getBigInt64(this.#take(field, 8))
  }

  string(field: string): string {
    const length = this.#view.getInt16(this.#take(field, 2))
    if (length < 0) throw invalid(this.#record, field, `negative length ${length}`)
    const at = this.#take(field, length)
    try {
      return utf8.decode(this.#bytes.subarray(at, at + length))
    } catch {
      throw invalid(this.#record, field, 'not valid UTF-8')
    }
  }

  end(): void {
    const left = this.#bytes.length - this.#at
    if (left !== 0) throw invalid(this.#record, 'end', `${left} unexpected bytes after the last field`)
  }
}
