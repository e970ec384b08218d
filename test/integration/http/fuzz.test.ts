import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { bytes } from '../../helpers/temp-store.ts'
import { startHttp } from './http-harness.ts'

const expected = new Set([200, 201, 204, 400, 404, 405, 409, 413, 416])

describe('http - fuzzed requests', () => {
  it('random paths, queries, headers and bodies get JSON answers and never break the server', async () => {
    const h = await startHttp({ maxBodyBytes: 4096 })
    h.temp.store.createStream('t', { partitions: 2 })
    await h.temp.store.append('t', 0, [{ value: bytes('a') }])
    const segment = fc.oneof(
      fc.constantFrom('api', 'v1', 'topics', 't', 'streams', 'partitions', 'messages', 'consumer-groups', 'offsets'),
      fc.constantFrom('0', '1', '-1', 'NaN', '1e9', '%', '%zz', '%2F', '..', '.', ''),
      fc.string({ maxLength: 12 }).map(encodeURIComponent),
    )
    const path = fc.array(segment, { minLength: 1, maxLength: 7 }).map((s) => '/' + s.join('/'))
    const query = fc.array(
      fc.tuple(
        fc.constantFrom('offset', 'limit', 'wait_ms', 'topic', 'x'),
        fc.oneof(fc.constantFrom('0', '1', '-1', 'NaN', '10001', '1.5', ''), fc.string({ maxLength: 8 })),
      ),
      { maxLength: 3 },
    )
    const method = fc.constantFrom('GET', 'POST', 'PATCH', 'DELETE', 'PUT', 'HEAD')
    const header = fc.tuple(
      fc.constantFrom('x-partition', 'x-partition-key', 'x-header-a', 'x-consumer-group', 'content-type'),
      fc.string({ maxLength: 10 }).filter((v) => /^[\x20-\x7e]*$/.test(v)),
    )
    const body = fc.oneof(
      fc.constant(undefined),
      fc.string({ maxLength: 50 }),
      fc.json({ maxDepth: 2 }),
      fc.constant('{"name":"fz","partitions":2}'),
      fc.constant('{"topic":"t","partition":0,"offset":1}'),
      fc.uint8Array({ maxLength: 6000 }),
    )
    // Long-polls are cut short so a run stays quick.
    const seen = new Set<number>()
    await fc.assert(
      fc.asyncProperty(path, query, method, fc.array(header, { maxLength: 3 }), body, async (p, q, m, hs, b) => {
        const search = new URLSearchParams(
          q.map(([k, v]): [string, string] => [k, k === 'wait_ms' ? '0' : v]),
        ).toString()
        const response = await h.call(p + (search === '' ? '' : `?${search}`), {
          method: m,
          headers: hs,
          ...(b === undefined || m === 'GET' || m === 'HEAD' ? {} : { body: b }),
        })
        const text = await response.text()
        seen.add(response.status)
        expect(expected.has(response.status), `${m} ${p} -> ${response.status} ${text}`).toBe(true)
        if (response.status >= 400 && m !== 'HEAD') {
          const parsed = JSON.parse(text) as { error: { code: string } }
          expect(parsed.error.code).toMatch(/^CAIRN_/)
        }
      }),
      { numRuns: 300 },
    )
    expect(seen.has(404)).toBe(true)
    expect((await h.json('/healthz')).body.status).toBe('ok')
  })
})
