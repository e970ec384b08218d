import { describe, expect, it } from 'vitest'
import { stubMirror, stubNowMs } from '../../helpers/stub-mirror.ts'
import { startHttp } from './http-harness.ts'

// GET /api/v1/mirror/status and /api/v1/mirror/translate. The mirror behind them is a stand-in
// (test/helpers/stub-mirror.ts) with fixed answers: these tests check the HTTP exposure (query, JSON,
// status codes); the real mirror is tested in its own suites.

interface TranslationJson {
  link: string
  stream: string
  partition: number
  upstreamTopic: string
  upstreamPartition: number
  kind: string
  direction: string
  from: number
  to: number
  clamped: boolean
}

const translate = (query: string) => `/api/v1/mirror/translate?${query}`

describe('http - mirror', () => {
  it('status: every link and partition, offsets as JSON numbers, nulls kept', async () => {
    const h = await startHttp({ mirror: stubMirror() })
    const { status, body, response } = await h.json('/api/v1/mirror/status')
    expect(status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/^application\/json/)
    expect(body).toEqual({
      links: [
        {
          link: 'central',
          state: 'backoff',
          lastError: { code: 'CAIRN_UPSTREAM_UNAVAILABLE', message: 'kafka:9092 refused', atMs: stubNowMs - 12_000 },
          redeliveredRecords: 3,
          partitions: [
            {
              stream: 'sensors',
              partition: 1,
              upstreamTopic: 'gw1.sensors',
              upstreamPartition: 1,
              state: 'active',
              nextLocal: 0,
              lastUpstream: -1,
              lagRecords: 0,
              oldestUnmirroredMs: null,
              confirmedRecords: 0,
              gapRecords: 5,
            },
            {
              stream: 'sensors',
              partition: 0,
              upstreamTopic: 'gw1.sensors',
              upstreamPartition: 0,
              state: 'active',
              nextLocal: 40,
              lastUpstream: 139,
              lagRecords: 2,
              oldestUnmirroredMs: stubNowMs - 90_000,
              confirmedRecords: 40,
              gapRecords: 0,
            },
          ],
        },
      ],
    })
    expect((await h.call('/api/v1/mirror/status', { method: 'HEAD' })).status).toBe(200)
  })

  it('translate: a record by default to upstream; to-local, positions, an explicit link', async () => {
    const mirror = stubMirror()
    const h = await startHttp({ mirror })
    const record = await h.json(translate('stream=sensors&partition=0&offset=12'))
    expect(record.status).toBe(200)
    expect(record.body as unknown as TranslationJson).toEqual({
      link: 'central',
      stream: 'sensors',
      partition: 0,
      upstreamTopic: 'gw1.sensors',
      upstreamPartition: 0,
      kind: 'record',
      direction: 'to-upstream',
      from: 12,
      to: 112,
      clamped: false,
    })
    expect(mirror.requests[0]).toEqual({
      stream: 'sensors',
      partition: 0,
      offset: 12n,
      kind: 'record',
      direction: 'to-upstream',
    })
    const back = await h.json(translate('stream=sensors&partition=0&offset=139&direction=to-local&link=central'))
    expect(back.body).toMatchObject({ link: 'central', direction: 'to-local', from: 139, to: 39 })
    expect(mirror.requests[1]?.link).toBe('central')
    const position = await h.json(translate('stream=sensors&partition=0&offset=50&kind=position'))
    expect(position.body).toMatchObject({ kind: 'position', from: 50, to: 140, clamped: true })
  })

  it('translate: no image is 404 CAIRN_OFFSET_NOT_MIRRORED; bad or missing parameters are 400 naming them', async () => {
    const h = await startHttp({ mirror: stubMirror() })
    const missing = await h.json(translate('stream=sensors&partition=0&offset=40'))
    expect(missing.status).toBe(404)
    expect(missing.body.error).toEqual({
      code: 'CAIRN_OFFSET_NOT_MIRRORED',
      message: 'local offset 40 has no upstream copy',
      retriable: false,
    })
    const notOurs = await h.json(translate('stream=sensors&partition=0&offset=7&direction=to-local'))
    expect(notOurs.status).toBe(404)
    expect(notOurs.body.error.code).toBe('CAIRN_OFFSET_NOT_MIRRORED')

    const cases: Array<[string, RegExp]> = [
      ['partition=0&offset=1', /^stream is required/],
      ['stream=sensors&offset=1', /^partition is required/],
      ['stream=sensors&partition=0', /^offset is required/],
      ['stream=sensors&partition=0&offset=-1', /^offset must be a non-negative integer/],
      ['stream=sensors&partition=x&offset=1', /^partition must be an integer/],
      ['stream=sensors&partition=0&offset=1&kind=offset', /^kind must be record or position \(got "offset"\)/],
      ['stream=sensors&partition=0&offset=1&direction=up', /^direction must be to-upstream or to-local/],
      ['stream=sensors&partition=0&offset=1&offset=2', /^offset must be given once/],
      ['stream=sensors&partition=0&offset=1&link=', /^link must not be empty/],
    ]
    for (const [query, message] of cases) {
      const { status, body } = await h.json(translate(query))
      expect({ query, status, code: body.error.code }).toEqual({ query, status: 400, code: 'CAIRN_REQUEST_INVALID' })
      expect(body.error.message).toMatch(message)
    }
    const badName = await h.json(translate('stream=a%2Fb&partition=0&offset=1'))
    expect(badName.status).toBe(400)
    expect(badName.body.error.code).toBe('CAIRN_STREAM_NAME_INVALID')
    const unknownLink = await h.json(translate('stream=sensors&partition=0&offset=1&link=backup'))
    expect(unknownLink.status).toBe(400)
    expect(unknownLink.body.error.message).toBe('no mirror link backup')
    const post = await h.call('/api/v1/mirror/status', { method: 'POST' })
    expect(post.status).toBe(405)
    expect(post.headers.get('allow')).toMatch(/GET/)
  })

  it('resolve: an operator action on a stopped partition; a wrong action or body is 400 naming the field', async () => {
    const h = await startHttp({ mirror: stubMirror() })
    const resolve = (body: unknown) =>
      h.json('/api/v1/mirror/resolve', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
    const ok = await resolve({ stream: 'sensors', partition: 0, action: 'skip', link: 'central' })
    expect(ok.status).toBe(200)
    expect(ok.body).toEqual({
      link: 'central',
      stream: 'sensors',
      partition: 0,
      action: 'skip',
      previousState: 'blocked-poison',
      state: 'active',
      nextLocal: 41,
      mapEpoch: 0,
    })
    const wrong = await resolve({ stream: 'sensors', partition: 0, action: 'remirror' })
    expect(wrong.status).toBe(400)
    expect(wrong.body.error.message).toMatch(/remirror does not apply \(use retry or skip\)/)
    const cases: Array<[unknown, RegExp]> = [
      [{ partition: 0, action: 'skip' }, /^stream must be a stream name/],
      [{ stream: 'sensors', action: 'skip' }, /^partition is required/],
      [{ stream: 'sensors', partition: 0, action: 'undo' }, /^action must be retry, skip, remirror, continue, rebase/],
      [{ stream: 'sensors', partition: 0, action: 'skip', link: '' }, /^link must be a non-empty string/],
    ]
    for (const [body, message] of cases) {
      const { status, body: answer } = await resolve(body)
      expect({ body, status, code: answer.error.code }).toEqual({ body, status: 400, code: 'CAIRN_REQUEST_INVALID' })
      expect(answer.error.message).toMatch(message)
    }
    expect((await h.call('/api/v1/mirror/resolve')).status).toBe(405)
  })

  it('without a mirror both endpoints answer 400 CAIRN_REQUEST_INVALID, saying so', async () => {
    const h = await startHttp()
    for (const path of ['/api/v1/mirror/status', translate('stream=sensors&partition=0&offset=1')]) {
      const { status, body } = await h.json(path)
      expect(status).toBe(400)
      expect(body.error).toEqual({
        code: 'CAIRN_REQUEST_INVALID',
        message: 'no mirror is configured (cairn serve --mirror-to ...)',
        retriable: false,
      })
    }
  })
})
