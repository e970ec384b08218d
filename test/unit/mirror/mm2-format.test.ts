import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { isBrokerError } from '../../../src/errors.ts'
import {
  decodeCheckpoint,
  decodeHeartbeat,
  decodeOffsetSync,
  encodeCheckpoint,
  encodeHeartbeat,
  encodeOffsetSync,
  type Checkpoint,
  type Heartbeat,
  type OffsetSync,
} from '../../../src/mirror/mm2-format.ts'
import { thrownBy } from '../../helpers/temp-store.ts'

// Golden bytes of mirror.md A1.3 (computed from MM2's schemas), tested four ways: parse, generate,
// mirror (generate then parse), and every truncation names the field it cut.

function hex(text: string): Uint8Array {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex')
}

interface Golden<T> {
  name: string
  object: T
  key: Uint8Array
  value: Uint8Array
  /** Each field with the byte offset where it ends, in order. */
  keyFields: [string, number][]
  valueFields: [string, number][]
  encode: (o: T) => { key: Uint8Array; value: Uint8Array }
  decode: (key: Uint8Array, value: Uint8Array) => T
}

const checkpoint: Golden<Checkpoint> = {
  name: 'Checkpoint',
  object: { group: 'g1', topic: 'gw-0042.telemetry', partition: 0, upstreamOffset: 42n, offset: 1042n, metadata: '' },
  key: hex(
    '0002 6731' + // group "g1"
      '0011 67772d303034322e74656c656d65747279' + // topic "gw-0042.telemetry"
      '00000000', // partition 0
  ),
  value: hex('0000 000000000000002a 0000000000000412 0000'), // version 0 | 42 | 1042 | metadata ""
  keyFields: [
    ['group', 4],
    ['topic', 23],
    ['partition', 27],
  ],
  valueFields: [
    ['version', 2],
    ['upstreamOffset', 10],
    ['offset', 18],
    ['metadata', 20],
  ],
  encode: encodeCheckpoint,
  decode: decodeCheckpoint,
}

const heartbeat: Golden<Heartbeat> = {
  name: 'Heartbeat',
  object: { sourceAlias: 'gw-0042', targetAlias: 'central', timestampMs: 1_700_000_000_000 },
  key: hex('0007 67772d30303432 0007 63656e7472616c'), // "gw-0042" | "central"
  value: hex('0000 0000018bcfe56800'), // version 0 | 1700000000000
  keyFields: [
    ['sourceAlias', 9],
    ['targetAlias', 18],
  ],
  valueFields: [
    ['version', 2],
    ['timestamp', 10],
  ],
  encode: encodeHeartbeat,
  decode: decodeHeartbeat,
}

const offsetSync: Golden<OffsetSync> = {
  name: 'OffsetSync',
  object: { topic: 'telemetry', partition: 0, upstreamOffset: 42n, offset: 1042n },
  key: hex('0009 74656c656d65747279 00000000'), // "telemetry" | partition 0
  value: hex('000000000000002a 0000000000000412'), // 42 | 1042 (no version field)
  keyFields: [
    ['topic', 11],
    ['partition', 15],
  ],
  valueFields: [
    ['upstreamOffset', 8],
    ['offset', 16],
  ],
  encode: encodeOffsetSync,
  decode: decodeOffsetSync,
}

function requestInvalid(fn: () => unknown): { field: unknown; message: string } {
  const error = thrownBy(fn)
  if (!isBrokerError(error) || error.code !== 'CAIRN_REQUEST_INVALID') throw new Error(`unexpected: ${String(error)}`)
  return { field: error.details.field, message: error.message }
}

function goldenTests<T>(g: Golden<T>): void {
  describe(`mm2 format - ${g.name}`, () => {
    test('parse - golden bytes decode to the object', () => {
      expect(g.decode(g.key, g.value)).toEqual(g.object)
    })

    test('generate - the object encodes to the golden bytes', () => {
      const { key, value } = g.encode(g.object)
      expect(Buffer.from(key).toString('hex')).toBe(Buffer.from(g.key).toString('hex'))
      expect(Buffer.from(value).toString('hex')).toBe(Buffer.from(g.value).toString('hex'))
    })

    test('mirror - generate then parse gives the object back', () => {
      const { key, value } = g.encode(g.object)
      expect(g.decode(key, value)).toEqual(g.object)
    })

    test('truncated - every shorter key or value is CAIRN_REQUEST_INVALID naming the cut field', () => {
      for (const [part, fields] of [
        ['key', g.keyFields],
        ['value', g.valueFields],
      ] as const) {
        const full = part === 'key' ? g.key : g.value
        expect(fields.at(-1)?.[1]).toBe(full.length)
        for (let n = 0; n < full.length; n++) {
          const cut = full.subarray(0, n)
          const { field, message } = requestInvalid(() =>
            part === 'key' ? g.decode(cut, g.value) : g.decode(g.key, cut),
          )
          expect(field).toBe(fields.find(([, end]) => end > n)?.[0])
          expect(message).toMatch(/truncated/)
        }
      }
    })

    test('trailing bytes - refused rather than silently ignored', () => {
      const longer = Buffer.concat([g.value, Buffer.from([0])])
      expect(requestInvalid(() => g.decode(g.key, longer)).field).toBe('end')
    })
  })
}

goldenTests(checkpoint)
goldenTests(heartbeat)
goldenTests(offsetSync)

describe('mm2 format - errors', () => {
  test('truncated - the message names record, field and position', () => {
    expect(requestInvalid(() => decodeCheckpoint(checkpoint.key.subarray(0, 10), checkpoint.value)).message).toBe(
      'Checkpoint key: field topic: truncated (needs 17 bytes at byte 6, has 4)',
    )
  })

  test('version - anything but 0 is refused', () => {
    const v1 = Buffer.from(checkpoint.value)
    v1.writeInt16BE(1, 0)
    expect(requestInvalid(() => decodeCheckpoint(checkpoint.key, v1))).toEqual({
      field: 'version',
      message: 'Checkpoint value: field version: unsupported version 1',
    })
    expect(requestInvalid(() => decodeHeartbeat(heartbeat.key, hex('ffff 0000018bcfe56800'))).field).toBe('version')
  })

  test('string - negative length and invalid UTF-8 are refused', () => {
    expect(requestInvalid(() => decodeOffsetSync(hex('ffff 00000000'), offsetSync.value)).message).toMatch(
      /topic: negative length -1/,
    )
    expect(requestInvalid(() => decodeOffsetSync(hex('0001 ff 00000000'), offsetSync.value)).message).toMatch(
      /topic: not valid UTF-8/,
    )
  })

  test('heartbeat - a timestamp beyond safe integers is refused', () => {
    expect(requestInvalid(() => decodeHeartbeat(heartbeat.key, hex('0000 7fffffffffffffff'))).field).toBe('timestamp')
  })

  test('encode - a string over 32767 bytes is bad input; bad numbers are programmer errors', () => {
    const long = { ...checkpoint.object, group: 'é'.repeat(16_384) } // 32768 bytes
    expect(requestInvalid(() => encodeCheckpoint(long)).field).toBe('group')
    expect(() => encodeCheckpoint({ ...checkpoint.object, partition: 2 ** 31 })).toThrow(RangeError)
    expect(() => encodeCheckpoint({ ...checkpoint.object, offset: 1n << 63n })).toThrow(RangeError)
    expect(() => encodeHeartbeat({ ...heartbeat.object, timestampMs: 0.5 })).toThrow(RangeError)
  })
})

describe('mm2 format - round trips', () => {
  const text = fc.string({ unit: 'grapheme', maxLength: 30 })
  const int64 = fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n })
  const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })

  test('any checkpoint, heartbeat and offset sync survives encode then decode', () => {
    fc.assert(
      fc.property(
        fc.record({ group: text, topic: text, partition: int32, upstreamOffset: int64, offset: int64, metadata: text }),
        (c) => {
          const { key, value } = encodeCheckpoint(c)
          expect(decodeCheckpoint(key, value)).toEqual(c)
        },
      ),
    )
    fc.assert(
      fc.property(fc.record({ sourceAlias: text, targetAlias: text, timestampMs: fc.maxSafeInteger() }), (h) => {
        const { key, value } = encodeHeartbeat(h)
        expect(decodeHeartbeat(key, value)).toEqual(h)
      }),
    )
    fc.assert(
      fc.property(fc.record({ topic: text, partition: int32, upstreamOffset: int64, offset: int64 }), (s) => {
        const { key, value } = encodeOffsetSync(s)
        expect(decodeOffsetSync(key, value)).toEqual(s)
      }),
    )
  })

  test('random bytes - decoders return or throw CAIRN_REQUEST_INVALID, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (key, value) => {
        for (const decode of [decodeCheckpoint, decodeHeartbeat, decodeOffsetSync]) {
          try {
            decode(key, value)
          } catch (error) {
            expect(isBrokerError(error) && error.code).toBe('CAIRN_REQUEST_INVALID')
          }
        }
      }),
    )
  })
})
