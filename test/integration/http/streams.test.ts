import { describe, expect, it } from 'vitest'
import { bytes } from '../../helpers/temp-store.ts'
import { jsonBody, startHttp } from './http-harness.ts'

describe('http - stream admin', () => {
  it('create, list, describe, alter, grow and delete a stream', async () => {
    const h = await startHttp()
    const created = await h.json(
      '/api/v1/streams',
      jsonBody('POST', { name: 'sensors.temp', partitions: 2, retentionMs: 3_600_000, subjects: ['sensors/+/temp'] }),
    )
    expect(created.status).toBe(201)
    expect(created.response.headers.get('location')).toBe('/api/v1/streams/sensors.temp')
    expect(created.body).toMatchObject({
      name: 'sensors.temp',
      config: {
        partitions: 2,
        retentionMs: 3_600_000,
        retentionBytes: null,
        cleanupPolicy: 'delete',
        durability: 'fsync',
        subjects: ['sensors/+/temp'],
      },
      createdMs: h.temp.clock.now(),
      partitions: [
        { partition: 0, logStartOffset: 0, logEndOffset: 0, records: 0, bytes: 0 },
        { partition: 1, logStartOffset: 0, logEndOffset: 0, records: 0, bytes: 0 },
      ],
    })
    await h.temp.store.append('sensors.temp', 1, [{ value: bytes('x') }, { value: bytes('y') }])
    await h.json('/api/v1/streams', jsonBody('POST', { name: 'other' }))

    const list = await h.json('/api/v1/streams')
    expect(list.status).toBe(200)
    expect(list.body.streams.map((s: { name: string }) => s.name)).toEqual(['sensors.temp', 'other'])
    expect(list.body.streams[0]?.partitions[1]).toMatchObject({ logStartOffset: 0, logEndOffset: 2, records: 2 })

    const described = await h.json('/api/v1/streams/sensors.temp')
    expect(described.body.partitions[1]?.logEndOffset).toBe(2)

    const altered = await h.json(
      '/api/v1/streams/sensors.temp',
      jsonBody('PATCH', { retentionMs: null, durability: 'os', partitions: 4 }),
    )
    expect(altered.status).toBe(200)
    expect(altered.body.config).toMatchObject({ partitions: 4, retentionMs: null, durability: 'os' })
    expect(altered.body.partitions).toHaveLength(4)
    expect(altered.body.partitions[1]?.logEndOffset).toBe(2) // existing partitions untouched
    expect(h.temp.store.partitionCount('sensors.temp')).toBe(4)

    const deleted = await h.call('/api/v1/streams/sensors.temp', { method: 'DELETE' })
    expect(deleted.status).toBe(204)
    expect(await deleted.text()).toBe('')
    expect(h.temp.store.hasStream('sensors.temp')).toBe(false)
    expect((await h.json('/api/v1/streams/sensors.temp')).status).toBe(404)
  })

  it('refuses bad stream requests with the field named', async () => {
    const h = await startHttp()
    await h.json('/api/v1/streams', jsonBody('POST', { name: 's', partitions: 3 }))
    const cases: Array<[string, RequestInit, number, string, string?]> = [
      ['/api/v1/streams', jsonBody('POST', { name: 's' }), 409, 'CAIRN_STREAM_EXISTS'],
      ['/api/v1/streams', jsonBody('POST', {}), 400, 'CAIRN_REQUEST_INVALID', 'name'],
      ['/api/v1/streams', jsonBody('POST', { name: 'a b' }), 400, 'CAIRN_STREAM_NAME_INVALID'],
      ['/api/v1/streams', jsonBody('POST', { name: 42 }), 400, 'CAIRN_STREAM_NAME_INVALID'],
      [
        '/api/v1/streams',
        jsonBody('POST', { name: 'x', partitions: 0 }),
        400,
        'CAIRN_STREAM_CONFIG_INVALID',
        'partitions',
      ],
      [
        '/api/v1/streams',
        jsonBody('POST', { name: 'x', partitions: '2' }),
        400,
        'CAIRN_STREAM_CONFIG_INVALID',
        'partitions',
      ],
      [
        '/api/v1/streams',
        jsonBody('POST', { name: 'x', cleanupPolicy: 'nope' }),
        400,
        'CAIRN_STREAM_CONFIG_INVALID',
        'cleanupPolicy',
      ],
      ['/api/v1/streams', jsonBody('POST', { name: 'x', bogus: 1 }), 400, 'CAIRN_STREAM_CONFIG_INVALID', 'bogus'],
      [
        '/api/v1/streams',
        jsonBody('POST', { name: 'x', subjects: 'a/#' }),
        400,
        'CAIRN_STREAM_CONFIG_INVALID',
        'subjects',
      ],
      ['/api/v1/streams/s', jsonBody('PATCH', { partitions: 2 }), 400, 'CAIRN_STREAM_CONFIG_INVALID', 'grow'],
      [
        '/api/v1/streams/s',
        jsonBody('PATCH', { partitions: 5, retentionMs: -1 }),
        400,
        'CAIRN_STREAM_CONFIG_INVALID',
        'retentionMs',
      ],
      ['/api/v1/streams/s', jsonBody('PATCH', { name: 't' }), 400, 'CAIRN_REQUEST_INVALID', 'name'],
      ['/api/v1/streams/s', jsonBody('PATCH', 'x'), 400, 'CAIRN_REQUEST_INVALID', 'body'],
      ['/api/v1/streams/none', jsonBody('PATCH', { retentionMs: 5 }), 404, 'CAIRN_STREAM_NOT_FOUND'],
      ['/api/v1/streams/none', { method: 'DELETE' }, 404, 'CAIRN_STREAM_NOT_FOUND'],
      ['/api/v1/streams/..', { method: 'GET' }, 404, 'CAIRN_OPERATION_UNKNOWN'],
      ['/api/v1/streams/a%2Fb', { method: 'GET' }, 400, 'CAIRN_STREAM_NAME_INVALID'],
    ]
    for (const [path, init, status, code, field] of cases) {
      const result = await h.json(path, init)
      expect({ path, status: result.status, code: result.body.error.code }).toEqual({ path, status, code })
      if (field !== undefined) expect(result.body.error.message).toContain(field)
    }
    // A refused PATCH changed nothing (partitions were not grown although valid).
    expect(h.temp.store.partitionCount('s')).toBe(3)
    expect(h.temp.store.hasStream('x')).toBe(false)
  })

  it('an empty PATCH answers the stream as it is', async () => {
    const h = await startHttp()
    h.temp.store.createStream('s')
    const result = await h.json('/api/v1/streams/s', jsonBody('PATCH', {}))
    expect(result.status).toBe(200)
    expect(result.body.name).toBe('s')
  })
})

describe('http - health', () => {
  it('/healthz is 200 while serving; /readyz follows isReady()', async () => {
    let ready = false
    const h = await startHttp({ isReady: () => ready })
    expect(await h.json('/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } })
    const notReady = await h.json('/readyz')
    expect(notReady.status).toBe(503)
    expect(notReady.response.headers.get('content-type')).toMatch(/^application\/json/)
    expect(notReady.body).toEqual({ status: 'not ready', problems: ['broker not ready'] })
    ready = true
    expect(await h.json('/readyz')).toMatchObject({ status: 200, body: { status: 'ready' } })
    h.api.close()
    expect((await h.json('/readyz')).status).toBe(503)
    expect((await h.json('/healthz')).status).toBe(200)
  })
})
