import { describe, expect, it } from 'vitest'
import { CairnClient } from '../../../src/client/index.ts'
import { hasErrorCode } from '../../../src/errors.ts'
import { RawNativePeer } from '../../helpers/raw-native.ts'
import { startSecureBroker } from './secure-broker.ts'

const acl = `
user app
stream produce,consume readings
stream admin app-*
group consume dashboards
group admin dashboards-admin

pattern stream produce,consume own-%u
`

async function broker(policy = {}) {
  const b = await startSecureBroker({ users: { app: 'app-pw', admin: 'admin-pw' }, acl, policy })
  // Streams exist regardless of who may use them.
  for (const name of ['readings', 'secrets', 'own-app']) b.store.createStream(name, { partitions: 1 })
  return b
}

function client(port: number, credentials: { username?: string; password?: string } = {}): CairnClient {
  const c = new CairnClient({ host: '127.0.0.1', port, clientId: 'auth-test', ...credentials })
  return c
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => 'resolved',
    (error: unknown) => error,
  )
}

describe('native auth - hello', () => {
  it('native auth - the client with right credentials connects; wrong ones get CAIRN_AUTH_FAILED, none CAIRN_NOT_AUTHORIZED', async () => {
    const b = await broker()
    const good = client(b.nativePort, { username: 'app', password: 'app-pw' })
    try {
      await good.connect()
      expect((await good.admin().listStreams()).map((s) => s.name)).toContain('readings')
    } finally {
      await good.close()
    }
    const wrong = client(b.nativePort, { username: 'app', password: 'nope' })
    const wrongError = await failure(wrong.connect())
    await wrong.close()
    expect(hasErrorCode(wrongError, 'CAIRN_AUTH_FAILED')).toBe(true)
    const anonymous = client(b.nativePort)
    const anonymousError = await failure(anonymous.connect())
    await anonymous.close()
    expect(hasErrorCode(anonymousError, 'CAIRN_NOT_AUTHORIZED')).toBe(true)
  })

  it('native auth - the refusal carries status 38 and closes the connection; requests pipelined after hello wait for it', async () => {
    const b = await broker()
    const refused = await RawNativePeer.connect(b.nativePort, false)
    const hello = refused.send('hello', { versions: [1], clientId: 'raw', username: 'app', password: 'bad' })
    const after = refused.send('metadata', {})
    expect(await refused.response(hello)).toMatchObject({ status: 38, error: { code: 'CAIRN_AUTH_FAILED' } })
    await expect.poll(() => refused.closed).toBe(true)
    expect(refused.responses.map((r) => r.id)).toEqual([hello])
    expect(after).toBe(hello + 1)

    const accepted = await RawNativePeer.connect(b.nativePort, false)
    const id = accepted.send('hello', {
      versions: [1],
      clientId: 'raw',
      username: 'app',
      password: Buffer.from('app-pw'),
    })
    const metadata = accepted.send('metadata', {})
    expect((await accepted.response(id)).status).toBe(0)
    expect((await accepted.response(metadata)).status).toBe(0)
    accepted.socket.destroy()
  })

  it('native auth - a source that keeps failing gets CAIRN_AUTH_RATE_LIMITED', async () => {
    const b = await broker({ failedAttempts: { maxFailures: 2, windowMs: 60_000, blockMs: 60_000 } })
    for (const password of ['x', 'y']) {
      const c = client(b.nativePort, { username: 'app', password })
      expect(hasErrorCode(await failure(c.connect()), 'CAIRN_AUTH_FAILED')).toBe(true)
      await c.close()
    }
    const c = client(b.nativePort, { username: 'app', password: 'app-pw' })
    const error = await failure(c.connect())
    await c.close()
    expect(hasErrorCode(error, 'CAIRN_AUTH_RATE_LIMITED')).toBe(true)
    expect((error as { retriable: boolean }).retriable).toBe(true)
  })
})

describe('native auth - ACLs', () => {
  it('native auth - produce, fetch, admin and groups follow the stream and group rules', async () => {
    const b = await broker()
    const c = client(b.nativePort, { username: 'app', password: 'app-pw' })
    try {
      await c.connect()
      const allowed = await c.request('produce', {
        acks: 1,
        batches: [{ stream: 'readings', partition: 0, records: [{ value: Buffer.from('21.5') }] }],
      })
      expect(allowed.results[0]?.error).toBeUndefined()
      const denied = await failure(
        c.request('produce', {
          acks: 1,
          batches: [
            { stream: 'readings', partition: 0, records: [{ value: Buffer.from('a') }] },
            { stream: 'secrets', partition: 0, records: [{ value: Buffer.from('b') }] },
          ],
        }),
      )
      expect(denied).toMatchObject({
        code: 'CAIRN_NOT_AUTHORIZED',
        message: 'not authorized to produce stream "secrets"',
      })
      // Nothing of a denied request is written, not even its allowed batch.
      expect(b.store.latestOffset('readings', 0)).toBe(1n)
      expect(b.store.latestOffset('secrets', 0)).toBe(0n)

      const fetched = await c.request('fetch', { partitions: [{ stream: 'readings', partition: 0, offset: 0n }] })
      expect(fetched.partitions[0]?.records).toHaveLength(1)
      expect(
        await failure(c.request('fetch', { partitions: [{ stream: 'secrets', partition: 0, offset: 0n }] })),
      ).toMatchObject({ code: 'CAIRN_NOT_AUTHORIZED' })
      // %u pattern
      await c.request('produce', { acks: 1, batches: [{ stream: 'own-app', records: [{ value: Buffer.from('x') }] }] })

      const admin = c.admin()
      await admin.createStream('app-metrics', { partitions: 1 })
      expect(await failure(admin.createStream('other', { partitions: 1 }))).toMatchObject({
        code: 'CAIRN_NOT_AUTHORIZED',
      })
      expect(await failure(admin.deleteStream('readings'))).toMatchObject({ code: 'CAIRN_NOT_AUTHORIZED' })

      await c.request('offsetCommit', {
        group: 'dashboards',
        offsets: [{ stream: 'readings', partition: 0, offset: 1n }],
      })
      expect(
        await failure(
          c.request('offsetCommit', { group: 'etl', offsets: [{ stream: 'readings', partition: 0, offset: 1n }] }),
        ),
      ).toMatchObject({ code: 'CAIRN_NOT_AUTHORIZED' })
      expect(await failure(c.request('deleteGroup', { group: 'dashboards' }))).toMatchObject({
        code: 'CAIRN_NOT_AUTHORIZED',
      })
      expect(
        await failure(
          c.request('groupHeartbeat', { group: 'dashboards', memberId: '', memberEpoch: 0, streams: ['secrets'] }),
        ),
      ).toMatchObject({ code: 'CAIRN_NOT_AUTHORIZED' })
    } finally {
      await c.close()
    }
  })

  it('native auth - the consumer and producer of the client work within their rules', async () => {
    const b = await broker()
    const c = client(b.nativePort, { username: 'app', password: 'app-pw' })
    try {
      await c.connect()
      const producer = c.producer()
      await producer.send('readings', { key: 'k', value: 'v1' })
      await producer.close()
      const consumer = c.consumer({ group: 'dashboards' })
      consumer.subscribe(['readings'])
      // The first polls may come before the group has assigned the partition.
      const values: string[] = []
      await expect
        .poll(async () => {
          for (const r of await consumer.poll()) values.push(Buffer.from(r.value ?? []).toString())
          return values
        })
        .toEqual(['v1'])
      await consumer.close()
    } finally {
      await c.close()
    }
  })
})
