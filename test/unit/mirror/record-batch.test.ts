import fc from 'fast-check'
import { createRequire } from 'node:module'
import { describe, expect, test } from 'vitest'
import type { RecordRow } from '../../../src/log/partition-log.ts'
import { encodeHeaders } from '../../../src/log/record-codec.ts'
import { crc32c } from '../../../src/mirror/crc32c.ts'
import type { UpstreamRecord } from '../../../src/mirror/kafka-sink.ts'
import { MirrorBatchEncoder } from '../../../src/mirror/mirror-batch.ts'
import { decodeRecordBatch, encodeRecordBatch } from '../../../src/mirror/record-batch.ts'
import { parseProvenance, ProvenanceEncoder } from '../../../src/mirror/replication-policy.ts'

// Three encoders must agree byte for byte: kafkajs 2.2.4's own (an implementation nobody here wrote, loaded
// with require because only the sink may import kafkajs), our generic one, and the mirror's row encoder.

const require = createRequire(import.meta.url)
type KjsEncoder = { buffer: Buffer }
const kjsRecord = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (r: object) => KjsEncoder
const { RecordBatch: kjsRecordBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js') as {
  RecordBatch: (b: object) => Promise<KjsEncoder>
}
const kjsCrc32c = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as (b: Buffer) => number

async function kafkajsBatch(records: readonly UpstreamRecord[]): Promise<Buffer> {
  const base = records[0]?.timestamp ?? 0
  const encoded = records.map((r, i) =>
    kjsRecord({
      offsetDelta: i,
      timestampDelta: r.timestamp - base,
      key: r.key === null ? null : Buffer.from(r.key),
      value: r.value === null ? null : Buffer.from(r.value),
      headers: Object.fromEntries(r.headers.map(([name, value]) => [name, Buffer.from(value)])),
    }),
  )
  const batch = await kjsRecordBatch({
    records: encoded,
    firstTimestamp: base,
    maxTimestamp: Math.max(...records.map((r) => r.timestamp)),
    partitionLeaderEpoch: -1,
    producerEpoch: -1,
    firstSequence: -1,
    lastOffsetDelta: records.length - 1,
  })
  return batch.buffer
}

const bytesOrNull = fc.oneof(fc.constant(null), fc.uint8Array({ maxLength: 300 }))
// Unique names that are not integer-like: kafkajs takes headers as an object, which reorders those.
const headers = fc.uniqueArray(fc.tuple(fc.string({ minLength: 1, maxLength: 12 }), fc.uint8Array({ maxLength: 40 })), {
  maxLength: 6,
  selector: ([name]) => name,
})
const upstreamRecord = fc.record({
  key: bytesOrNull,
  value: bytesOrNull,
  headers: headers.map((hs) => hs.map(([name, value]): [string, Uint8Array] => [`h${name}`, value])),
  timestamp: fc.integer({ min: 0, max: 2 ** 45 }),
})

describe('record batch', () => {
  test('record batch - CRC-32C check values', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283)
    expect(crc32c(Buffer.alloc(0))).toBe(0)
    // Any length, any alignment of the view and of the start (the word-wise path reads aligned 32-bit words).
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat({ max: 7 }), fc.nat({ max: 7 }), (bytes, shift, skip) => {
        const view = new Uint8Array(shift + bytes.length).subarray(shift)
        view.set(bytes)
        const start = Math.min(skip, bytes.length)
        expect(crc32c(view, start)).toBe(kjsCrc32c(Buffer.from(bytes.subarray(start))) >>> 0)
      }),
      { numRuns: 500 },
    )
  })

  test('record batch - byte-identical to kafkajs 2.2.4, and reads back', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(upstreamRecord, { minLength: 1, maxLength: 20 }), async (records) => {
        const ours = encodeRecordBatch(records)
        expect(ours.count).toBe(records.length)
        expect(ours.bytes.toString('hex')).toBe((await kafkajsBatch(records)).toString('hex'))
        expect(decodeRecordBatch(ours.bytes)).toEqual(records)
      }),
      { numRuns: 300 },
    )
  })

  test('record batch - a flipped bit fails the CRC', () => {
    const batch = encodeRecordBatch([{ key: null, value: new Uint8Array([1, 2, 3]), headers: [], timestamp: 5 }])
    const bytes = Buffer.from(batch.bytes)
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 2) ^ 0x10, bytes.length - 2)
    expect(() => decodeRecordBatch(bytes)).toThrow(/CRC/)
  })

  test('record batch - refuses what Kafka cannot carry', () => {
    expect(() => encodeRecordBatch([])).toThrow(RangeError)
    expect(() => encodeRecordBatch([{ key: null, value: null, headers: [], timestamp: -1 }])).toThrow(RangeError)
  })
})

describe('mirror batch encoder', () => {
  const source = { gatewayAlias: 'gw-7', stream: 'telemetry', partition: 3, epoch: 2 }
  const row = fc.record({
    gap: fc.integer({ min: 1, max: 3 }),
    // Often the same: records appended together share a timestamp (the encoder copies its digits).
    timestamp: fc.oneof(fc.integer({ min: 0, max: 2 ** 45 }), fc.constantFrom(1_700_000_000_000, 7)),
    key: bytesOrNull,
    value: bytesOrNull,
    headers: fc.array(fc.tuple(fc.string({ maxLength: 8 }), fc.uint8Array({ maxLength: 20 })), { maxLength: 3 }),
  })

  test('mirror batch - rows encode exactly as the same records with provenance headers', () => {
    fc.assert(
      fc.property(
        fc.array(row, { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 0, max: 2 ** 50 }),
        fc.boolean(),
        fc.nat({ max: 10 ** 12 }),
        fc.option(fc.integer({ min: 0, max: 2 ** 45 }), { nil: null }),
        (specs, firstOffset, redelivered, gapBefore, sendTimestampMs) => {
          let offset = firstOffset
          const rows = specs.map((s): RecordRow => {
            offset += s.gap // compacted partitions have holes
            const stored = encodeHeaders(s.headers.map(([key, value]) => ({ key, value })))
            return [offset, s.timestamp, s.key, s.value, stored, null]
          })
          const provenance = new ProvenanceEncoder(source)
          const expected = rows.map(([offset, ts, key, value], i): UpstreamRecord => ({
            key,
            value,
            headers: [
              ...(specs[i]?.headers ?? []),
              ...provenance.headers(BigInt(offset), ts, redelivered, i === 0 ? BigInt(gapBefore) : 0n),
            ],
            timestamp: sendTimestampMs ?? ts,
          }))
          const batch = new MirrorBatchEncoder(source).encode(rows, { redelivered, gapBefore, sendTimestampMs })
          expect(batch.bytes.toString('hex')).toBe(encodeRecordBatch(expected).bytes.toString('hex'))
          expect(batch.payloadBytes).toBe(rows.reduce((n, [, , k, v]) => n + (k?.length ?? 0) + (v?.length ?? 0), 0))
          const back = decodeRecordBatch(batch.bytes)
          expect(back.map((r) => parseProvenance(r.headers)?.offset)).toEqual(rows.map(([o]) => BigInt(o)))
          // Under a byte limit: the longest prefix that fits (at least one record), encoded the same way.
          const limit = Math.max(1, Math.floor(batch.bytes.length * 0.6))
          const part = new MirrorBatchEncoder(source).encode(rows, { redelivered, gapBefore, sendTimestampMs }, limit)
          expect(part.count).toBeGreaterThanOrEqual(1)
          expect(part.count === 1 || part.bytes.length <= limit).toBe(true)
          expect(part.bytes.toString('hex')).toBe(
            encodeRecordBatch(expected.slice(0, part.count)).bytes.toString('hex'),
          )
          if (part.count < rows.length) {
            expect(encodeRecordBatch(expected.slice(0, part.count + 1)).bytes.length).toBeGreaterThan(limit)
          }
        },
      ),
      { numRuns: 300 },
    )
  })
})
