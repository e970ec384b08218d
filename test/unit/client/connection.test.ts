import { once } from 'node:events'
import { afterEach, describe, expect, test } from 'vitest'
import { CairnClient, type CairnClientOptions } from '../../../src/client/index.ts'
import { BrokerError, isBrokerError } from '../../../src/errors.ts'
import { FakeClock } from '../../helpers/fake-clock.ts'
import { FakeServer, type FakeServerOptions } from './fake-server.ts'

// Connection-layer behaviour of CairnClient against a scripted fake peer (see fake-server.ts):
// the fake answers envelopes only, which is all these behaviours involve.

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function setup(
  serverOptions: FakeServerOptions = {},
  clientOptions: CairnClientOptions = {},
): Promise<{ server: FakeServer; client: CairnClient }> {
  const server = await FakeServer.start(serverOptions)
  const client = new CairnClient({ port: server.port, clientId: 'unit-client', ...clientOptions })
  cleanups.push(() => server.close())
  cleanups.push(() => client.close())
  return { server, client }
}

const streamInfo = (name: string) => ({
  name,
  config: {
    partitions: 1,
    retentionMs: -1,
    retentionBytes: -1,
    cleanupPolicy: 'delete',
    durability: 'fsync',
    deleteRetentionMs: 0,
    subjects: [],
  },
  createdMs: 1,
  partitions: [{ partition: 0, logStartOffset: 0n, logEndOffset: 0n, records: 0, bytes: 0 }],
})

async function rejection(promise: Promise<unknown>): Promise<BrokerError> {
  try {
    await promise
  } catch (error) {
    if (isBrokerError(error)) return error
    throw error
  }
  throw new Error('expected a rejection')
}

describe('client - connection layer', () => {
  test('client - hello handshake sends the client id and learns maxFrameBytes', async () => {
    const { server, client } = await setup({ maxFrameBytes: 12_345 })
    expect(client.maxFrameBytes).toBeUndefined()
    await client.connect()
    expect(server.hellos).toHaveLength(1)
    expect(server.hellos[0]?.body).toEqual({ versions: [1], clientId: 'unit-client' })
    expect(client.maxFrameBytes).toBe(12_345)
    expect(client.isConnected).toBe(true)
    await client.connect() // already connected: no second handshake
    expect(server.accepted).toBe(1)
  })

  test('client - a refused hello fails connect() with the broker error', async () => {
    const { client } = await setup({
      hello: (r) => ({
        id: r.id,
        status: 1,
        error: { code: 'CAIRN_PROTOCOL_VERSION', message: 'no common version', retriable: false },
      }),
    })
    const error = await rejection(client.connect())
    expect(error.code).toBe('CAIRN_PROTOCOL_VERSION')
    expect(error.message).toBe('no common version')
    expect(client.isConnected).toBe(false)
  })

  test('client - connect times out when the handshake gets no answer', async () => {
    const clock = new FakeClock()
    const { server, client } = await setup({ hello: () => 'silent' }, { clock, connectTimeoutMs: 2000 })
    const connecting = rejection(client.connect())
    await server.waitForHellos(1)
    clock.advance(2000)
    const error = await connecting
    expect(error.code).toBe('CAIRN_TIMEOUT')
    expect(error.retriable).toBe(true)
  })

  test('client - a refused connection fails connect() with CAIRN_CONNECTION_CLOSED', async () => {
    const server = await FakeServer.start()
    const port = server.port
    await server.close()
    const client = new CairnClient({ port })
    cleanups.push(() => client.close())
    const error = await rejection(client.connect())
    expect(error.code).toBe('CAIRN_CONNECTION_CLOSED')
    expect(error.retriable).toBe(true)
  })

  test('client - pipelined requests are all sent before any answer, and matched by id out of order', async () => {
    const { server, client } = await setup()
    await client.connect()
    const names = ['a', 'b', 'c', 'd']
    const pending = names.map((name) => client.request('metadata', { streams: [name] }))
    const requests = await server.waitForRequests(names.length)
    expect(new Set(requests.map((r) => r.id)).size).toBe(names.length)
    // Answer in reverse order; each caller still gets its own answer.
    for (const request of [...requests].reverse()) {
      const [name] = (request.body as { streams: string[] }).streams
      server.reply(request, { streams: [streamInfo(name as string)] })
    }
    const responses = await Promise.all(pending)
    expect(responses.map((r) => r.streams[0]?.name)).toEqual(names)
  })

  test('client - an error response becomes a BrokerError with the broker code and retriable flag', async () => {
    const { server, client } = await setup({
      handler: (r) => {
        server.fail(r, 'CAIRN_STORAGE_BUSY', 'busy, try again', true)
        return undefined
      },
    })
    const error = await rejection(client.request('metadata', {}))
    expect(error).toBeInstanceOf(BrokerError)
    expect(error.code).toBe('CAIRN_STORAGE_BUSY')
    expect(error.message).toBe('busy, try again')
    expect(error.retriable).toBe(true)
  })

  test('client - a response body that breaks the schema is CAIRN_FRAME_MALFORMED naming the field', async () => {
    const { client } = await setup({ handler: () => ({ streams: [{ name: 7 }] }) })
    const error = await rejection(client.request('metadata', {}))
    expect(error.code).toBe('CAIRN_FRAME_MALFORMED')
    expect(error.message).toContain('body.streams[0].name')
  })

  test('client - the first request connects lazily', async () => {
    const { server, client } = await setup({ handler: () => ({ streams: [] }) })
    await expect(client.request('metadata', {})).resolves.toEqual({ streams: [] })
    expect(server.accepted).toBe(1)
  })

  test('client - a request without an answer times out; a late answer is dropped; the connection stays up', async () => {
    const clock = new FakeClock()
    const { server, client } = await setup({}, { clock, requestTimeoutMs: 1000 })
    await client.connect()
    const first = rejection(client.request('metadata', {}))
    const slow = rejection(client.request('metadata', {}, { timeoutMs: 5000 }))
    const [request, slowRequest] = await server.waitForRequests(2)
    clock.advance(1000)
    const error = await first
    expect(error.code).toBe('CAIRN_TIMEOUT')
    expect(error.retriable).toBe(true)
    server.reply(request!, { streams: [] }) // late: nobody waits for it
    const next = client.request('metadata', {})
    const [, , nextRequest] = await server.waitForRequests(3)
    server.reply(nextRequest!, { streams: [streamInfo('late')] })
    expect((await next).streams[0]?.name).toBe('late')
    clock.advance(4000)
    expect((await slow).code).toBe('CAIRN_TIMEOUT')
    expect(slowRequest).toBeDefined()
    expect(server.accepted).toBe(1)
  })

  test('client - requests in flight fail with retriable CAIRN_CONNECTION_CLOSED when the connection drops', async () => {
    const clock = new FakeClock()
    const { server, client } = await setup({}, { clock })
    await client.connect()
    const inFlight = [rejection(client.request('metadata', {})), rejection(client.request('listGroups', {}))]
    await server.waitForRequests(2)
    server.dropAll()
    for (const error of await Promise.all(inFlight)) {
      expect(error.code).toBe('CAIRN_CONNECTION_CLOSED')
      expect(error.retriable).toBe(true)
    }
  })

  test('client - reconnects with backoff after a drop; requests made meanwhile wait for it', async () => {
    const clock = new FakeClock()
    const { server, client } = await setup(
      { handler: () => ({ streams: [] }) },
      { clock, reconnect: { initialDelayMs: 100, maxDelayMs: 1000 } },
    )
    await client.connect()
    const disconnected = once(client, 'disconnect')
    server.dropAll()
    await disconnected
    expect(client.isConnected).toBe(false)
    const waiting = client.request('metadata', {})
    // The first attempt waits at least half the initial delay (jitter), and no more than all of it.
    clock.advance(49)
    await new Promise((resolve) => setImmediate(resolve))
    expect(server.accepted).toBe(1)
    const reconnected = once(client, 'connect')
    clock.advance(51)
    expect(await reconnected).toEqual([{ reconnect: true }])
    expect(server.accepted).toBe(2)
    await expect(waiting).resolves.toEqual({ streams: [] })
  })

  test('client - failed reconnect attempts back off exponentially up to maxDelayMs', async () => {
    const clock = new FakeClock()
    const server = await FakeServer.start({ handler: () => ({ streams: [] }) })
    const port = server.port
    const client = new CairnClient({ port, clock, reconnect: { initialDelayMs: 100, maxDelayMs: 400 } })
    cleanups.push(() => client.close())
    await client.connect()
    const disconnected = once(client, 'disconnect')
    await server.close() // nothing listens any more: every attempt is refused
    await disconnected
    // Attempts at delays ≤ 100, ≤ 200, ≤ 400, ≤ 400 ... each at least half of it. Count the
    // refused attempts by advancing the clock by each step's maximum.
    for (const maxDelay of [100, 200, 400, 400]) {
      expect(clock.pendingTimers).toBeGreaterThanOrEqual(1)
      clock.advance(maxDelay)
      await new Promise((resolve) => setTimeout(resolve, 20)) // the refused connect is real I/O
    }
    const restarted = await FakeServer.start({ handler: () => ({ streams: [] }) }, port)
    cleanups.push(() => restarted.close())
    const reconnected = once(client, 'connect')
    clock.advance(400)
    await reconnected
    await expect(client.request('metadata', {})).resolves.toEqual({ streams: [] })
  })

  test('client - a request larger than the broker maxFrameBytes fails alone with CAIRN_FRAME_TOO_LARGE', async () => {
    const { server, client } = await setup({ maxFrameBytes: 1000, handler: () => ({ streams: [] }) })
    await client.connect()
    const error = await rejection(client.request('metadata', { streams: ['x'.repeat(2000)] }))
    expect(error.code).toBe('CAIRN_FRAME_TOO_LARGE')
    await expect(client.request('metadata', {})).resolves.toEqual({ streams: [] })
    expect(server.requests).toHaveLength(1)
  })

  test('client - a response frame above maxResponseFrameBytes ends the connection', async () => {
    const { server, client } = await setup(
      { handler: () => ({ streams: [streamInfo('y'.repeat(5000))] }) },
      { maxResponseFrameBytes: 1000 },
    )
    await client.connect()
    const error = await rejection(client.request('metadata', {}))
    expect(error.code).toBe('CAIRN_CONNECTION_CLOSED')
    expect((error.cause as BrokerError).code).toBe('CAIRN_FRAME_TOO_LARGE')
    expect(server.requests).toHaveLength(1)
  })

  test('client - produce with acks 0 resolves once written, without a response', async () => {
    const { server, client } = await setup()
    await client.connect()
    const result = await client.request('produce', {
      acks: 0,
      batches: [{ stream: 's', partition: 0, records: [{ value: Uint8Array.of(1, 2, 3) }] }],
    })
    expect(result).toEqual({ results: [] })
    const [request] = await server.waitForRequests(1)
    expect(request?.op).toBe('produce')
    expect(request?.body).toEqual({
      acks: 0,
      batches: [{ stream: 's', partition: 0, records: [{ value: Uint8Array.of(1, 2, 3) }] }],
    })
  })

  test('client - close() fails waiting requests (not retriable) and stops reconnecting', async () => {
    const clock = new FakeClock()
    const { server, client } = await setup({}, { clock })
    await client.connect()
    const waiting = rejection(client.request('metadata', {}))
    await server.waitForRequests(1)
    await client.close()
    const error = await waiting
    expect(error.code).toBe('CAIRN_CONNECTION_CLOSED')
    expect(error.retriable).toBe(false)
    expect((await rejection(client.request('metadata', {}))).retriable).toBe(false)
    clock.advance(60_000)
    expect(server.accepted).toBe(1)
  })

  test('client - a broker error about the connection (id 0) closes it with that cause', async () => {
    const { server, client } = await setup()
    await client.connect()
    const waiting = rejection(client.request('metadata', {}))
    const [request] = await server.waitForRequests(1)
    server.send(request!.socket, {
      id: 0,
      status: 1,
      error: { code: 'CAIRN_FRAME_MALFORMED', message: 'bad frame', retriable: false },
    })
    const error = await waiting
    expect(error.code).toBe('CAIRN_CONNECTION_CLOSED')
    expect((error.cause as BrokerError).code).toBe('CAIRN_FRAME_MALFORMED')
  })
})
