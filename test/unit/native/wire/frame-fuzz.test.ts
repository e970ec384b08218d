import { describe, expect, test } from 'vitest'
import { isBrokerError } from '../../../../src/errors.ts'
import { FrameDecoder, encodeFrame } from '../../../../src/native/wire/frame.ts'

// Seeded so a failure reproduces: mulberry32.
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const seeds = [
  encodeFrame({ v: 1, id: 1, op: 'hello', body: { versions: [1], clientId: 'dev-1' } }),
  encodeFrame({ id: 7, status: 0, body: { offset: 2n ** 53n + 1n, value: Uint8Array.of(0xde, 0xad) } }),
  encodeFrame({ id: 8, status: 1, error: { code: 'CAIRN_STREAM_NOT_FOUND', message: 'no s', retriable: false } }),
  encodeFrame([[[1, 2.5, -3n, null, true, 'x']], { a: { b: { c: Uint8Array.of(1) } } }]),
]

const maxFrameBytes = 256

describe('frame - fuzz', () => {
  test('frame - random and mutated input only ever yields frames or the two frame errors', () => {
    const random = rng(0xca1e)
    const int = (n: number): number => Math.floor(random() * n)
    const counts = { ok: 0, tooLarge: 0, malformed: 0 }
    for (let i = 0; i < 20_000; i++) {
      let input: Buffer
      if (i % 2 === 0) {
        // Random body behind a correct length header (most random headers would just be too large).
        const body = Buffer.alloc(int(48))
        for (let j = 0; j < body.length; j++) body[j] = int(256)
        input = Buffer.alloc(4 + body.length)
        input.writeUInt32BE(i % 10 === 0 ? int(2 ** 32) : body.length, 0)
        body.copy(input, 4)
      } else {
        // Mutated golden frames: flip, insert or delete a few bytes, sometimes concatenated.
        const base = seeds[int(seeds.length)] ?? Buffer.alloc(0)
        const bytes = [...(i % 3 === 0 ? Buffer.concat([base, base]) : base)]
        for (let m = 1 + int(3); m > 0; m--) {
          const at = int(bytes.length)
          const op = int(3)
          if (op === 0) bytes[at] = int(256)
          else if (op === 1) bytes.splice(at, 0, int(256))
          else bytes.splice(at, 1)
        }
        input = Buffer.from(bytes)
      }
      const frames: unknown[] = []
      const decoder = new FrameDecoder({ maxFrameBytes, onFrame: (value) => frames.push(value) })
      try {
        // Random chunking, sometimes byte by byte.
        let at = 0
        while (at < input.length) {
          const size = i % 7 === 0 ? 1 : 1 + int(input.length)
          decoder.push(input.subarray(at, at + size))
          at += size
          if (decoder.bufferedBytes >= 4 + maxFrameBytes) throw new Error(`case ${i}: buffered too much`)
        }
        counts.ok++
      } catch (error) {
        if (!isBrokerError(error)) throw error
        if (decoder.bufferedBytes !== 0) throw new Error(`case ${i}: buffer kept`, { cause: error })
        if (error.code === 'CAIRN_FRAME_TOO_LARGE') counts.tooLarge++
        else if (error.code === 'CAIRN_FRAME_MALFORMED') counts.malformed++
        else throw error
      }
    }
    // The fuzz reached every outcome.
    expect(counts.ok).toBeGreaterThan(100)
    expect(counts.tooLarge).toBeGreaterThan(100)
    expect(counts.malformed).toBeGreaterThan(100)
  }, 5_000)
})
