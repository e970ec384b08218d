import { describe, expect, test } from 'vitest'
import { nativeOpResources } from '../../../src/auth/native-access.ts'
import { decodeFrameBody, encodeFrame } from '../../../src/native/wire/frame.ts'
import { helloRequest, parseHello, parseRequest } from '../../../src/native/wire/frames.ts'

const viaWire = (value: unknown): unknown => decodeFrameBody(encodeFrame(value).subarray(4))

describe('native hello credentials', () => {
  test('hello - user name and password travel in hello; without them hello is byte for byte what it was', () => {
    const plain = helloRequest(1, 'dev-1')
    expect(encodeFrame(plain)).toEqual(
      encodeFrame({ v: 1, id: 1, op: 'hello', body: { versions: [1], clientId: 'dev-1' } }),
    )
    const request = parseRequest(
      viaWire(helloRequest(2, 'dev-1', [1], { username: 'alice', password: Buffer.from('pw') })),
    )
    const hello = parseHello(request.body)
    expect(hello.username).toBe('alice')
    expect(Buffer.from(hello.password as Uint8Array).toString()).toBe('pw')
    expect(parseHello({ versions: [1], clientId: 'c', password: 'text-pw' }).password).toBe('text-pw')
  })

  test('hello - a mistyped password is named, never echoed', () => {
    expect(() => parseHello({ versions: [1], clientId: 'c', password: 12345678 })).toThrow(
      'malformed hello: body.password must be a byte or text string (got "number")',
    )
    expect(() => parseHello({ versions: [1], clientId: 'c', username: 7 })).toThrow(
      /body\.username must be a text string/,
    )
  })
})

describe('native operation resources', () => {
  test('ops - each operation names what it touches', () => {
    expect(
      nativeOpResources('produce', {
        acks: 1,
        batches: [
          { stream: 'a', records: [] },
          { stream: 'a', records: [] },
          { stream: 'b', records: [] },
        ],
      }),
    ).toEqual([
      { kind: 'stream', name: 'a', action: 'produce' },
      { kind: 'stream', name: 'b', action: 'produce' },
    ])
    expect(nativeOpResources('groupHeartbeat', { group: 'g', memberId: '', memberEpoch: 0, streams: ['s'] })).toEqual([
      { kind: 'group', name: 'g', action: 'consume' },
      { kind: 'stream', name: 's', action: 'consume' },
    ])
    expect(nativeOpResources('deleteStream', { name: 's' })).toEqual([{ kind: 'stream', name: 's', action: 'admin' }])
    expect(nativeOpResources('resetOffsets', { group: 'g', stream: 's', to: { earliest: true } })).toEqual([
      { kind: 'group', name: 'g', action: 'admin' },
    ])
    expect(nativeOpResources('metadata', {})).toEqual([])
  })
})
