import { BrokerError } from '../../errors.ts'
import { decodeValue, encodeValueTransient, wireValueProblem } from './codec.ts'

/*
  Native protocol framing (issue 4). Grammar in CDDL (RFC 8610); the byte layer first, since CDDL
  only describes the CBOR part.

  stream  = *frame                       ; frames back to back, either direction
  frame   = length item
  length  = 4 bytes, unsigned big-endian ; byte count of `item`, 1..maxFrameBytes;
                                         ; a larger length is refused before any body byte is read
                                         ; (CAIRN_FRAME_TOO_LARGE) and the connection is closed
  item    = exactly one CBOR data item (RFC 8949) filling the frame; trailing bytes, an empty
            frame, or anything below that is not plain wire data is CAIRN_FRAME_MALFORMED

  ; plain wire data: no Dates, no undefined, no unknown tags, no shared references, depth <= 64
  wire    = nil / bool / int / float / tstr / bstr / [* wire] / {* tstr => wire}

  The messages inside frames (request, response, hello) are specified in frames.ts.
*/

const lengthBytes = 4
const maxLength = 0xffff_ffff

function tooLarge(frameBytes: number, maxFrameBytes: number): BrokerError {
  return new BrokerError(
    'CAIRN_FRAME_TOO_LARGE',
    `frame of ${frameBytes} bytes exceeds the maximum of ${maxFrameBytes} bytes`,
    { details: { frameBytes, maxFrameBytes } },
  )
}

function malformed(frameBytes: number, reason: string, cause?: unknown): BrokerError {
  return new BrokerError('CAIRN_FRAME_MALFORMED', `malformed frame (${frameBytes} bytes): ${reason}`, {
    details: { frameBytes },
    ...(cause === undefined ? {} : { cause }),
  })
}

function checkMaxFrameBytes(maxFrameBytes: number): void {
  if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 1 || maxFrameBytes > maxLength) {
    throw new RangeError(`maxFrameBytes must be an integer in 1..${maxLength} (got ${maxFrameBytes})`)
  }
}

/**
 * Encodes one value as a frame: 4-byte big-endian length, then its CBOR. Refuses a value that is
 * not plain wire data (CAIRN_FRAME_MALFORMED) or whose CBOR exceeds `maxFrameBytes`
 * (CAIRN_FRAME_TOO_LARGE), so we never send what a peer with the same limit would refuse.
 */
export function encodeFrame(value: unknown, maxFrameBytes: number = maxLength): Buffer {
  checkMaxFrameBytes(maxFrameBytes)
  const problem = wireValueProblem(value, 'shared-ok')
  if (problem !== undefined) {
    throw new BrokerError('CAIRN_FRAME_MALFORMED', `cannot encode frame: ${problem}`, { details: { problem } })
  }
  const item = encodeValueTransient(value)
  if (item.length > maxFrameBytes) throw tooLarge(item.length, maxFrameBytes)
  const frame = Buffer.allocUnsafe(lengthBytes + item.length)
  frame.writeUInt32BE(item.length, 0)
  frame.set(item, lengthBytes)
  return frame
}

/** Decodes the body of one frame (the bytes after the length). Throws only BrokerError. */
export function decodeFrameBody(body: Uint8Array): unknown {
  if (body.length === 0) throw malformed(0, 'empty')
  let value: unknown
  try {
    value = decodeValue(body)
  } catch (cause) {
    throw malformed(body.length, 'not exactly one well-formed CBOR item', cause)
  }
  const problem = wireValueProblem(value)
  if (problem !== undefined) throw malformed(body.length, problem)
  return value
}

export interface FrameDecoderOptions {
  /** Largest accepted frame body (the CBOR item), in bytes. */
  maxFrameBytes: number
  /** Called with each complete decoded frame, in stream order. */
  onFrame: (value: unknown) => void
}

/**
 * Streaming frame decoder: feed it socket chunks of any size with `push`; it calls `onFrame` for
 * every complete frame. A frame may be split across chunks anywhere (down to byte by byte), and a
 * chunk may hold several frames.
 *
 * Errors: `push` throws only BrokerError CAIRN_FRAME_TOO_LARGE or CAIRN_FRAME_MALFORMED (the
 * length is checked as soon as its 4 bytes are in, before any body byte is kept). After such an
 * error the stream cannot be resynchronised: the decoder drops its buffer and every later `push`
 * throws the same error. An error thrown by `onFrame` propagates unchanged; the frame counts as
 * consumed and the rest of the chunk is processed on the next `push` (an empty chunk will do).
 *
 * Chunks are kept by reference until consumed, so do not reuse a pushed buffer.
 *
 * Memory: between calls it holds fewer than 4 + maxFrameBytes bytes (`bufferedBytes`); it never
 * allocates from a declared length, and copies a body only when it spans several chunks.
 */
export class FrameDecoder {
  readonly #maxFrameBytes: number
  readonly #onFrame: (value: unknown) => void
  #chunks: Uint8Array[] = []
  #buffered = 0
  #bodyBytes: number | undefined
  #error: BrokerError | undefined

  constructor(options: FrameDecoderOptions) {
    checkMaxFrameBytes(options.maxFrameBytes)
    this.#maxFrameBytes = options.maxFrameBytes
    this.#onFrame = options.onFrame
  }

  /** Bytes received but not yet part of a decoded frame. */
  get bufferedBytes(): number {
    return this.#buffered
  }

  push(chunk: Uint8Array): void {
    if (this.#error !== undefined) throw this.#error
    if (chunk.length > 0) {
      this.#chunks.push(chunk)
      this.#buffered += chunk.length
    }
    for (;;) {
      if (this.#bodyBytes === undefined) {
        if (this.#buffered < lengthBytes) return
        const header = this.#take(lengthBytes)
        const bodyBytes = new DataView(header.buffer, header.byteOffset, lengthBytes).getUint32(0)
        if (bodyBytes > this.#maxFrameBytes) this.#fail(tooLarge(bodyBytes, this.#maxFrameBytes))
        if (bodyBytes === 0) this.#fail(malformed(0, 'empty'))
        this.#bodyBytes = bodyBytes
      }
      if (this.#buffered < this.#bodyBytes) return
      const body = this.#take(this.#bodyBytes)
      this.#bodyBytes = undefined
      let value: unknown
      try {
        value = decodeFrameBody(body)
      } catch (error) {
        this.#fail(error as BrokerError)
      }
      this.#onFrame(value)
    }
  }

  #fail(error: BrokerError): never {
    this.#error = error
    this.#chunks = []
    this.#buffered = 0
    this.#bodyBytes = undefined
    throw error
  }

  /** Removes and returns the next `n` buffered bytes (`n` <= buffered). */
  #take(n: number): Uint8Array {
    const first = this.#chunks[0]
    if (first !== undefined && first.length >= n) {
      const out = first.subarray(0, n)
      if (first.length === n) this.#chunks.shift()
      else this.#chunks[0] = first.subarray(n)
      this.#buffered -= n
      return out
    }
    const out = new Uint8Array(n)
    let filled = 0
    while (filled < n) {
      const chunk = this.#chunks[0]
      if (chunk === undefined) throw new RangeError('FrameDecoder: take past the buffered bytes')
      const used = Math.min(n - filled, chunk.length)
      out.set(chunk.subarray(0, used), filled)
      filled += used
      if (used === chunk.length) this.#chunks.shift()
      else this.#chunks[0] = chunk.subarray(used)
    }
    this.#buffered -= n
    return out
  }
}
