import type { RecordRow } from '../log/partition-log.ts'
import { decodeHeaders } from '../log/record-codec.ts'
import type { RecordHeader } from '../log/types.ts'
import {
  batchHeaderBytes,
  fieldSize,
  sealBatch,
  varSize,
  writeField,
  writeVar,
  type RecordBatch,
} from './record-batch.ts'
import { ProvenanceEncoder, provenanceNames, type Provenance } from './replication-policy.ts'

// The mirror's hot path: stored rows straight into one Kafka record batch (record-batch.ts), with each
// record's user headers followed by its provenance headers (replication-policy.ts, same order and
// values as ProvenanceEncoder.headers). What is the same for every record of a partition is encoded
// once; the two per-record values (local offset and timestamp) are written as ASCII digits in place.

export interface MirrorBatch extends RecordBatch {
  /** Key and value bytes of the records (the cursor's confirmedBytes counts these). */
  readonly payloadBytes: number
}

export interface MirrorBatchOptions {
  /** Marks every record as a possible duplicate (em.redelivered: the at-least-once fallback). */
  redelivered: boolean
  /** Local records evicted right before the first one (em.gap.before on the first record). */
  gapBefore: number
  /** The Kafka timestamp of every record (timestamp mode `send`); null: each record's own (mode `origin`). */
  sendTimestampMs: number | null
}

/** A header as it goes on the wire: name field then value field. */
function headerField(name: string, value: Uint8Array): Buffer {
  const nameBytes = Buffer.from(name)
  const buf = Buffer.allocUnsafe(fieldSize(nameBytes) + fieldSize(value))
  writeField(buf, writeField(buf, 0, nameBytes), value)
  return buf
}

function nameField(name: string): Buffer {
  const bytes = Buffer.from(name)
  const buf = Buffer.allocUnsafe(fieldSize(bytes))
  writeField(buf, 0, bytes)
  return buf
}

function digitCount(value: number): number {
  let digits = 1
  while (value >= 10) {
    value = Math.floor(value / 10)
    digits++
  }
  return digits
}

/** Writes `value` (a safe integer >= 0) as a length-prefixed ASCII decimal field. */
function writeDecimalField(buf: Buffer, at: number, value: number, digits: number): number {
  at = writeVar(buf, at, digits)
  for (let k = at + digits - 1; k >= at; k--) {
    buf[k] = 48 + (value % 10)
    value = Math.floor(value / 10)
  }
  return at + digits
}

const provenanceHeaderCount = 7

export class MirrorBatchEncoder {
  /** em.v, em.src, em.src.topic, em.src.part: name and value fields, back to back. */
  readonly #leading: Buffer
  readonly #offsetName = nameField(provenanceNames.offset)
  readonly #timestampName = nameField(provenanceNames.timestamp)
  /** em.src.epoch, name and value. */
  readonly #epoch: Buffer
  readonly #redelivered: Buffer
  readonly #gapName = nameField(provenanceNames.gapBefore)

  constructor(source: Pick<Provenance, 'gatewayAlias' | 'stream' | 'partition' | 'epoch'>) {
    const constant = new Map(new ProvenanceEncoder(source).headers(0n, 0, true))
    const field = (name: string): Buffer => {
      const value = constant.get(name)
      if (value === undefined) throw new Error(`provenance header ${name} missing`)
      return headerField(name, value)
    }
    const n = provenanceNames
    this.#leading = Buffer.concat([field(n.version), field(n.gateway), field(n.stream), field(n.partition)])
    this.#epoch = field(n.epoch)
    this.#redelivered = field(n.redelivered)
  }

  /**
   * Encodes `rows` from the first on, as many as fit in `maxBatchBytes` of record batch (at least one:
   * a record larger than the limit goes alone, for the broker to accept or refuse); `count` says how many.
   */
  encode(
    rows: readonly RecordRow[],
    options: MirrorBatchOptions,
    maxBatchBytes = Number.POSITIVE_INFINITY,
  ): MirrorBatch {
    const first = rows[0]
    if (first === undefined) throw new RangeError('a record batch needs at least one record')
    const { sendTimestampMs, gapBefore } = options
    const constantBytes =
      this.#leading.length +
      this.#offsetName.length +
      this.#timestampName.length +
      this.#epoch.length +
      (options.redelivered ? this.#redelivered.length : 0)
    const baseTimestamp = sendTimestampMs ?? first[1]
    let maxTimestamp = baseTimestamp
    let payloadBytes = 0
    const bodies = new Array<number>(rows.length)
    const userHeaders = new Array<RecordHeader[] | undefined>(rows.length)
    let size = batchHeaderBytes
    let count = rows.length
    for (let i = 0; i < rows.length; i++) {
      const [offset, localTimestamp, key, value, headerBytes] = rows[i] as RecordRow
      const timestamp = sendTimestampMs ?? localTimestamp
      const offsetDigits = digitCount(offset)
      const timestampDigits = digitCount(localTimestamp)
      let headerCount = provenanceHeaderCount + (options.redelivered ? 1 : 0)
      let body =
        1 +
        varSize(timestamp - baseTimestamp) +
        varSize(i) +
        fieldSize(key) +
        fieldSize(value) +
        constantBytes +
        varSize(offsetDigits) +
        offsetDigits +
        varSize(timestampDigits) +
        timestampDigits
      if (headerBytes !== null) {
        const headers = decodeHeaders(headerBytes)
        userHeaders[i] = headers
        headerCount += headers.length
        for (const h of headers) {
          const nameLength = Buffer.byteLength(h.key)
          body += varSize(nameLength) + nameLength + fieldSize(h.value)
        }
      }
      if (i === 0 && gapBefore > 0) {
        const gapDigits = digitCount(gapBefore)
        headerCount++
        body += this.#gapName.length + varSize(gapDigits) + gapDigits
      }
      body += varSize(headerCount)
      if (i > 0 && size + varSize(body) + body > maxBatchBytes) {
        count = i
        break
      }
      if (timestamp > maxTimestamp) maxTimestamp = timestamp
      payloadBytes += (key?.length ?? 0) + (value?.length ?? 0)
      bodies[i] = body
      size += varSize(body) + body
    }
    const buf = Buffer.allocUnsafe(size)
    let at = batchHeaderBytes
    let previousTimestamp = -1
    let previousTimestampAt = 0
    let previousTimestampBytes = 0
    for (let i = 0; i < count; i++) {
      const [offset, localTimestamp, key, value] = rows[i] as RecordRow
      const headers = userHeaders[i]
      at = writeVar(buf, at, bodies[i] as number)
      buf[at++] = 0 // attributes
      at = writeVar(buf, at, (sendTimestampMs ?? localTimestamp) - baseTimestamp)
      at = writeVar(buf, at, i)
      at = writeField(buf, at, key)
      at = writeField(buf, at, value)
      const gap = i === 0 && gapBefore > 0
      at = writeVar(
        buf,
        at,
        (headers?.length ?? 0) + provenanceHeaderCount + (options.redelivered ? 1 : 0) + (gap ? 1 : 0),
      )
      if (headers !== undefined) {
        for (const h of headers) {
          const nameLength = Buffer.byteLength(h.key)
          at = writeVar(buf, at, nameLength)
          at += buf.write(h.key, at, 'utf8')
          at = writeField(buf, at, h.value)
        }
      }
      at += this.#leading.copy(buf, at)
      at += this.#offsetName.copy(buf, at)
      at = writeDecimalField(buf, at, offset, digitCount(offset))
      at += this.#timestampName.copy(buf, at)
      // Records appended together share their timestamp: copy its digits rather than divide them out again.
      if (localTimestamp === previousTimestamp) {
        buf.copyWithin(at, previousTimestampAt, previousTimestampAt + previousTimestampBytes)
        at += previousTimestampBytes
      } else {
        previousTimestamp = localTimestamp
        previousTimestampAt = at
        at = writeDecimalField(buf, at, localTimestamp, digitCount(localTimestamp))
        previousTimestampBytes = at - previousTimestampAt
      }
      at += this.#epoch.copy(buf, at)
      if (options.redelivered) at += this.#redelivered.copy(buf, at)
      if (gap) {
        at += this.#gapName.copy(buf, at)
        at = writeDecimalField(buf, at, gapBefore, digitCount(gapBefore))
      }
    }
    if (at !== size) throw new Error(`mirror batch: wrote ${at} of ${size} bytes`)
    return { ...sealBatch(buf, count, baseTimestamp, maxTimestamp), payloadBytes }
  }
}
