import { Encoder } from 'cbor-x'

// The one CBOR codec of the native protocol. Options are pinned like the log's record codec
// (src/log/record-codec.ts): plain CBOR maps and arrays, no cbor-x record extension, no shared
// structures, no packing, byte strings untagged, so any CBOR library in any language can speak the
// protocol. One addition: `copyBuffers: true`, so a decoded byte string owns its memory instead of
// pinning (and aliasing) the socket chunk the frame arrived in.
//
// Maps get the shortest length header (`variableMapSize`), as RFC 8949's preferred serialization asks.
//
// Integers (decided here, relied on by every frame codec):
// - a JS `number` that is an integer encodes in the shortest CBOR integer form up to 32 bits; beyond
//   that cbor-x would write a float64, so encodeValue sends such safe integers (millisecond
//   timestamps) as 8-byte CBOR integers instead; a `bigint` always encodes as an 8-byte CBOR
//   integer (major type 0/1, additional info 27), whatever its magnitude;
// - decoding gives a `bigint` for every 8-byte CBOR integer (`int64AsNumber` stays off, so values
//   above 2^53 keep full precision) and a `number` for the shorter forms; bignum tags 2/3 decode to
//   `bigint`. `largeBigIntToFloat` stays off: a bigint never silently becomes a float.
// So our own peers see offsets (sent as bigint) come back as bigint, always. A foreign client may
// send a small offset in shortest form, so frame codecs read offsets with `readUint64`, which takes
// either and returns bigint.
const wireCodec = new Encoder({
  useRecords: false,
  mapsAsObjects: true,
  tagUint8Array: false,
  pack: false,
  copyBuffers: true,
  variableMapSize: true,
})

export const maxWireDepth = 64

const maxUint64 = (1n << 64n) - 1n

/** Encodes one value as CBOR. The result is a fresh Buffer owned by the caller. */
export function encodeValue(value: unknown): Buffer {
  return Buffer.from(encodeValueTransient(value))
}

/**
 * Encodes one value as CBOR into the encoder's own buffer: the result is valid only until the
 * next encode, so the caller copies it out at once (encodeFrame copies it behind the length).
 */
export function encodeValueTransient(value: unknown): Uint8Array {
  return wireCodec.encode(widenLargeIntegers(value, 0))
}

const int32Span = 0x1_0000_0000

/**
 * The value with every safe integer outside cbor-x's 32-bit integer range turned into a bigint, so
 * it is written as a CBOR integer, not a float64. Copy-on-write: the caller's objects are never
 * changed, and subtrees without such numbers are shared, not copied.
 */
function widenLargeIntegers(value: unknown, depth: number): unknown {
  if (typeof value === 'number') {
    return (value >= int32Span || value < -int32Span) && Number.isSafeInteger(value) ? BigInt(value) : value
  }
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array || depth > maxWireDepth) return value
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i]
      const widened = widenLargeIntegers(item, depth + 1)
      if (widened !== item) (copy ??= value.slice())[i] = widened
    }
    return copy ?? value
  }
  let copy: Record<string, unknown> | undefined
  for (const [key, item] of Object.entries(value)) {
    const widened = widenLargeIntegers(item, depth + 1)
    if (widened !== item) (copy ??= { ...value })[key] = widened
  }
  return copy ?? value
}

/**
 * Decodes exactly one CBOR data item filling `bytes`. Throws cbor-x's own errors (callers wrap
 * them); trailing bytes after the item are an error. Byte strings come back as plain Uint8Array
 * (never Buffer, whatever `bytes` is), copied out of `bytes`.
 */
export function decodeValue(bytes: Uint8Array): unknown {
  const plain = Object.getPrototypeOf(bytes) === Uint8Array.prototype
  return wireCodec.decode(plain ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length)) as unknown
}

/**
 * Checks that a value is plain wire data: null, boolean, number, bigint, string, Uint8Array, array
 * or plain object, no deeper than `maxWireDepth`. A decoded value must be a tree (no shared or
 * cyclic references, which CBOR tags 28/29 could build). A value to encode may share an object
 * between two places (it is simply written twice), but not contain itself. Returns the reason it
 * is not plain wire data, or undefined.
 */
export function wireValueProblem(value: unknown, sharing: 'tree' | 'shared-ok' = 'tree'): string | undefined {
  const seen = new Set<object>()
  const visit = (item: unknown, path: string, depth: number): string | undefined => {
    if (item === null) return undefined
    switch (typeof item) {
      case 'boolean':
      case 'number':
      case 'bigint':
      case 'string':
        return undefined
      case 'object':
        break
      default:
        return `unsupported ${typeof item} at ${path}`
    }
    if (depth >= maxWireDepth) return `nesting deeper than ${maxWireDepth} at ${path}`
    if (item instanceof Uint8Array) return undefined
    if (seen.has(item)) return `${sharing === 'tree' ? 'shared' : 'cyclic'} reference at ${path}`
    seen.add(item)
    const problem = visitChildren(item, path, depth)
    // With sharing allowed, `seen` holds only the ancestors: a repeat there is a cycle.
    if (sharing === 'shared-ok') seen.delete(item)
    return problem
  }
  const visitChildren = (item: object, path: string, depth: number): string | undefined => {
    if (Array.isArray(item)) {
      for (let i = 0; i < item.length; i++) {
        const problem = visit(item[i], `${path}[${i}]`, depth + 1)
        if (problem !== undefined) return problem
      }
      return undefined
    }
    const proto: unknown = Object.getPrototypeOf(item)
    if (proto !== Object.prototype && proto !== null) {
      const name = (item as { constructor?: { name?: unknown } }).constructor?.name
      return `unsupported ${typeof name === 'string' ? name : 'object'} at ${path}`
    }
    for (const [key, child] of Object.entries(item)) {
      const problem = visit(child, `${path}.${key}`, depth + 1)
      if (problem !== undefined) return problem
    }
    return undefined
  }
  return visit(value, '$', 0)
}

/** Reads an unsigned 64-bit integer sent either as a safe-integer number or as a bigint. */
export function readUint64(value: unknown): bigint | undefined {
  if (typeof value === 'bigint') return value >= 0n && value <= maxUint64 ? value : undefined
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value)
  return undefined
}
