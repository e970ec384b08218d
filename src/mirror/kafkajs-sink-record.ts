// Part of the kafkajs sink (the only place kafkajs is touched; see kafkajs-sink.ts). kafkajs 2.2.4
// encodes each record of a Produce request with a fresh Encoder per record and per header, each
// zero-filling a 512-byte buffer: half of the mirror's CPU went there (BENCHMARKS.md, mirror drain).
// This replaces that one module, before kafkajs loads it, with an encoder that writes each record
// (Kafka record format v2: varint lengths, zigzag) into one exactly sized buffer. Anything it was not
// written for (a non-number timestamp delta, keys or values that are neither bytes nor strings) goes
// to the original. Must be imported before `kafkajs`.
import { createRequire } from 'node:module'

/** Headers as ordered name/value pairs, marked so the encoder knows they are not kafkajs's object form. */
export const headerPairsMark = Symbol('cairn.headerPairs')
export type HeaderPairs = Array<[string, Buffer]> & { readonly [headerPairsMark]: true }

interface RecordInput {
  offsetDelta?: number
  timestampDelta?: unknown
  key?: unknown
  value?: unknown
  headers?: Record<string, unknown> | HeaderPairs
}

function isHeaderPairs(headers: unknown): headers is HeaderPairs {
  return Array.isArray(headers) && headerPairsMark in headers
}

/** What kafkajs's RecordBatch reads from an encoded record (Encoder#writeEncoderArray uses `buf`, `buffer`). */
interface EncodedRecord {
  buf: Buffer
  buffer: Buffer
}

type RecordEncoder = (input: RecordInput) => EncodedRecord

const require = createRequire(import.meta.url)
const modulePath = require.resolve('kafkajs/src/protocol/recordBatch/record/v0/index.js')
const original = require(modulePath) as RecordEncoder
const cached = require.cache[modulePath]
if (cached === undefined) throw new Error('kafkajs record encoder: module not in the require cache')

type Field = Buffer | null

function asField(value: unknown): Field | undefined {
  if (value === null || value === undefined) return null
  if (Buffer.isBuffer(value)) return value
  if (typeof value === 'string') return Buffer.from(value)
  return undefined
}

/** Size of a zigzag varint/varlong of a safe integer. */
function varSize(value: number): number {
  let z = value >= 0 ? value * 2 : -value * 2 - 1
  let size = 1
  while (z >= 128) {
    z = Math.floor(z / 128)
    size++
  }
  return size
}

function writeVar(buf: Buffer, at: number, value: number): number {
  let z = value >= 0 ? value * 2 : -value * 2 - 1
  while (z >= 128) {
    buf[at++] = (z % 128) | 0x80
    z = Math.floor(z / 128)
  }
  buf[at++] = z
  return at
}

// Header names repeat on every record (em.src, em.src.off, ...): encode each once.
const nameCache = new Map<string, Buffer>()
function nameBytes(name: string): Buffer {
  let bytes = nameCache.get(name)
  if (bytes === undefined) {
    bytes = Buffer.from(name)
    if (nameCache.size < 1024) nameCache.set(name, bytes)
  }
  return bytes
}

function fieldSize(field: Field): number {
  return field === null ? 1 : varSize(field.length) + field.length
}

function writeField(buf: Buffer, at: number, field: Field): number {
  if (field === null) return writeVar(buf, at, -1)
  at = writeVar(buf, at, field.length)
  field.copy(buf, at)
  return at + field.length
}

export const encodeRecord: RecordEncoder = (input) => {
  const { offsetDelta = 0, timestampDelta = 0, headers = {} } = input
  const key = asField(input.key)
  const value = asField(input.value)
  if (
    typeof timestampDelta !== 'number' ||
    !Number.isSafeInteger(timestampDelta) ||
    Math.abs(timestampDelta) > 2 ** 51 ||
    key === undefined ||
    value === undefined
  ) {
    // Header pairs are ours: the original encoder cannot read them.
    if (isHeaderPairs(headers)) throw new TypeError('record encoder: unexpected timestamp delta, key or value')
    return original(input)
  }
  const names: Buffer[] = []
  const values: Field[] = []
  if (isHeaderPairs(headers)) {
    for (const [name, value] of headers) {
      names.push(nameBytes(name))
      values.push(value)
    }
  } else {
    // Flattened like kafkajs does: a name with an array value is that header repeated.
    for (const name of Object.keys(headers)) {
      const raw = headers[name]
      for (const v of Array.isArray(raw) ? (raw as unknown[]) : [raw]) {
        const field = asField(v)
        if (field === undefined) return original(input)
        names.push(nameBytes(name))
        values.push(field)
      }
    }
  }
  let body =
    1 + varSize(timestampDelta) + varSize(offsetDelta) + fieldSize(key) + fieldSize(value) + varSize(names.length)
  for (let i = 0; i < names.length; i++) body += fieldSize(names[i] as Buffer) + fieldSize(values[i] as Field)
  const buf = Buffer.allocUnsafe(varSize(body) + body)
  let at = writeVar(buf, 0, body)
  buf[at++] = 0 // attributes
  at = writeVar(buf, at, timestampDelta)
  at = writeVar(buf, at, offsetDelta)
  at = writeField(buf, at, key)
  at = writeField(buf, at, value)
  at = writeVar(buf, at, names.length)
  for (let i = 0; i < names.length; i++) {
    at = writeField(buf, at, names[i] as Buffer)
    at = writeField(buf, at, values[i] as Field)
  }
  if (at !== buf.length) throw new Error(`kafkajs record encoder: wrote ${at} of ${buf.length} bytes`)
  return { buf, buffer: buf }
}

/** The original, for the equivalence test. */
export const originalEncodeRecord: RecordEncoder = original

cached.exports = encodeRecord
