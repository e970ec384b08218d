// Shared by the kill -9 test (log-kill9.test.ts) and its child (append-child.ts): the streams, a seeded
// RNG, and the one deterministic record per (seed, stream, partition, seq). The child sends exactly
// expectedRecord(...); the parent re-derives it for every offset it finds, so "intact" means byte-equal.
import type { LogRecord, RecordHeader, RecordInput } from '../../src/log/types.ts'

export const streams = [
  { name: 'durable', durability: 'fsync' },
  { name: 'fast', durability: 'os' },
] as const
export type StreamName = (typeof streams)[number]['name']
export const partitions = 3
export const maxBatchRecords = 20
export const maxPayloadBytes = 4096

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number
  /** Uniform integer in [lo, hi]. */
  int(lo: number, hi: number): number
}

/** mulberry32: tiny, fast, good enough to pick delays, partitions and payload sizes. */
export function makeRng(seed: number): Rng {
  let state = seed >>> 0
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return { next, int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)) }
}

/** A 32-bit mix of small non-negative integers (murmur3 finalizer per part). */
export function hash32(...parts: number[]): number {
  let h = 0x9e3779b9
  for (const part of parts) {
    h ^= part >>> 0
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
    h ^= h >>> 16
    h ^= Math.floor(part / 4294967296)
  }
  return h >>> 0
}

function fnv1a(bytes: Uint8Array, end: number): number {
  let h = 0x811c9dc5
  for (let i = 0; i < end; i++) h = Math.imul(h ^ (bytes[i] as number), 0x01000193)
  return h >>> 0
}

const poolBytes = 65536
const pools = new Map<number, Uint8Array>()

/** Random bytes per seed; each payload is a seq-chosen window of it, so re-deriving one is a copy. */
function pool(seed: number): Uint8Array {
  let bytes = pools.get(seed)
  if (bytes === undefined) {
    bytes = new Uint8Array(poolBytes + maxPayloadBytes)
    const rng = makeRng(hash32(seed, 0x706f6f6c))
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rng.next() * 256)
    pools.set(seed, bytes)
  }
  return bytes
}

// value = magic(4) stream(1) partition(1) seq(u32) payloadLength(u16) payload checksum(u32, FNV-1a of all before)
const magic = [0x4b, 0x39, 0x76, 0x31] // "K9v1"
const headerBytes = 12
const utf8 = new TextEncoder()

export interface ExpectedRecord {
  key: Uint8Array | null
  value: Uint8Array
  headers: RecordHeader[]
  meta: unknown
}

export function expectedRecord(seed: number, stream: number, partition: number, seq: number): ExpectedRecord {
  const h = hash32(seed, stream, partition, seq)
  // Mostly small records (the MQTT-telemetry shape), a quarter of them up to maxPayloadBytes.
  const length = (h & 3) === 0 ? hash32(h, 1) % (maxPayloadBytes + 1) : hash32(h, 1) % 97
  const start = hash32(h, 2) % poolBytes
  const value = new Uint8Array(headerBytes + length + 4)
  const view = new DataView(value.buffer)
  value.set(magic, 0)
  view.setUint8(4, stream)
  view.setUint8(5, partition)
  view.setUint32(6, seq)
  view.setUint16(10, length)
  value.set(pool(seed).subarray(start, start + length), headerBytes)
  view.setUint32(headerBytes + length, fnv1a(value, headerBytes + length))
  const seqBytes = new Uint8Array(4)
  new DataView(seqBytes.buffer).setUint32(0, seq)
  return {
    key: seq % 7 === 3 ? null : utf8.encode(`${stream}:${partition}:${seq}`),
    value,
    headers: seq % 5 === 0 ? [{ key: 'k9-seq', value: seqBytes }] : [],
    meta: seq % 3 === 0 ? { seq, topic: `k9/${partition}` } : undefined,
  }
}

/** The RecordInput that sends `expected` (optional fields left out, not undefined). */
export function toInput(expected: ExpectedRecord): RecordInput {
  const input: RecordInput = { key: expected.key, value: expected.value }
  if (expected.headers.length > 0) input.headers = expected.headers
  if (expected.meta !== undefined) input.meta = expected.meta
  return input
}

export interface DecodedValue {
  stream: number
  partition: number
  seq: number
  checksumOk: boolean
}

/** Reads the identity out of a stored value; a string says why it is not one of ours at all. */
export function decodeValue(value: Uint8Array | null): DecodedValue | string {
  if (value === null) return 'value is null'
  if (value.length < headerBytes + 4) return `value has only ${value.length} bytes`
  if (magic.some((b, i) => value[i] !== b)) return 'value does not start with the test magic'
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength)
  const length = view.getUint16(10)
  if (value.length !== headerBytes + length + 4)
    return `value is ${value.length} bytes but its header says ${headerBytes + length + 4}`
  return {
    stream: view.getUint8(4),
    partition: view.getUint8(5),
    seq: view.getUint32(6),
    checksumOk: view.getUint32(headerBytes + length) === fnv1a(value, headerBytes + length),
  }
}

function sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b)
}

/** null when `actual` is exactly `expected`; otherwise which parts differ. */
export function recordDifference(actual: LogRecord, expected: ExpectedRecord): string | null {
  const problems: string[] = []
  if (!sameBytes(actual.value, expected.value)) problems.push('value bytes differ')
  if (!sameBytes(actual.key, expected.key)) problems.push('key differs')
  const headersSame =
    actual.headers.length === expected.headers.length &&
    actual.headers.every((h, i) => {
      const e = expected.headers[i]
      return e !== undefined && h.key === e.key && sameBytes(h.value, e.value)
    })
  if (!headersSame) problems.push('headers differ')
  if (JSON.stringify(actual.meta) !== JSON.stringify(expected.meta)) problems.push('meta differs')
  return problems.length === 0 ? null : problems.join(', ')
}
