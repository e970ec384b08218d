import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { nativeStatus } from '../../../src/native/status.ts'
import { encodeFrame } from '../../../src/native/wire/frame.ts'
import { startNativeBroker, type NativeBroker } from '../../helpers/native-broker.ts'
import { RawNativePeer } from '../../helpers/raw-native.ts'

// The server's protocol rules, driven frame by frame (no client library in between).

let broker: NativeBroker
const peers: RawNativePeer[] = []

async function peer(hello = true): Promise<RawNativePeer> {
  const p = await RawNativePeer.connect(broker.port, hello)
  peers.push(p)
  return p
}

beforeEach(async () => {
  broker = await startNativeBroker({ frontEnd: { maxFrameBytes: 64 * 1024 } })
})

afterEach(async () => {
  for (const p of peers.splice(0)) p.close()
  await broker.close()
})

describe('native server protocol', () => {
  it('native - hello negotiates the highest common version and announces the frame limit', async () => {
    const p = await peer(false)
    const reply = await p.call('hello', { versions: [7, 1, 0], clientId: 'x' })
    expect(reply).toEqual({ id: 1, status: 0, body: { version: 1, maxFrameBytes: 64 * 1024 } })
  })

  it('native - no common version is refused and the connection closed', async () => {
    const p = await peer(false)
    const reply = await p.call('hello', { versions: [9], clientId: 'x' })
    expect(reply.status).toBe(nativeStatus.CAIRN_PROTOCOL_VERSION)
    expect(reply.error?.message).toMatch(/no common protocol version/)
    await p.waitClosed()
  })

  it('native - a request before hello is refused and the connection closed', async () => {
    const p = await peer(false)
    const reply = await p.call('metadata', {})
    expect(reply.error?.code).toBe('CAIRN_PROTOCOL_VERSION')
    await p.waitClosed()
  })

  it('native - unknown operations and invalid bodies get their own status; the connection stays', async () => {
    const p = await peer()
    const unknown = await p.call('explode', {})
    expect(unknown.status).toBe(nativeStatus.CAIRN_OPERATION_UNKNOWN)
    const bad = await p.call('produce', { acks: 2, batches: [] })
    expect(bad.error).toEqual({
      code: 'CAIRN_REQUEST_INVALID',
      message: expect.stringMatching(/^body\.acks must be one of 0, 1, -1/) as string,
      retriable: false,
    })
    const deep = await p.call('produce', { acks: 1, batches: [{ stream: 's', records: [{ value: 'text' }] }] })
    expect(deep.error?.message).toMatch(/body\.batches\[0\]\.records\[0\]\.value must be a byte string/)
    expect((await p.call('metadata', {})).status).toBe(0)
  })

  it('native - an oversized frame is refused before its body is read, answered with id 0, and closed', async () => {
    const p = await peer()
    const header = Buffer.alloc(4)
    header.writeUInt32BE(64 * 1024 + 1)
    p.sendBytes(header)
    await p.waitClosed()
    expect(p.responses.at(-1)).toMatchObject({ id: 0, status: nativeStatus.CAIRN_FRAME_TOO_LARGE })
  })

  it('native - garbage CBOR is a malformed frame: answered and closed', async () => {
    const p = await peer()
    p.sendBytes(Buffer.from([0, 0, 0, 2, 0xff, 0xff]))
    await p.waitClosed()
    expect(p.responses.at(-1)).toMatchObject({ id: 0, status: nativeStatus.CAIRN_FRAME_MALFORMED })
  })

  it('native - a frame that is not a request names the field and closes', async () => {
    const p = await peer()
    p.sendBytes(encodeFrame({ v: 1, id: 5 }))
    await p.waitClosed()
    expect(p.responses.at(-1)).toMatchObject({ id: 5, status: nativeStatus.CAIRN_FRAME_MALFORMED })
    expect(p.responses.at(-1)?.error?.message).toMatch(/op must be a text string/)
  })

  it('native - pipelined requests are all answered, matched by id', async () => {
    const p = await peer()
    await p.ok('createStream', { name: 'pipe', config: { partitions: 2 } })
    const ids = Array.from({ length: 50 }, (_, i) =>
      p.send('produce', {
        acks: -1,
        batches: [{ stream: 'pipe', partition: i % 2, records: [{ value: new Uint8Array([i]) }] }],
      }),
    )
    const responses = await Promise.all(ids.map((id) => p.response(id)))
    expect(responses.every((r) => r.status === 0)).toBe(true)
    const offsets = responses.map((r) => (r.body as { results: Array<{ baseOffset: bigint }> }).results[0]?.baseOffset)
    expect(offsets.filter((_, i) => i % 2 === 0)).toEqual(Array.from({ length: 25 }, (_, i) => BigInt(i)))
  })

  it('native - every error code has a distinct status number', () => {
    const numbers = Object.values(nativeStatus)
    expect(new Set(numbers).size).toBe(numbers.length)
    expect(numbers).not.toContain(0)
  })
})
