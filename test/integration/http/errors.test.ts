import { connect } from 'node:net'
import { describe, expect, it } from 'vitest'
import { BrokerError, errorCodes } from '../../../src/errors.ts'
import { statusForCode, toErrorBody, toHttpStatus } from '../../../src/http/http-errors.ts'
import { bytes, openTempStore } from '../../helpers/temp-store.ts'
import { jsonBody, noGroups, startHttp, type JsonResult } from './http-harness.ts'

/** Sends raw bytes on a fresh connection and returns everything the server wrote until it closed. */
function rawRequest(port: number, request: string | Buffer, endAfterWrite = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('error', reject)
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')))
    socket.write(request, () => {
      if (endAfterWrite) socket.end()
    })
    socket.setTimeout(5000, () => socket.destroy())
  })
}

function expectError(result: JsonResult, status: number, code: string) {
  expect({ status: result.status, code: result.body.error.code }).toEqual({ status, code })
  expect(typeof result.body.error.message).toBe('string')
  expect(typeof result.body.error.retriable).toBe('boolean')
}

describe('http - error mapping', () => {
  it('maps every BrokerError code to a 4xx/5xx status', () => {
    for (const code of errorCodes) {
      const status = statusForCode(code)
      expect(status, code).toBeGreaterThanOrEqual(400)
      expect(status, code).toBeLessThan(600)
    }
    expect(statusForCode('CAIRN_STREAM_NOT_FOUND')).toBe(404)
    expect(statusForCode('CAIRN_GROUP_NOT_FOUND')).toBe(404)
    expect(statusForCode('CAIRN_STREAM_EXISTS')).toBe(409)
    expect(statusForCode('CAIRN_GROUP_NOT_EMPTY')).toBe(409)
    expect(statusForCode('CAIRN_GROUP_STALE_EPOCH')).toBe(409)
    expect(statusForCode('CAIRN_GROUP_MEMBER_UNKNOWN')).toBe(409)
    expect(statusForCode('CAIRN_REQUEST_INVALID')).toBe(400)
    expect(statusForCode('CAIRN_RECORD_INVALID')).toBe(400)
    expect(statusForCode('CAIRN_STREAM_CONFIG_INVALID')).toBe(400)
    expect(statusForCode('CAIRN_OFFSET_OUT_OF_RANGE')).toBe(416)
    expect(statusForCode('CAIRN_STORAGE_FULL')).toBe(507)
    expect(statusForCode('CAIRN_STORAGE_BUSY')).toBe(503)
    expect(toHttpStatus(new TypeError('x'))).toBe(500)
  })

  it('never shows the internals of an unexpected error', () => {
    expect(toErrorBody(new Error('SELECT secret FROM table'))).toEqual({
      error: { code: 'CAIRN_INTERNAL', message: 'internal error (see the broker log)', retriable: false },
    })
    expect(toErrorBody(new BrokerError('CAIRN_STORAGE_FULL', 'full'))).toEqual({
      error: { code: 'CAIRN_STORAGE_FULL', message: 'full', retriable: true },
    })
  })

  it('a failure that is not a BrokerError is a 500 without details', async () => {
    const h = await startHttp({
      groups: () => ({
        ...noGroups,
        listGroups: () => {
          throw new TypeError('secret internal detail')
        },
      }),
    })
    const result = await h.json('/api/v1/consumer-groups')
    expectError(result, 500, 'CAIRN_INTERNAL')
    expect(JSON.stringify(result.body)).not.toContain('secret')
  })
})

describe('http - refused requests', () => {
  it('produce: unknown stream is 404 and is not created; a bad name is 400', async () => {
    const h = await startHttp()
    expectError(
      await h.json('/api/v1/topics/nope/messages', { method: 'POST', body: 'x' }),
      404,
      'CAIRN_STREAM_NOT_FOUND',
    )
    expect(h.temp.store.hasStream('nope')).toBe(false)
    expectError(
      await h.json('/api/v1/topics/bad%20name/messages', { method: 'POST', body: 'x' }),
      400,
      'CAIRN_STREAM_NAME_INVALID',
    )
    expectError(
      await h.json(`/api/v1/topics/${'a'.repeat(250)}/messages`, { method: 'POST', body: 'x' }),
      400,
      'CAIRN_STREAM_NAME_INVALID',
    )
  })

  it('produce: bad or unknown X-Partition', async () => {
    const h = await startHttp()
    h.temp.store.createStream('t', { partitions: 2 })
    const post = (partition: string) =>
      h.json('/api/v1/topics/t/messages', { method: 'POST', headers: { 'x-partition': partition }, body: 'x' })
    expectError(await post('2'), 404, 'CAIRN_PARTITION_NOT_FOUND')
    for (const bad of ['-1', 'abc', '1.5', 'NaN', '', '99999999999999999999999']) {
      const result = await post(bad)
      expectError(result, 400, 'CAIRN_REQUEST_INVALID')
      expect(result.body.error.message).toContain('X-Partition')
    }
    expect(h.temp.store.latestOffset('t', 0) + h.temp.store.latestOffset('t', 1)).toBe(0n)
  })

  it('produce: a body over maxBodyBytes is 413 and nothing is written (declared length)', async () => {
    const h = await startHttp({ maxBodyBytes: 1024 })
    h.temp.store.createStream('t')
    const ok = await h.json('/api/v1/topics/t/messages', { method: 'POST', body: new Uint8Array(1024) })
    expect(ok.status).toBe(200)
    const result = await h.json('/api/v1/topics/t/messages', { method: 'POST', body: new Uint8Array(2 * 1024 * 1024) })
    expectError(result, 413, 'CAIRN_REQUEST_INVALID')
    expect(result.body.error.message).toContain('1024')
    expect(h.temp.store.latestOffset('t', 0)).toBe(1n)
  })

  it('produce: a chunked body is refused once it passes the limit, and the connection is closed', async () => {
    const h = await startHttp({ maxBodyBytes: 1000 })
    h.temp.store.createStream('t')
    const head = 'POST /api/v1/topics/t/messages HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n'
    const chunk = `400\r\n${'a'.repeat(0x400)}\r\n`
    // The body never ends: the server must answer and close without waiting for it.
    const answer = await rawRequest(h.port, head + chunk + chunk)
    expect(answer).toMatch(/^HTTP\/1\.1 413 /)
    expect(answer.toLowerCase()).toContain('connection: close')
    expect(answer).toContain('"CAIRN_REQUEST_INVALID"')
    expect(h.temp.store.latestOffset('t', 0)).toBe(0n)
  })

  it('consume: bad partition, offset, limit and wait_ms', async () => {
    const h = await startHttp()
    h.temp.store.createStream('t', { partitions: 2 })
    await h.temp.store.append('t', 0, [{ value: bytes('a') }, { value: bytes('b') }])
    const get = (path: string) => h.json(`/api/v1/topics/t/partitions/${path}`)
    expectError(await get('abc/messages'), 400, 'CAIRN_REQUEST_INVALID')
    expectError(await get('-1/messages'), 400, 'CAIRN_REQUEST_INVALID')
    expectError(await get('2/messages'), 404, 'CAIRN_PARTITION_NOT_FOUND')
    expectError(await h.json('/api/v1/topics/none/partitions/0/messages'), 404, 'CAIRN_STREAM_NOT_FOUND')
    for (const query of ['offset=-1', 'offset=NaN', 'offset=1.5', 'offset=', 'offset=1e3', 'offset=0&offset=1']) {
      const result = await get(`0/messages?${query}`)
      expectError(result, 400, 'CAIRN_REQUEST_INVALID')
      expect(result.body.error.message).toContain('offset')
    }
    for (const query of ['limit=0', 'limit=10001', 'limit=x', 'wait_ms=30001', 'wait_ms=-5']) {
      expectError(await get(`0/messages?${query}`), 400, 'CAIRN_REQUEST_INVALID')
    }
    expect((await get('0/messages?limit=10000&wait_ms=0')).status).toBe(200)
  })

  it('consume: an offset outside the log is 416 and names logStartOffset and logEndOffset', async () => {
    const h = await startHttp({
      temp: openTempStore({ segment: { segmentRecords: 2 } }),
    })
    const { store, clock } = h.temp
    store.createStream('t', { retentionMs: 60_000 })
    await store.append('t', 0, [{ value: bytes('a') }, { value: bytes('b') }])
    clock.advance(120_000)
    await store.append('t', 0, [{ value: bytes('c') }, { value: bytes('d') }])
    await store.runMaintenance()
    expect(store.earliestOffset('t', 0)).toBe(2n)
    const above = await h.json('/api/v1/topics/t/partitions/0/messages?offset=5')
    expectError(above, 416, 'CAIRN_OFFSET_OUT_OF_RANGE')
    expect(above.body.error).toMatchObject({ logStartOffset: 2, logEndOffset: 4 })
    expect(above.body.error.message).toContain('[2, 4]')
    const below = await h.json('/api/v1/topics/t/partitions/0/messages?offset=0')
    expectError(below, 416, 'CAIRN_OFFSET_OUT_OF_RANGE')
    expect(below.body.error).toMatchObject({ logStartOffset: 2, logEndOffset: 4 })
    expectError(
      await h.json('/api/v1/topics/t/partitions/0/messages?offset=99999999999999999999'),
      416,
      'CAIRN_OFFSET_OUT_OF_RANGE',
    )
    // Without an offset (and without a group) reading starts at the earliest record kept.
    const { body } = await h.json('/api/v1/topics/t/partitions/0/messages')
    expect(body.messages.map((m: { offset: number }) => m.offset)).toEqual([2, 3])
  })

  it('unknown path is 404 JSON; a wrong method is 405 with Allow', async () => {
    const h = await startHttp()
    for (const path of ['/', '/api', '/api/v1/nothing', '/api/v1/streams/a/b/c', '/api//streams', '/healthz/x']) {
      const result = await h.json(path)
      expectError(result, 404, 'CAIRN_OPERATION_UNKNOWN')
    }
    const cases: Array<[string, string, string]> = [
      ['PUT', '/api/v1/streams', 'GET, POST, HEAD'],
      ['DELETE', '/api/v1/streams', 'GET, POST, HEAD'],
      ['GET', '/api/v1/topics/t/messages', 'POST'],
      ['POST', '/api/v1/topics/t/partitions/0/messages', 'GET, HEAD'],
      ['POST', '/healthz', 'GET, HEAD'],
      ['PURGE', '/api/v1/streams/x', 'GET, PATCH, DELETE, HEAD'],
      ['GET', '/api/v1/consumer-groups/g/reset-offsets', 'POST'],
    ]
    for (const [method, path, allow] of cases) {
      const result = await h.json(path, { method })
      expectError(result, 405, 'CAIRN_OPERATION_UNKNOWN')
      expect(result.response.headers.get('allow'), `${method} ${path}`).toBe(allow)
    }
    const options = await h.call('/api/v1/streams', { method: 'OPTIONS' })
    expect(options.status).toBe(204)
    expect(options.headers.get('allow')).toBe('GET, POST, HEAD')
    const head = await h.call('/healthz', { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(await head.text()).toBe('')
  })

  it('malformed input never crashes the server', async () => {
    const h = await startHttp()
    h.temp.store.createStream('t')
    expectError(await h.json('/api/v1/streams/%ZZ'), 400, 'CAIRN_REQUEST_INVALID')
    expectError(await h.json('/api/v1/streams', { method: 'POST', body: '{"name": ' }), 400, 'CAIRN_REQUEST_INVALID')
    expectError(await h.json('/api/v1/streams', { method: 'POST', body: '[1,2]' }), 400, 'CAIRN_REQUEST_INVALID')
    expectError(await h.json('/api/v1/streams', { method: 'POST', body: 'null' }), 400, 'CAIRN_REQUEST_INVALID')
    expectError(await h.json('/api/v1/streams', { method: 'POST', body: '' }), 400, 'CAIRN_REQUEST_INVALID')
    expectError(await h.json('/api/v1/streams', { method: 'POST', body: '\u0000\uffff' }), 400, 'CAIRN_REQUEST_INVALID')
    expectError(
      await h.json('/api/v1/consumer-groups/g/offsets', jsonBody('POST', { topic: 't', partition: 'zero', offset: 0 })),
      400,
      'CAIRN_REQUEST_INVALID',
    )
    // Headers over Node's limit: answered as JSON by handleHttpClientError.
    const huge = await h.json('/healthz', { headers: { 'x-big': 'a'.repeat(64 * 1024) } })
    expectError(huge, 431, 'CAIRN_REQUEST_INVALID')
    // A request line Node cannot parse, and an unknown method.
    expect(await rawRequest(h.port, 'NOT HTTP AT ALL\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /)
    expect(await rawRequest(h.port, 'FROB /healthz HTTP/1.1\r\nhost: x\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /)
    // A random byte storm.
    const noise = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256))
    await rawRequest(h.port, noise, true)
    // Still serving.
    expect((await h.json('/healthz')).body).toEqual({ status: 'ok' })
    expect((await h.json('/api/v1/topics/t/messages', { method: 'POST', body: 'x' })).status).toBe(200)
  })

  it('a closed store answers 503 CAIRN_STORE_CLOSED and /readyz turns 503', async () => {
    const h = await startHttp()
    h.temp.store.createStream('t')
    expect((await h.json('/readyz')).status).toBe(200)
    await h.temp.store.close()
    expectError(await h.json('/api/v1/topics/t/messages', { method: 'POST', body: 'x' }), 503, 'CAIRN_STORE_CLOSED')
    const ready = await h.json('/readyz')
    expect(ready.status).toBe(503)
    expect(ready.body.problems).toContain('log store closed')
    expect((await h.json('/healthz')).status).toBe(200)
  })
})
