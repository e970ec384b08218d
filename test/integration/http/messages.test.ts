import { describe, expect, it } from 'vitest'
import { partitionForKey } from '../../../src/streams/partitioner.ts'
import { bytes, openTempStore, text } from '../../helpers/temp-store.ts'
import { b64, startHttp } from './http-harness.ts'

describe('http - produce and consume', () => {
  it('round-trips bytes exactly: produce answers with the offset, consume returns base64', async () => {
    const h = await startHttp()
    h.temp.store.createStream('t', { partitions: 1 })
    const value = new Uint8Array(256).map((_, i) => i)
    const produced = await h.json('/api/v1/topics/t/messages', { method: 'POST', body: value })
    expect(produced.status).toBe(200)
    expect(produced.response.headers.get('content-type')).toMatch(/^application\/json/)
    expect(produced.body).toEqual({ topic: 't', partition: 0, offset: 0, timestamp: h.temp.clock.now() })
    const second = await h.json('/api/v1/topics/t/messages', { method: 'POST', body: 'hello' })
    expect(second.body.offset).toBe(1)

    const { status, body } = await h.json('/api/v1/topics/t/partitions/0/messages')
    expect(status).toBe(200)
    expect(body.next_offset).toBe(2)
    expect(body.messages).toHaveLength(2)
    expect(body.messages[0]).toEqual({
      offset: 0,
      timestamp: h.temp.clock.now(),
      key: null,
      key_base64: null,
      value: b64(value),
      headers: {},
    })
    expect(Buffer.from(body.messages[0]?.value ?? '', 'base64')).toEqual(Buffer.from(value))
    expect(Buffer.from(body.messages[1]?.value ?? '', 'base64').toString()).toBe('hello')
  })

  it('an empty body is an empty value, not a tombstone', async () => {
    const h = await startHttp()
    h.temp.store.createStream('t')
    expect((await h.json('/api/v1/topics/t/messages', { method: 'POST' })).status).toBe(200)
    const read = h.temp.store.read('t', 0, 0n)
    expect(read.records[0]?.value).not.toBeNull()
    expect(read.records[0]?.value?.length).toBe(0)
    const { body } = await h.json('/api/v1/topics/t/partitions/0/messages')
    expect(body.messages[0]?.value).toBe('')
  })

  it('answers 200 only after the commit: the record is readable from the store at once', async () => {
    const h = await startHttp()
    h.temp.store.createStream('t', { partitions: 2 })
    for (let i = 0; i < 20; i++) {
      const { status, body } = await h.json('/api/v1/topics/t/messages', {
        method: 'POST',
        headers: { 'x-partition': '1' },
        body: `v${i}`,
      })
      expect(status).toBe(200)
      // No flush, no wait: what the 200 reported is already committed and readable.
      const read = h.temp.store.read('t', 1, BigInt(body.offset), { maxRecords: 1 })
      expect(read.records[0]?.offset).toBe(BigInt(i))
      expect(text(read.records[0]?.value ?? null)).toBe(`v${i}`)
    }
  })

  it('X-Partition-Key picks the partition with Kafka murmur2 and is stored as the key', async () => {
    const h = await startHttp()
    h.temp.store.createStream('k', { partitions: 7 })
    const keys = ['sensor-1', 'sensor-2', 'gw/α/温度', 'a', '', 'x'.repeat(100)]
    for (const key of keys) {
      const keyBytes = Buffer.from(key, 'utf8')
      // fetch sends header values as latin1 ByteStrings: pass the UTF-8 bytes one char per byte.
      const { status, body } = await h.json('/api/v1/topics/k/messages', {
        method: 'POST',
        headers: { 'x-partition-key': keyBytes.toString('latin1') },
        body: 'v',
      })
      expect(status).toBe(200)
      expect(body.partition).toBe(partitionForKey(keyBytes, 7))
      const got = await h.json(`/api/v1/topics/k/partitions/${body.partition}/messages?offset=${body.offset}&limit=1`)
      expect(got.body.messages[0]?.key).toBe(key)
      expect(got.body.messages[0]?.key_base64).toBe(b64(keyBytes))
    }
  })

  it('keyless records go round-robin over the partitions; X-Partition overrides the key', async () => {
    const h = await startHttp()
    h.temp.store.createStream('rr', { partitions: 3 })
    const partitions: number[] = []
    for (let i = 0; i < 6; i++) {
      partitions.push((await h.json('/api/v1/topics/rr/messages', { method: 'POST', body: 'v' })).body.partition)
    }
    expect(partitions).toEqual([0, 1, 2, 0, 1, 2])
    const key = 'some-key'
    const other = (partitionForKey(bytes(key), 3) + 1) % 3
    const explicit = await h.json('/api/v1/topics/rr/messages', {
      method: 'POST',
      headers: { 'x-partition-key': key, 'x-partition': String(other) },
      body: 'v',
    })
    expect(explicit.body.partition).toBe(other)
    expect(text(h.temp.store.read('rr', other, BigInt(explicit.body.offset)).records[0]?.key ?? null)).toBe(key)
  })

  it('X-Header-<name> request headers become record headers, in order, read back as base64', async () => {
    const h = await startHttp()
    h.temp.store.createStream('h')
    const { status } = await h.json('/api/v1/topics/h/messages', {
      method: 'POST',
      headers: [
        ['X-Header-Content-Kind', 'temp'],
        ['x-header-unit', '°C'],
        ['X-Other', 'ignored'],
      ],
      body: '21.5',
    })
    expect(status).toBe(200)
    const record = h.temp.store.read('h', 0, 0n).records[0]
    // The name is kept as the client spelled it; the value's bytes as sent (latin1 here).
    expect(record?.headers.map((x) => [x.key, Buffer.from(x.value).toString('latin1')])).toEqual([
      ['Content-Kind', 'temp'],
      ['unit', '°C'],
    ])
    const { body } = await h.json('/api/v1/topics/h/partitions/0/messages')
    expect(body.messages[0]?.headers).toEqual({ 'Content-Kind': b64('temp'), unit: b64(Buffer.from('°C', 'latin1')) })
    expect(body.messages[0]?.header_list).toBeUndefined()
  })

  it('keys that are not UTF-8, repeated header names and tombstones are rendered without loss', async () => {
    const h = await startHttp()
    h.temp.store.createStream('raw')
    await h.temp.store.append('raw', 0, [
      {
        key: new Uint8Array([0xff, 0xfe, 0x00]),
        value: null,
        headers: [
          { key: 'a', value: bytes('1') },
          { key: 'a', value: bytes('2') },
        ],
      },
    ])
    const { body } = await h.json('/api/v1/topics/raw/partitions/0/messages')
    expect(body.messages[0]).toMatchObject({
      key: null,
      key_base64: b64(new Uint8Array([0xff, 0xfe, 0x00])),
      value: null,
      headers: { a: b64('2') },
      header_list: [
        ['a', b64('1')],
        ['a', b64('2')],
      ],
    })
  })

  it('consume honours offset and limit, and next_offset continues where it stopped', async () => {
    const h = await startHttp()
    h.temp.store.createStream('t')
    await h.temp.store.append(
      't',
      0,
      Array.from({ length: 250 }, (_, i) => ({ value: bytes(String(i)) })),
    )
    const first = await h.json('/api/v1/topics/t/partitions/0/messages')
    expect(first.body.messages).toHaveLength(100) // default limit
    expect(first.body.next_offset).toBe(100)
    const page = await h.json('/api/v1/topics/t/partitions/0/messages?offset=240&limit=5')
    expect(page.body.messages.map((m: { offset: number }) => m.offset)).toEqual([240, 241, 242, 243, 244])
    expect(page.body.next_offset).toBe(245)
    const end = await h.json('/api/v1/topics/t/partitions/0/messages?offset=250')
    expect(end.body).toEqual({ messages: [], next_offset: 250 })
    const all = await h.json('/api/v1/topics/t/partitions/0/messages?limit=10000')
    expect(all.body.messages).toHaveLength(250)
  })

  it('a long-poll answers as soon as a produce commits', async () => {
    const h = await startHttp()
    h.temp.store.createStream('lp', { partitions: 2 })
    const started = Date.now()
    const poll = h.json('/api/v1/topics/lp/partitions/1/messages?offset=0&wait_ms=30000')
    await new Promise((resolve) => setTimeout(resolve, 100))
    // A produce to another partition does not wake it.
    await h.json('/api/v1/topics/lp/messages', { method: 'POST', headers: { 'x-partition': '0' }, body: 'other' })
    await h.json('/api/v1/topics/lp/messages', { method: 'POST', headers: { 'x-partition': '1' }, body: 'wake' })
    const { status, body } = await poll
    expect(status).toBe(200)
    expect(Date.now() - started).toBeLessThan(10_000)
    expect(body.messages).toHaveLength(1)
    expect(Buffer.from(body.messages[0]?.value ?? '', 'base64').toString()).toBe('wake')
    expect(body.next_offset).toBe(1)
  })

  it('a long-poll with nothing arriving answers empty when its time is up', async () => {
    const h = await startHttp()
    h.temp.store.createStream('lp')
    await h.temp.store.append('lp', 0, [{ value: bytes('old') }])
    const poll = h.json('/api/v1/topics/lp/partitions/0/messages?offset=1&wait_ms=150')
    const { status, body } = await poll
    expect(status).toBe(200)
    expect(body).toEqual({ messages: [], next_offset: 1 })
  })

  it('a long-poll runs on the injected clock', async () => {
    const temp = openTempStore()
    const h = await startHttp({ temp, clock: temp.clock })
    temp.store.createStream('lp')
    const timersBefore = temp.clock.pendingTimers
    const poll = h.json('/api/v1/topics/lp/partitions/0/messages?wait_ms=5000')
    while (temp.clock.pendingTimers === timersBefore) await new Promise((resolve) => setTimeout(resolve, 5))
    temp.clock.advance(5000)
    expect((await poll).body).toEqual({ messages: [], next_offset: 0 })
  })

  it('close() answers pending long-polls at once', async () => {
    const h = await startHttp()
    h.temp.store.createStream('lp')
    const poll = h.json('/api/v1/topics/lp/partitions/0/messages?wait_ms=30000')
    await new Promise((resolve) => setTimeout(resolve, 100))
    h.api.close()
    expect((await poll).body).toEqual({ messages: [], next_offset: 0 })
  })

  it('a long-poll whose client goes away stops watching the log', async () => {
    const h = await startHttp()
    h.temp.store.createStream('lp')
    const controller = new AbortController()
    const poll = h.call('/api/v1/topics/lp/partitions/0/messages?wait_ms=30000', { signal: controller.signal })
    await new Promise((resolve) => setTimeout(resolve, 100))
    controller.abort()
    await expect(poll).rejects.toThrow()
    // The server is still fine, and a produce after the abort goes through.
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect((await h.json('/api/v1/topics/lp/messages', { method: 'POST', body: 'x' })).status).toBe(200)
  })
})
