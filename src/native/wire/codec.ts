import { Encoder } from 'cbor-x'

// The one CBOR codec of the native protocol. Options are pinned like the log's record codec
// (src/log/record-codec.ts): plain CBOR maps and arrays, no cbor-x record extension, no shared
// structures, no packing, byte strings untagged, so any CBOR library in any language can speak the
// protocol. One addition: `copyBuffers: true`, so a decoded byte string owns its memory instead of
// pinning (and aliasing) the socket chunk the frame arrived in.
//
// Integers (decided here, relied on by every frame codec):
// - a JS `number` encodes in the shortest CBOR integer form; a `bigint` always encodes as an
//   8-byte CBOR integer (major type 0/1, additional info 27), whatever its magnitude;
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
})

export const maxWireDepth = 64

const maxUint64 = (1n << 64n) - 1n

/** Encodes one value as CBOR. The result is a fresh Buffer owned by the caller. */
export function encodeValue(value: unknown): Buffer {
  return Buffer.from(wireCodec.encode(value))
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
 * Checks that a decoded value is plain wire data: null, boolean, number, bigint, string,
 * Uint8Array, array or plain object, as a tree (no shared or cyclic references, which CBOR tags
 * 28/29 could build) no deeper than `maxWireDepth`. Returns the reason it is not, or undefined.
 */
export function wireValueProblem(value: unknown): string | undefined {
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
    if (seen.has(item)) return `shared reference at ${path}`
    seen.add(item)
    if (item instanceof Uint8Array) return undefined
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
