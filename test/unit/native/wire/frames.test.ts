import { describe, expect, test } from 'vitest'
import { isBrokerError } from '../../../../src/errors.ts'
import { decodeFrameBody, encodeFrame } from '../../../../src/native/wire/frame.ts'
import {
  helloRequest,
  helloResponse,
  negotiateVersion,
  parseHello,
  parseHelloReply,
  parseRequest,
  parseResponse,
} from '../../../../src/native/wire/frames.ts'

const viaWire = (value: unknown): unknown => decodeFrameBody(encodeFrame(value).subarray(4))

function message(fn: () => unknown): string {
  try {
    fn()
  } catch (error) {
    if (isBrokerError(error) && error.code === 'CAIRN_FRAME_MALFORMED') return error.message
    throw error
  }
  throw new Error('expected CAIRN_FRAME_MALFORMED')
}

describe('frames - envelope', () => {
  test('frames - hello request and response round-trip through a frame', () => {
    const request = parseRequest(viaWire(helloRequest(1, 'dev-1')))
    expect(request).toEqual({ v: 1, id: 1, op: 'hello', body: { versions: [1], clientId: 'dev-1' } })
    expect(parseHello(request.body)).toEqual({ versions: [1], clientId: 'dev-1' })
    const response = parseResponse(viaWire(helloResponse(1, { version: 1, maxFrameBytes: 1_048_576 })))
    expect(response).toEqual({ id: 1, status: 0, body: { version: 1, maxFrameBytes: 1_048_576 } })
    expect(parseHelloReply(response.body)).toEqual({ version: 1, maxFrameBytes: 1_048_576 })
  })

  test('frames - an error response round-trips; unknown keys are ignored', () => {
    const error = { code: 'CAIRN_STREAM_NOT_FOUND', message: 'unknown stream "s"', retriable: false }
    expect(parseResponse(viaWire({ id: 9, status: 1, error, later: 'x' }))).toEqual({ id: 9, status: 1, error })
  })

  test('frames - a uint sent as an 8-byte integer (bigint) is accepted', () => {
    expect(parseRequest({ v: 1n, id: 4_294_967_295n, op: 'x' })).toEqual({ v: 1, id: 4_294_967_295, op: 'x' })
  })

  test('frames - invalid envelopes are refused with the field named', () => {
    expect(message(() => parseRequest([]))).toBe('malformed request: $ must be a map (got an array)')
    expect(message(() => parseRequest({ id: 1, op: 'x' }))).toBe('malformed request: v must be a uint (got nothing)')
    expect(message(() => parseRequest({ v: 1, id: 2 ** 32, op: 'x' }))).toBe(
      'malformed request: id must be a uint32 (got 4294967296)',
    )
    expect(message(() => parseRequest({ v: 1, id: -1n, op: 'x' }))).toBe(
      'malformed request: id must be a uint32 (got -1n)',
    )
    expect(message(() => parseRequest({ v: 1, id: 1, op: Uint8Array.of(1) }))).toBe(
      'malformed request: op must be a text string (got 1 bytes)',
    )
    expect(message(() => parseResponse({ id: 1, status: 2 }))).toBe(
      'malformed response: error must be present when status is not 0 (got nothing)',
    )
    expect(
      message(() => parseResponse({ id: 1, status: 2, error: { code: 'X', message: 'm', retriable: 'no' } })),
    ).toBe('malformed response: error.retriable must be a boolean (got "no")')
    expect(message(() => parseHello({ versions: [], clientId: 'c' }))).toBe(
      'malformed hello: body.versions must be a non-empty array (got an array)',
    )
    expect(message(() => parseHello({ versions: [1, 1.5], clientId: 'c' }))).toBe(
      'malformed hello: body.versions[1] must be a uint (got 1.5)',
    )
  })

  test('frames - version negotiation picks the highest common version', () => {
    expect(negotiateVersion([1])).toBe(1)
    expect(negotiateVersion([3, 1, 2], [1, 2])).toBe(2)
    expect(negotiateVersion([7])).toBeUndefined()
  })
})
