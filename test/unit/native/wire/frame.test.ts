import { describe, expect, test } from 'vitest'
import { type BrokerError, isBrokerError } from '../../../../src/errors.ts'
import { FrameDecoder, decodeFrameBody, encodeFrame } from '../../../../src/native/wire/frame.ts'

const ascii = (s: string): number[] => [...Buffer.from(s, 'ascii')]
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

// Golden frames: annotated bytes, each tested four ways (parse, generate, mirror, stream-write).
// Maps carry the shortest length header (0xa0 + n), and an integer beyond 32 bits is an 8-byte
// CBOR integer, never a float.
// prettier-ignore
const golden = [
  {
    name: 'hello request',
    value: { v: 1, id: 1, op: 'hello', body: { versions: [1], clientId: 'dev-1' } },
    bytes: [
      0x00, 0x00, 0x00, 0x31, // length 49
      0xa4, // map(4)
      0x61, ...ascii('v'), 0x01, // "v": 1
      0x62, ...ascii('id'), 0x01, // "id": 1
      0x62, ...ascii('op'), 0x65, ...ascii('hello'), // "op": "hello"
      0x64, ...ascii('body'), 0xa2, // "body": map(2)
      0x68, ...ascii('versions'), 0x81, 0x01, // "versions": [1]
      0x68, ...ascii('clientId'), 0x65, ...ascii('dev-1'), // "clientId": "dev-1"
    ],
  },
  {
    name: 'response with a bigint offset above 2^53 and a byte string',
    value: { id: 7, status: 0, body: { offset: 2n ** 53n + 1n, value: Uint8Array.of(0xde, 0xad) } },
    bytes: [
      0x00, 0x00, 0x00, 0x2c, // length 44
      0xa3, // map(3)
      0x62, ...ascii('id'), 0x07, // "id": 7
      0x66, ...ascii('status'), 0x00, // "status": 0
      0x64, ...ascii('body'), 0xa2, // "body": map(2)
      0x66, ...ascii('offset'), 0x1b, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, // "offset": uint64 2^53+1
      0x65, ...ascii('value'), 0x42, 0xde, 0xad, // "value": h'dead'
    ],
  },
  {
    name: 'error response',
    value: { id: 8, status: 1, error: { code: 'CAIRN_STREAM_NOT_FOUND', message: 'no s', retriable: false } },
    bytes: [
      0x00, 0x00, 0x00, 0x48, // length 72
      0xa3, // map(3)
      0x62, ...ascii('id'), 0x08, // "id": 8
      0x66, ...ascii('status'), 0x01, // "status": 1
      0x65, ...ascii('error'), 0xa3, // "error": map(3)
      0x64, ...ascii('code'), 0x76, ...ascii('CAIRN_STREAM_NOT_FOUND'), // "code": tstr(22)
      0x67, ...ascii('message'), 0x64, ...ascii('no s'), // "message": "no s"
      0x69, ...ascii('retriable'), 0xf4, // "retriable": false
    ],
  },
] as const

function collect(maxFrameBytes = 1024): { decoder: FrameDecoder; frames: unknown[] } {
  const frames: unknown[] = []
  const decoder = new FrameDecoder({ maxFrameBytes, onFrame: (value) => frames.push(value) })
  return { decoder, frames }
}

function thrown(fn: () => unknown): BrokerError {
  try {
    fn()
  } catch (error) {
    if (isBrokerError(error)) return error
    throw error
  }
  throw new Error('expected a BrokerError')
}

describe('frame - golden bytes', () => {
  for (const g of golden) {
    test(`frame - ${g.name}: parse`, () => {
      const { decoder, frames } = collect()
      decoder.push(Uint8Array.from(g.bytes))
      expect(frames).toEqual([g.value])
      expect(decoder.bufferedBytes).toBe(0)
    })

    test(`frame - ${g.name}: generate (hex compare)`, () => {
      expect(hex(encodeFrame(g.value))).toBe(hex(Uint8Array.from(g.bytes)))
    })

    test(`frame - ${g.name}: mirror`, () => {
      const body = encodeFrame(g.value).subarray(4)
      expect(decodeFrameBody(body)).toEqual(g.value)
    })

    test(`frame - ${g.name}: stream-write byte by byte`, () => {
      const { decoder, frames } = collect()
      for (const byte of g.bytes) {
        expect(frames).toHaveLength(0)
        decoder.push(Uint8Array.of(byte))
      }
      expect(frames).toEqual([g.value])
      expect(decoder.bufferedBytes).toBe(0)
    })
  }

  test('frame - several frames per chunk, and split at every position', () => {
    const all = Buffer.concat(golden.map((g) => Uint8Array.from(g.bytes)))
    const values = golden.map((g) => g.value)
    const whole = collect()
    whole.decoder.push(all)
    expect(whole.frames).toEqual(values)
    for (let cut = 0; cut <= all.length; cut++) {
      const { decoder, frames } = collect()
      decoder.push(all.subarray(0, cut))
      decoder.push(all.subarray(cut))
      expect(frames).toEqual(values)
      expect(decoder.bufferedBytes).toBe(0)
    }
  })

  test('frame - integers: a bigint decodes as bigint, a small number as number, a large number as a CBOR integer', () => {
    const { decoder, frames } = collect()
    decoder.push(encodeFrame([5n, 5, 2n ** 64n - 1n, -3n, 2 ** 40, 1.5]))
    // 2^40 goes out as an 8-byte integer (not a float64), so it comes back as bigint.
    expect(frames).toEqual([[5n, 5, 2n ** 64n - 1n, -3n, 2n ** 40n, 1.5]])
    expect(hex(encodeFrame(1_700_000_000_000))).toBe('000000091b0000018bcfe56800')
    const shared = { ts: 2 ** 40 }
    encodeFrame([shared])
    expect(shared.ts).toBe(2 ** 40)
    const bytes = decodeFrameBody(Uint8Array.of(0x42, 0x01, 0x02))
    expect(Object.getPrototypeOf(bytes)).toBe(Uint8Array.prototype)
  })

  test('frame - a decoded byte string does not alias the pushed chunk', () => {
    const { decoder, frames } = collect()
    const chunk = encodeFrame(Buffer.from([1, 2, 3]))
    decoder.push(chunk)
    chunk.fill(0)
    expect(hex(frames[0] as Uint8Array)).toBe('010203')
  })
})

describe('frame - errors', () => {
  test('frame - a declared length above the maximum is refused from the header alone', () => {
    const { decoder, frames } = collect(1024)
    const error = thrown(() => decoder.push(Uint8Array.of(0xff, 0xff, 0xff, 0xff)))
    expect(error.code).toBe('CAIRN_FRAME_TOO_LARGE')
    expect(error.message).toBe('frame of 4294967295 bytes exceeds the maximum of 1024 bytes')
    expect(error.details).toEqual({ frameBytes: 4294967295, maxFrameBytes: 1024 })
    expect(error.retriable).toBe(false)
    expect(frames).toEqual([])
    expect(decoder.bufferedBytes).toBe(0)
    // The decoder stays failed: the stream cannot be resynchronised.
    expect(thrown(() => decoder.push(Uint8Array.from(golden[0].bytes)))).toBe(error)
  })

  test('frame - the limit is on the body; exactly maxFrameBytes passes, one more fails', () => {
    const frame = encodeFrame('x'.repeat(20)) // tstr(20) = 1 + 20 = 21 bytes
    expect(frame.readUInt32BE(0)).toBe(21)
    const ok = collect(21)
    ok.decoder.push(frame)
    expect(ok.frames).toEqual(['x'.repeat(20)])
    const tooSmall = collect(20)
    expect(thrown(() => tooSmall.decoder.push(frame.subarray(0, 4))).message).toBe(
      'frame of 21 bytes exceeds the maximum of 20 bytes',
    )
    expect(thrown(() => encodeFrame('x'.repeat(20), 20)).message).toBe(
      'frame of 21 bytes exceeds the maximum of 20 bytes',
    )
  })

  test('frame - an empty frame is malformed', () => {
    const { decoder } = collect()
    const error = thrown(() => decoder.push(Uint8Array.of(0, 0, 0, 0)))
    expect(error.code).toBe('CAIRN_FRAME_MALFORMED')
    expect(error.message).toBe('malformed frame (0 bytes): empty')
  })

  test('frame - trailing bytes inside a frame are malformed', () => {
    const { decoder } = collect()
    const error = thrown(() => decoder.push(Uint8Array.of(0, 0, 0, 2, 0x01, 0x02)))
    expect(error.code).toBe('CAIRN_FRAME_MALFORMED')
    expect(error.message).toBe('malformed frame (2 bytes): not exactly one well-formed CBOR item')
    expect(error.cause).toBeInstanceOf(Error)
  })

  test('frame - a truncated item is malformed', () => {
    const { decoder } = collect()
    const error = thrown(() => decoder.push(Uint8Array.of(0, 0, 0, 2, 0xa1, 0x61)))
    expect(error.message).toBe('malformed frame (2 bytes): not exactly one well-formed CBOR item')
  })

  test('frame - values that are not plain wire data are malformed', () => {
    const cases: [number[], string][] = [
      [[0xf7], 'malformed frame (1 bytes): unsupported undefined at $'],
      [[0xc1, 0x00], 'malformed frame (2 bytes): unsupported Date at $'],
      [[0xd8, 0x1c, 0x81, 0xd8, 0x1d, 0x00], 'malformed frame (6 bytes): shared reference at $[0]'],
      [
        [...Array<number>(65).fill(0x81), 0x00],
        'malformed frame (66 bytes): nesting deeper than 64 at $' + '[0]'.repeat(64),
      ],
    ]
    for (const [body, message] of cases) {
      const { decoder } = collect()
      const frame = Buffer.alloc(4 + body.length)
      frame.writeUInt32BE(body.length, 0)
      frame.set(body, 4)
      const error = thrown(() => decoder.push(frame))
      expect(error.code).toBe('CAIRN_FRAME_MALFORMED')
      expect(error.message).toBe(message)
    }
  })

  test('frame - encodeFrame refuses what cannot be encoded (a shared object is fine, a cycle is not)', () => {
    expect(thrown(() => encodeFrame({ at: new Date(0) })).message).toBe('cannot encode frame: unsupported Date at $.at')
    const cyclic: unknown[] = []
    cyclic.push(cyclic)
    expect(thrown(() => encodeFrame(cyclic)).message).toBe('cannot encode frame: cyclic reference at $[0]')
  })

  test('frame - maxFrameBytes is checked (programmer error)', () => {
    expect(() => new FrameDecoder({ maxFrameBytes: 0, onFrame: () => {} })).toThrow(RangeError)
    expect(() => new FrameDecoder({ maxFrameBytes: 2 ** 32, onFrame: () => {} })).toThrow(RangeError)
  })

  test('frame - an error from onFrame propagates and the rest of the chunk waits for the next push', () => {
    const frames: unknown[] = []
    let fail = true
    const decoder = new FrameDecoder({
      maxFrameBytes: 1024,
      onFrame: (value) => {
        if (fail) {
          fail = false
          throw new Error('handler failed')
        }
        frames.push(value)
      },
    })
    expect(() => decoder.push(Buffer.concat([encodeFrame(1), encodeFrame(2)]))).toThrow('handler failed')
    decoder.push(new Uint8Array(0))
    expect(frames).toEqual([2])
  })
})
