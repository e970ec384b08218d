import { Encoder } from 'cbor-x'
import type { RecordHeader } from './types.ts'

// Pinned cbor-x options: plain CBOR maps and arrays (no cbor-x record extension, no shared
// structures), so anything stored can be read by any CBOR decoder and by future versions of us.
const codec = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false, pack: false })

type EncodedHeader = [string, Uint8Array]

export function encodeHeaders(headers: readonly RecordHeader[] | undefined): Uint8Array | null {
  if (headers === undefined || headers.length === 0) return null
  const pairs: EncodedHeader[] = headers.map((h) => [h.key, h.value])
  return codec.encode(pairs)
}

export function decodeHeaders(bytes: Uint8Array | null): RecordHeader[] {
  if (bytes === null) return []
  const pairs = codec.decode(bytes) as EncodedHeader[]
  return pairs.map(([key, value]) => ({ key, value }))
}

export function encodeMeta(meta: unknown): Uint8Array | null {
  return meta === undefined ? null : codec.encode(meta)
}

export function decodeMeta(bytes: Uint8Array | null): unknown {
  return bytes === null ? undefined : codec.decode(bytes)
}
