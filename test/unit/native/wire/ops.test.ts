import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { encodeFrame, FrameDecoder } from '../../../../src/native/wire/frame.ts'
import { ops, type OpName } from '../../../../src/native/wire/ops.ts'
import { check } from '../../../../src/native/wire/schema.ts'
import { samples } from './ops-samples.ts'

// Golden bytes for every operation's request and response frame (ops-golden.json, written once
// from the samples and checked by hand for produce and fetch): the encoding may not drift, both
// ends validate the samples, and each frame survives being streamed one byte at a time.

const golden = JSON.parse(readFileSync(new URL('./ops-golden.json', import.meta.url), 'utf8')) as Record<
  string,
  { request: string; response: string }
>
const names = Object.keys(ops) as OpName[]

function frames(op: OpName) {
  const sample = samples[op]
  return {
    request: encodeFrame({ v: 1, id: 1, op, body: sample.request }),
    response: encodeFrame({ id: 1, status: 0, body: sample.response }),
  }
}

function streamByteByByte(bytes: Buffer): unknown[] {
  const out: unknown[] = []
  const decoder = new FrameDecoder({ maxFrameBytes: 1 << 20, onFrame: (v) => out.push(v) })
  for (const byte of bytes) decoder.push(Uint8Array.of(byte))
  return out
}

describe('native ops', () => {
  test('ops - every operation has a sample and golden bytes', () => {
    expect(Object.keys(samples).sort()).toEqual([...names].sort())
    expect(Object.keys(golden).sort()).toEqual([...names].sort())
  })

  for (const op of names) {
    test(`ops - ${op}: generate (hex compare)`, () => {
      const { request, response } = frames(op)
      expect({ request: request.toString('hex'), response: response.toString('hex') }).toEqual(golden[op])
    })

    test(`ops - ${op}: parse the golden bytes with both schemas, stream them byte by byte`, () => {
      const expected = golden[op]
      if (expected === undefined) throw new Error(`no golden bytes for ${op}`)
      const [request] = streamByteByByte(Buffer.from(expected.request, 'hex')) as Array<{ body: unknown }>
      const [response] = streamByteByByte(Buffer.from(expected.response, 'hex')) as Array<{ body: unknown }>
      const schema = ops[op] as {
        request: (v: unknown, p: string) => unknown
        response: (v: unknown, p: string) => unknown
      }
      expect(check(schema.request, request?.body)).toEqual(samples[op].request)
      expect(check(schema.response, response?.body)).toEqual(samples[op].response)
    })
  }

  test('ops - a small offset sent in shortest form by a foreign client still reads as bigint', () => {
    const body = check(ops.fetch.request, { partitions: [{ stream: 's', partition: 0, offset: 5 }] })
    expect(body.partitions[0]?.offset).toBe(5n)
  })

  test('ops - validation names the failing field and ignores unknown keys', () => {
    expect(() => check(ops.produce.request, { acks: -1, batches: [{ stream: 's', records: [{}] }] })).toThrow(
      /body\.batches\[0\]\.records\[0\]\.value must be a byte string \(got nothing\)/,
    )
    expect(() => check(ops.listOffsets.request, { partitions: [{ stream: 's', partition: 0, at: {} }] })).toThrow(
      /at must be a map with exactly one of earliest, latest, timestamp/,
    )
    expect(() => check(ops.fetch.request, { partitions: [{ stream: 's', partition: -1, offset: 0n }] })).toThrow(
      /partition must be an integer in 0\.\./,
    )
    expect(check(ops.deleteGroup.request, { group: 'g', future: 1 })).toEqual({ group: 'g' })
  })
})
