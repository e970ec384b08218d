import { crc32c } from './crc32c.ts'
import type { UpstreamRecord } from './kafka-sink.ts'

// Kafka's record batch (magic 2), uncompressed, encoded by us into one exactly sized buffer: the
// mirror hands sinks finished bytes, so no Kafka client builds objects per record on the hot path.
//
//   RecordBatch = baseOffset:int64 batchLength:int32 partitionLeaderEpoch:int32 magic:int8 crc:uint32
//                 attributes:int16 lastOffsetDelta:int32 baseTimestamp:int64 maxTimestamp:int64
//                 producerId:int64 producerEpoch:int16 baseSequence:int32 recordCount:int32 Record*
//   Record      = length:varint attributes:int8 timestampDelta:varlong offsetDelta:varint
//                 keyLength:varint key valueLength:varint value headerCount:varint Header*
//   Header      = nameLength:varint name valueLength:varint value
//
// varint/varlong are zigzag LEB128; a null key or value has length -1. The CRC-32C covers attributes
// to the end. Producer id, epoch and sequence are -1 (not idempotent) and the leader epoch -1, as the
// Java producer writes them; the broker assigns offsets and ignores baseOffset.

/** One encoded record batch and what it holds. */
export interface RecordBatch {
  readonly bytes: Buffer
  readonly count: number
}

export const batchHeaderBytes = 61
const batchLengthAt = 8
const crcAt = 17
const attributesAt = 21

/** Bytes of a zigzag varint/varlong of a safe integer. */
export function varSize(value: number): number {
  let z = value >= 0 ? value * 2 : -value * 2 - 1
  let size = 1
  while (z >= 128) {
    z = Math.floor(z / 128)
    size++
  }
  return size
}

export function writeVar(buf: Buffer, at: number, value: number): number {
  let z = value >= 0 ? value * 2 : -value * 2 - 1
  while (z >= 128) {
    buf[at++] = (z % 128) | 0x80
    z = Math.floor(z / 128)
  }
  buf[at++] = z
  return at
}

/** Bytes of a length-prefixed field (null: length -1). */
export function fieldSize(field: Uint8Array | null): number {
  return field === null ? 1 : varSize(field.length) + field.length
}

export function writeField(buf: Buffer, at: number, field: Uint8Array | null): number {
  if (field === null) return writeVar(buf, at, -1)
  at = writeVar(buf, at, field.length)
  buf.set(field, at)
  return at + field.length
}

/** Writes the batch header over bytes [0, 61) once the records are in place, CRC last. */
export function sealBatch(buf: Buffer, count: number, baseTimestampMs: number, maxTimestampMs: number): RecordBatch {
  buf.writeBigInt64BE(0n, 0)
  buf.writeInt32BE(buf.length - 12, batchLengthAt)
  buf.writeInt32BE(-1, 12) // partition leader epoch
  buf[16] = 2 // magic
  buf.writeInt16BE(0, attributesAt)
  buf.writeInt32BE(count - 1, 23)
  buf.writeBigInt64BE(BigInt(baseTimestampMs), 27)
  buf.writeBigInt64BE(BigInt(maxTimestampMs), 35)
  buf.writeBigInt64BE(-1n, 43) // producer id
  buf.writeInt16BE(-1, 51) // producer epoch
  buf.writeInt32BE(-1, 53) // base sequence
  buf.writeInt32BE(count, 57)
  buf.writeUInt32BE(crc32c(buf, attributesAt, buf.length), crcAt)
  return { bytes: buf, count }
}

function checkTimestamp(timestampMs: number): void {
  if (!Number.isSafeInteger(timestampMs) || timestampMs < 0) {
    throw new RangeError(`record timestamp must be a non-negative integer (ms), got ${timestampMs}`)
  }
}

/** Encodes records given as objects (checkpoints, heartbeats, tests); the mirror's own path is MirrorBatchEncoder. */
export function encodeRecordBatch(records: readonly UpstreamRecord[]): RecordBatch {
  const first = records[0]
  if (first === undefined) throw new RangeError('a record batch needs at least one record')
  const base = first.timestamp
  let maxTimestamp = base
  const names = records.map((r) => r.headers.map(([name]) => Buffer.from(name)))
  const bodies = records.map((record, i) => {
    checkTimestamp(record.timestamp)
    if (record.timestamp > maxTimestamp) maxTimestamp = record.timestamp
    const recordNames = names[i] as Buffer[]
    let body =
      1 +
      varSize(record.timestamp - base) +
      varSize(i) +
      fieldSize(record.key) +
      fieldSize(record.value) +
      varSize(record.headers.length)
    record.headers.forEach(([, value], h) => (body += fieldSize(recordNames[h] as Buffer) + fieldSize(value)))
    return body
  })
  const size = bodies.reduce((sum, body) => sum + varSize(body) + body, batchHeaderBytes)
  const buf = Buffer.allocUnsafe(size)
  let at = batchHeaderBytes
  records.forEach((record, i) => {
    at = writeVar(buf, at, bodies[i] as number)
    buf[at++] = 0 // attributes
    at = writeVar(buf, at, record.timestamp - base)
    at = writeVar(buf, at, i)
    at = writeField(buf, at, record.key)
    at = writeField(buf, at, record.value)
    at = writeVar(buf, at, record.headers.length)
    const recordNames = names[i] as Buffer[]
    record.headers.forEach(([, value], h) => {
      at = writeField(buf, at, recordNames[h] as Buffer)
      at = writeField(buf, at, value)
    })
  })
  if (at !== size) throw new Error(`record batch: wrote ${at} of ${size} bytes`)
  return sealBatch(buf, records.length, base, maxTimestamp)
}

/** A sink's input as a batch: records given as objects are encoded here. */
export function toRecordBatch(input: RecordBatch | readonly UpstreamRecord[]): RecordBatch {
  return isRecordArray(input) ? encodeRecordBatch(input) : input
}

function isRecordArray(input: RecordBatch | readonly UpstreamRecord[]): input is readonly UpstreamRecord[] {
  return Array.isArray(input)
}

/** Reads a batch back (the fake sink stores what it was sent; tests check what we encode). Verifies the CRC. */
export function decodeRecordBatch(bytes: Uint8Array): UpstreamRecord[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (buf.length < batchHeaderBytes) throw new RangeError('record batch: shorter than its header')
  if (buf.readInt32BE(batchLengthAt) !== buf.length - 12) throw new RangeError('record batch: wrong batch length')
  if (buf[16] !== 2) throw new RangeError(`record batch: magic ${buf[16]}, expected 2`)
  if (buf.readUInt32BE(crcAt) !== crc32c(buf, attributesAt, buf.length)) throw new RangeError('record batch: bad CRC')
  const base = Number(buf.readBigInt64BE(27))
  const count = buf.readInt32BE(57)
  let at = batchHeaderBytes
  const readVar = (): number => {
    let z = 0
    let scale = 1
    for (;;) {
      const byte = buf[at++]
      if (byte === undefined) throw new RangeError('record batch: truncated varint')
      z += (byte & 0x7f) * scale
      if (byte < 0x80) break
      scale *= 128
    }
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2
  }
  const readField = (): Uint8Array | null => {
    const length = readVar()
    if (length < 0) return null
    if (at + length > buf.length) throw new RangeError('record batch: truncated field')
    const field = new Uint8Array(buf.subarray(at, at + length))
    at += length
    return field
  }
  const records: UpstreamRecord[] = []
  for (let i = 0; i < count; i++) {
    const end = readVar() + at
    at++ // attributes
    const timestamp = base + readVar()
    if (readVar() !== i) throw new RangeError(`record batch: record ${i} has another offset delta`)
    const key = readField()
    const value = readField()
    const headers: Array<[string, Uint8Array]> = []
    for (let h = readVar(); h > 0; h--) {
      const name = readField()
      const headerValue = readField()
      if (name === null || headerValue === null) throw new RangeError('record batch: null header name or value')
      headers.push([Buffer.from(name).toString('utf8'), headerValue])
    }
    if (at !== end) throw new RangeError(`record batch: record ${i} length does not match its fields`)
    records.push({ key, value, headers, timestamp })
  }
  if (at !== buf.length) throw new RangeError('record batch: bytes after the last record')
  return records
}
