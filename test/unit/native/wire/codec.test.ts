import { describe, expect, test } from 'vitest'
import { decodeValue, encodeValue, readUint64, wireValueProblem } from '../../../../src/native/wire/codec.ts'

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

describe('codec - integers', () => {
  test('codec - a bigint always encodes as an 8-byte integer and decodes as bigint', () => {
    expect(hex(encodeValue(5n))).toBe('1b0000000000000005')
    expect(hex(encodeValue(-3n))).toBe('3b0000000000000002')
    expect(decodeValue(encodeValue(5n))).toBe(5n)
    expect(decodeValue(encodeValue(2n ** 63n - 1n))).toBe(2n ** 63n - 1n)
    expect(decodeValue(encodeValue(2n ** 64n - 1n))).toBe(2n ** 64n - 1n)
  })

  test('codec - a number encodes in shortest form and decodes as number', () => {
    expect(hex(encodeValue(5))).toBe('05')
    expect(hex(encodeValue(500))).toBe('1901f4')
    expect(decodeValue(Uint8Array.of(0x1a, 0xff, 0xff, 0xff, 0xff))).toBe(0xffff_ffff)
    // Bignum tag 2 decodes as bigint.
    expect(decodeValue(Uint8Array.of(0xc2, 0x49, 1, 0, 0, 0, 0, 0, 0, 0, 0))).toBe(2n ** 64n)
  })

  test('codec - readUint64 takes a safe-integer number or a bigint and returns bigint', () => {
    expect(readUint64(7)).toBe(7n)
    expect(readUint64(7n)).toBe(7n)
    expect(readUint64(2n ** 64n - 1n)).toBe(2n ** 64n - 1n)
    expect(readUint64(2n ** 64n)).toBeUndefined()
    expect(readUint64(-1)).toBeUndefined()
    expect(readUint64(-1n)).toBeUndefined()
    expect(readUint64(1.5)).toBeUndefined()
    expect(readUint64(2 ** 53)).toBeUndefined()
    expect(readUint64('7')).toBeUndefined()
  })
})

describe('codec - byte strings and plain data', () => {
  test('codec - byte strings are untagged and decode as plain Uint8Array', () => {
    expect(hex(encodeValue(Uint8Array.of(1, 2)))).toBe('420102')
    expect(hex(encodeValue(Buffer.from([1, 2])))).toBe('420102')
    const decoded = decodeValue(Buffer.from('420102', 'hex'))
    expect(Object.getPrototypeOf(decoded)).toBe(Uint8Array.prototype)
    expect(decoded).toEqual(Uint8Array.of(1, 2))
  })

  test('codec - wireValueProblem accepts plain data and names the first problem', () => {
    expect(
      wireValueProblem({ a: [1, 2n, 'x', null, true, 1.5, Uint8Array.of(1)], b: Object.create(null) as object }),
    ).toBeUndefined()
    expect(wireValueProblem({ a: [undefined] })).toBe('unsupported undefined at $.a[0]')
    expect(wireValueProblem({ m: new Map() })).toBe('unsupported Map at $.m')
    const shared = { x: 1 }
    expect(wireValueProblem([shared, shared])).toBe('shared reference at $[1]')
    // What we encode may share an object (it is written twice), but may not contain itself.
    expect(wireValueProblem([shared, { s: shared }], 'shared-ok')).toBeUndefined()
    const cyclic: unknown[] = [1]
    cyclic.push([cyclic])
    expect(wireValueProblem(cyclic, 'shared-ok')).toBe('cyclic reference at $[1][0]')
  })
})
