import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { encodeRecord, headerPairsMark, originalEncodeRecord } from '../../../src/mirror/kafkajs-sink-record.ts'

// The replacement record encoder must write exactly the bytes kafkajs's own encoder writes.

const bytesOrNull = fc.oneof(
  fc.constant(null),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
)

describe('kafkajs record encoder', () => {
  test('kafkajs record - byte-identical to the kafkajs 2.2.4 encoder', () => {
    fc.assert(
      fc.property(
        fc.record({
          offsetDelta: fc.nat({ max: 100_000 }),
          timestampDelta: fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
          key: bytesOrNull,
          value: bytesOrNull,
          headers: fc.dictionary(
            fc.string({ minLength: 1, maxLength: 12 }),
            fc.oneof(
              fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
              fc.array(
                fc.uint8Array({ maxLength: 20 }).map((b) => Buffer.from(b)),
                { minLength: 1, maxLength: 3 },
              ),
            ),
            { maxKeys: 9 },
          ),
        }),
        (input) => {
          expect(encodeRecord(input).buffer.equals(originalEncodeRecord(input).buffer)).toBe(true)
        },
      ),
      { numRuns: 500 },
    )
  })

  test('kafkajs record - the provenance headers of a mirrored record', () => {
    const input = {
      offsetDelta: 3,
      timestampDelta: 1200,
      key: Buffer.from('k'),
      value: Buffer.from('21.5'),
      headers: { 'em.v': Buffer.from('1'), 'em.src': Buffer.from('gw1'), 'em.src.off': Buffer.from('1234567890123') },
    }
    expect(encodeRecord(input).buffer.toString('hex')).toBe(originalEncodeRecord(input).buffer.toString('hex'))
  })
})

describe('kafkajs record encoder - header pairs', () => {
  test('kafkajs record - header pairs encode like the same headers in kafkajs object form', () => {
    const pairs = Object.assign(
      [
        ['em.v', Buffer.from('1')],
        ['em.src.off', Buffer.from('42')],
      ] as Array<[string, Buffer]>,
      { [headerPairsMark]: true as const },
    )
    const base = { offsetDelta: 1, timestampDelta: 5, key: null, value: Buffer.from('v') }
    expect(
      encodeRecord({ ...base, headers: pairs }).buffer.equals(
        originalEncodeRecord({ ...base, headers: { 'em.v': Buffer.from('1'), 'em.src.off': Buffer.from('42') } })
          .buffer,
      ),
    ).toBe(true)
  })
})
