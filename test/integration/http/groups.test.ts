import { describe, expect, it, onTestFinished } from 'vitest'
import { GroupCoordinator } from '../../../src/groups/group-coordinator.ts'
import { bytes, openTempStore } from '../../helpers/temp-store.ts'
import { jsonBody, startHttp, type HttpHarness } from './http-harness.ts'

/** The HTTP API over a real GroupCoordinator on the same temp store (fake clock: sessions never time out). */
async function startWithGroups(): Promise<HttpHarness & { groups: GroupCoordinator }> {
  const temp = openTempStore()
  const groups = new GroupCoordinator({ store: temp.store, clock: temp.clock })
  onTestFinished(() => groups.close())
  const h = await startHttp({ temp, groups: () => groups })
  return Object.assign(h, { groups })
}

async function fill(h: HttpHarness, stream: string, partitions: number, perPartition: number): Promise<void> {
  h.temp.store.createStream(stream, { partitions })
  for (let p = 0; p < partitions; p++) {
    await h.temp.store.append(
      stream,
      p,
      Array.from({ length: perPartition }, (_, i) => ({ value: bytes(`${p}:${i}`) })),
    )
  }
}

const offsetsOf = (body: { messages: Array<{ offset: number }> }) => body.messages.map((m) => m.offset)

describe('http - consumer groups', () => {
  it('commit, then X-Consumer-Group resumes from the committed offset (reading does not commit)', async () => {
    const h = await startWithGroups()
    await fill(h, 't', 2, 10)
    const read = (headers: Record<string, string> = {}, query = '') =>
      h.json(`/api/v1/topics/t/partitions/1/messages?limit=3${query}`, { headers })
    // No commit yet: the group starts at the earliest offset, and reading commits nothing.
    expect(offsetsOf((await read({ 'x-consumer-group': 'app' })).body)).toEqual([0, 1, 2])
    expect(offsetsOf((await read({ 'x-consumer-group': 'app' })).body)).toEqual([0, 1, 2])
    expect(h.groups.committedOffset('app', 't', 1)).toBeUndefined()

    const commit = await h.json(
      '/api/v1/consumer-groups/app/offsets',
      jsonBody('POST', { topic: 't', partition: 1, offset: 3 }),
    )
    expect(commit).toMatchObject({ status: 200, body: { committed: true } })
    expect(h.groups.committedOffset('app', 't', 1)).toBe(3n)

    expect(offsetsOf((await read({ 'x-consumer-group': 'app' })).body)).toEqual([3, 4, 5])
    // An explicit offset wins over the group's position; other groups and partitions are separate.
    expect(offsetsOf((await read({ 'x-consumer-group': 'app' }, '&offset=8')).body)).toEqual([8, 9])
    expect(offsetsOf((await read({ 'x-consumer-group': 'other' })).body)).toEqual([0, 1, 2])
    expect(offsetsOf((await read()).body)).toEqual([0, 1, 2])
    expect(
      offsetsOf(
        (await h.json('/api/v1/topics/t/partitions/0/messages?limit=2', { headers: { 'x-consumer-group': 'app' } }))
          .body,
      ),
    ).toEqual([0, 1])

    // Committing the end: the group is caught up, and a long-poll waits for the next record.
    await h.json(
      '/api/v1/consumer-groups/app/offsets',
      jsonBody('POST', { topic: 't', partition: 1, offset: 10, metadata: 'm' }),
    )
    const poll = h.json('/api/v1/topics/t/partitions/1/messages?wait_ms=20000', {
      headers: { 'x-consumer-group': 'app' },
    })
    await new Promise((resolve) => setTimeout(resolve, 50))
    await h.json('/api/v1/topics/t/messages', { method: 'POST', headers: { 'x-partition': '1' }, body: 'new' })
    const woken = await poll
    expect(offsetsOf(woken.body)).toEqual([10])
    expect(woken.body.next_offset).toBe(11)
  })

  it('commit requests are checked, each problem naming its field', async () => {
    const h = await startWithGroups()
    await fill(h, 't', 1, 5)
    const commit = (body: unknown, group = 'g') =>
      h.json(`/api/v1/consumer-groups/${group}/offsets`, jsonBody('POST', body))
    const cases: Array<[unknown, number, string, string?]> = [
      [{ partition: 0, offset: 1 }, 400, 'CAIRN_REQUEST_INVALID', 'topic'],
      [{ topic: 't', offset: 1 }, 400, 'CAIRN_REQUEST_INVALID', 'partition'],
      [{ topic: 't', partition: 0 }, 400, 'CAIRN_REQUEST_INVALID', 'offset'],
      [{ topic: 't', partition: -1, offset: 1 }, 400, 'CAIRN_REQUEST_INVALID', 'partition'],
      [{ topic: 't', partition: 0, offset: -1 }, 400, 'CAIRN_REQUEST_INVALID', 'offset'],
      [{ topic: 't', partition: 0, offset: 1.5 }, 400, 'CAIRN_REQUEST_INVALID', 'offset'],
      [{ topic: 't', partition: 0, offset: 'NaN' }, 400, 'CAIRN_REQUEST_INVALID', 'offset'],
      [{ topic: 't', partition: 0, offset: 1, metadata: 5 }, 400, 'CAIRN_REQUEST_INVALID', 'metadata'],
      [{ topic: 'no such', partition: 0, offset: 1 }, 400, 'CAIRN_STREAM_NAME_INVALID'],
      [{ topic: 'nope', partition: 0, offset: 1 }, 404, 'CAIRN_STREAM_NOT_FOUND'],
      [{ topic: 't', partition: 1, offset: 1 }, 404, 'CAIRN_PARTITION_NOT_FOUND'],
      [{ topic: 't', partition: 0, offset: 6 }, 416, 'CAIRN_OFFSET_OUT_OF_RANGE'],
    ]
    for (const [body, status, code, field] of cases) {
      const result = await commit(body)
      expect({ body, status: result.status, code: result.body.error.code }).toEqual({ body, status, code })
      if (field !== undefined) expect(result.body.error.message).toContain(field)
    }
    expect((await commit({ topic: 't', partition: 0, offset: 1 }, 'x'.repeat(250))).body.error.code).toBe(
      'CAIRN_GROUP_INVALID',
    )
    expect((await commit({ topic: 't', partition: 0, offset: 5 }, 'a%2Fb')).status).toBe(200)
    expect(h.groups.committedOffset('a/b', 't', 0)).toBe(5n)
  })

  it('list, describe with lag, fetch offsets, and delete', async () => {
    const h = await startWithGroups()
    await fill(h, 't', 2, 10)
    await fill(h, 'u', 1, 4)
    expect(await h.json('/api/v1/consumer-groups')).toMatchObject({ status: 200, body: { groups: [] } })
    await h.json('/api/v1/consumer-groups/app/offsets', jsonBody('POST', { topic: 't', partition: 0, offset: 4 }))
    await h.json('/api/v1/consumer-groups/app/offsets', jsonBody('POST', { topic: 't', partition: 1, offset: 10 }))
    await h.json('/api/v1/consumer-groups/app/offsets', jsonBody('POST', { topic: 'u', partition: 0, offset: 1 }))

    expect((await h.json('/api/v1/consumer-groups')).body).toEqual({
      groups: [{ group: 'app', state: 'empty', members: 0 }],
    })
    const described = await h.json('/api/v1/consumer-groups/app')
    expect(described.status).toBe(200)
    expect(described.body).toMatchObject({ group: 'app', state: 'empty', members: [] })
    const lag = described.body.offsets.map(
      (o: { stream: string; partition: number; offset: number; lag: number; logEndOffset: number }) => [
        o.stream,
        o.partition,
        o.offset,
        o.logEndOffset,
        o.lag,
      ],
    )
    expect(lag).toEqual(
      expect.arrayContaining([
        ['t', 0, 4, 10, 6],
        ['t', 1, 10, 10, 0],
        ['u', 0, 1, 4, 3],
      ]),
    )
    const fetched = await h.json('/api/v1/consumer-groups/app/offsets?topic=u')
    expect(fetched.body.offsets).toHaveLength(1)
    expect(fetched.body.offsets[0]).toMatchObject({ stream: 'u', partition: 0, offset: 1, lag: 3 })

    const notFound = await h.json('/api/v1/consumer-groups/nobody')
    expect([notFound.status, notFound.body.error.code]).toEqual([404, 'CAIRN_GROUP_NOT_FOUND'])

    const deleted = await h.call('/api/v1/consumer-groups/app', { method: 'DELETE' })
    expect(deleted.status).toBe(204)
    expect((await h.json('/api/v1/consumer-groups/app')).status).toBe(404)
    const again = await h.json('/api/v1/consumer-groups/app', { method: 'DELETE' })
    expect([again.status, again.body.error.code]).toEqual([404, 'CAIRN_GROUP_NOT_FOUND'])
  })

  it('reset-offsets to earliest, latest, timestamp, shift and offset, with dryRun', async () => {
    const h = await startWithGroups()
    const { store, clock } = h.temp
    store.createStream('t', { partitions: 2 })
    const t0 = clock.now()
    for (let i = 0; i < 10; i++) {
      await store.append('t', 0, [{ value: bytes(String(i)) }])
      await store.append('t', 1, [{ value: bytes(String(i)) }])
      clock.advance(1000)
    }
    const reset = (body: unknown) => h.json('/api/v1/consumer-groups/g/reset-offsets', jsonBody('POST', body))
    const offsets = (body: { offsets: Array<{ partition: number; offset: number; previous?: number }> }) =>
      body.offsets.map((o) => [o.partition, o.offset, o.previous])

    let result = await reset({ topic: 't', to: 'latest' })
    expect(result.status).toBe(200)
    expect(offsets(result.body)).toEqual([
      [0, 10, undefined],
      [1, 10, undefined],
    ])
    expect(h.groups.committedOffset('g', 't', 1)).toBe(10n)

    result = await reset({ topic: 't', partitions: [0], to: { shift: -3 } })
    expect(offsets(result.body)).toEqual([[0, 7, 10]])
    result = await reset({ topic: 't', partitions: [1], to: { timestamp: t0 + 4000 } })
    expect(offsets(result.body)).toEqual([[1, 4, 10]])
    result = await reset({ topic: 't', partitions: [1], to: { offset: 2 } })
    expect(offsets(result.body)).toEqual([[1, 2, 4]])
    result = await reset({ topic: 't', to: 'earliest', dryRun: true })
    expect(offsets(result.body)).toEqual([
      [0, 0, 7],
      [1, 0, 2],
    ])
    expect(h.groups.committedOffset('g', 't', 0)).toBe(7n) // dry run changed nothing
    await reset({ topic: 't', to: { earliest: true } })
    expect(h.groups.committedOffset('g', 't', 0)).toBe(0n)

    // The group resumes from the reset position.
    await reset({ topic: 't', partitions: [0], to: { offset: '6' } })
    const read = await h.json('/api/v1/topics/t/partitions/0/messages?limit=2', {
      headers: { 'x-consumer-group': 'g' },
    })
    expect(offsetsOf(read.body)).toEqual([6, 7])

    const bad: Array<[unknown, number, string, string?]> = [
      [{ to: 'latest' }, 400, 'CAIRN_REQUEST_INVALID', 'topic'],
      [{ topic: 't' }, 400, 'CAIRN_REQUEST_INVALID', 'to'],
      [{ topic: 't', to: 'sometime' }, 400, 'CAIRN_REQUEST_INVALID', 'to'],
      [{ topic: 't', to: { shift: 1, offset: 2 } }, 400, 'CAIRN_REQUEST_INVALID', 'to'],
      [{ topic: 't', to: { timestamp: -1 } }, 400, 'CAIRN_REQUEST_INVALID', 'to.timestamp'],
      [{ topic: 't', to: { offset: -1 } }, 400, 'CAIRN_REQUEST_INVALID', 'to.offset'],
      [{ topic: 't', to: { shift: 'x' } }, 400, 'CAIRN_REQUEST_INVALID', 'to.shift'],
      [{ topic: 't', to: 'latest', partitions: 'all' }, 400, 'CAIRN_REQUEST_INVALID', 'partitions'],
      [{ topic: 't', to: 'latest', partitions: [0, 'x'] }, 400, 'CAIRN_REQUEST_INVALID', 'partitions[1]'],
      [{ topic: 't', to: 'latest', dryRun: 'yes' }, 400, 'CAIRN_REQUEST_INVALID', 'dryRun'],
      [{ topic: 't', to: { offset: 11 } }, 416, 'CAIRN_OFFSET_OUT_OF_RANGE'],
      [{ topic: 't', to: 'latest', partitions: [5] }, 404, 'CAIRN_PARTITION_NOT_FOUND'],
      [{ topic: 'nope', to: 'latest' }, 404, 'CAIRN_STREAM_NOT_FOUND'],
    ]
    for (const [body, status, code, field] of bad) {
      const r = await reset(body)
      expect({ body, status: r.status, code: r.body.error.code }).toEqual({ body, status, code })
      if (field !== undefined) expect(r.body.error.message).toContain(field)
    }
  })

  it('a group with an active member refuses simple commits, resets and deletion with 409', async () => {
    const h = await startWithGroups()
    await fill(h, 't', 1, 5)
    await h.json('/api/v1/consumer-groups/live/offsets', jsonBody('POST', { topic: 't', partition: 0, offset: 1 }))
    const joined = h.groups.heartbeat({ group: 'live', memberId: '', memberEpoch: 0, streams: ['t'] })
    expect(joined.memberId).not.toBe('')

    const commit = await h.json(
      '/api/v1/consumer-groups/live/offsets',
      jsonBody('POST', { topic: 't', partition: 0, offset: 2 }),
    )
    expect([commit.status, commit.body.error.code]).toEqual([409, 'CAIRN_GROUP_NOT_EMPTY'])
    const reset = await h.json(
      '/api/v1/consumer-groups/live/reset-offsets',
      jsonBody('POST', { topic: 't', to: 'earliest' }),
    )
    expect([reset.status, reset.body.error.code]).toEqual([409, 'CAIRN_GROUP_NOT_EMPTY'])
    const del = await h.json('/api/v1/consumer-groups/live', { method: 'DELETE' })
    expect([del.status, del.body.error.code]).toEqual([409, 'CAIRN_GROUP_NOT_EMPTY'])

    const described = await h.json('/api/v1/consumer-groups/live')
    expect(described.body.members).toHaveLength(1)
    expect(described.body.members[0]?.memberId).toBe(joined.memberId)
    expect(h.groups.committedOffset('live', 't', 0)).toBe(1n)
  })
})
