// KafkajsSink's failure classification on a broken link: a fault proxy sits between the sink and the
// librdkafka mock (every broker address is rewritten to it through brokerAddressMap), and kcat reads
// the mock directly to tell what really arrived.
import { pino } from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { BrokerError } from '../../../src/errors.ts'
import type { UpstreamRecord } from '../../../src/mirror/kafka-sink.ts'
import { KafkajsSink } from '../../../src/mirror/kafkajs-sink.ts'
import { startFaultProxy, type FaultProxy } from '../../helpers/fault-proxy.ts'
import { kcat, kcatRead, startKafkaMock, type KafkaMock } from '../../helpers/kafka-mock.ts'

const requestTimeoutMs = 1500
const connectionTimeoutMs = 1000
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)
let topicSeq = 0
const uniqueTopic = (name: string): string => `faults.${name}.${process.pid}.${++topicSeq}`

function record(n: number): UpstreamRecord {
  return {
    key: bytes(`k${n}`),
    value: bytes(`v${n}`),
    headers: [['em.src.off', bytes(String(n))]],
    timestamp: 1_700_000_000_000 + n,
  }
}

async function failure(promise: Promise<unknown>): Promise<BrokerError & { elapsedMs: number }> {
  const started = performance.now()
  try {
    await promise
  } catch (error) {
    return Object.assign(error as BrokerError, { elapsedMs: performance.now() - started })
  }
  throw new Error('expected a failure')
}

describe.skipIf(kcat.skip)(`KafkajsSink through a fault proxy ${kcat.reason}`, () => {
  let mock: KafkaMock
  let proxy: FaultProxy
  const sinks: KafkajsSink[] = []

  const newSink = (logger?: pino.Logger): KafkajsSink => {
    const sink = new KafkajsSink({
      brokers: [mock.bootstrap],
      clientId: 'cairn-fault-test',
      requestTimeoutMs,
      connectionTimeoutMs,
      brokerAddressMap: { [mock.bootstrap]: proxy.address },
      ...(logger === undefined ? {} : { logger }),
    })
    sinks.push(sink)
    return sink
  }

  beforeAll(async () => {
    mock = await startKafkaMock()
    const [host, port] = mock.bootstrap.split(':')
    proxy = await startFaultProxy({ host: host ?? '127.0.0.1', port: Number(port) })
  })

  afterEach(async () => {
    await Promise.all(sinks.splice(0).map((s) => s.close()))
    proxy.blackhole(false)
    await proxy.refuse(false)
    proxy.cutAll()
  })

  afterAll(async () => {
    await proxy?.close()
    await mock?.stop()
  })

  it('connects only through the mapped address', async () => {
    const sink = newSink()
    const before = proxy.stats().connections
    await sink.connect()
    const topic = uniqueTopic('mapped')
    expect(await sink.send(topic, 0, [record(0)])).toBe(0n)
    expect(proxy.stats().connections).toBeGreaterThan(before)
    await proxy.refuse(true)
    proxy.cutAll()
    await expect(sink.offsets(topic, 0)).rejects.toMatchObject({ code: 'CAIRN_UPSTREAM_UNAVAILABLE' })
  })

  it('connection refused: connect() and send() are UNAVAILABLE (nothing sent), then recover', async () => {
    await proxy.refuse(true)
    const sink = newSink()
    const onConnect = await failure(sink.connect())
    expect(onConnect.code).toBe('CAIRN_UPSTREAM_UNAVAILABLE')
    expect(onConnect.elapsedMs).toBeLessThan(5000)

    await proxy.refuse(false)
    const topic = uniqueTopic('refused')
    expect(await sink.send(topic, 1, [record(0)])).toBe(0n)

    // The broker goes away: existing connections reset, new ones refused. (A send racing the reset —
    // written before the client has seen it — would be UNCERTAIN: the client cannot know.)
    await proxy.refuse(true)
    proxy.cutAll()
    await new Promise((resolve) => setTimeout(resolve, 100))
    const onSend = await failure(sink.send(topic, 1, [record(1)]))
    expect(onSend.code).toBe('CAIRN_UPSTREAM_UNAVAILABLE')
    expect(onSend.details).toMatchObject({ written: false })

    await proxy.refuse(false)
    expect(await sink.send(topic, 1, [record(2)])).toBe(1n)
    const upstream = await kcatRead(mock.bootstrap, topic, 1, 0)
    expect(upstream.map((r) => Buffer.from(r.value ?? []).toString())).toEqual(['v0', 'v2'])
  })

  it('blackhole mid-send: UNCERTAIN within the request timeout; the link recovers when it lifts', async () => {
    const sink = newSink()
    const topic = uniqueTopic('blackhole')
    expect(await sink.send(topic, 0, [record(0)])).toBe(0n)

    proxy.blackhole(true)
    const lost = await failure(sink.send(topic, 0, [record(1), record(2)]))
    expect(lost.code).toBe('CAIRN_UPSTREAM_UNCERTAIN')
    expect(lost.details).toMatchObject({ written: true })
    expect(lost.elapsedMs).toBeGreaterThanOrEqual(requestTimeoutMs - 100)
    expect(lost.elapsedMs).toBeLessThan(requestTimeoutMs + 2500)

    // Reads during the blackhole fail too, within their own deadline, and never as "uncertain".
    const read = await failure(sink.read(topic, 0, 0n, 1n))
    expect(read.code).toBe('CAIRN_UPSTREAM_UNAVAILABLE')
    expect(read.elapsedMs).toBeLessThan(connectionTimeoutMs + requestTimeoutMs + 2500)

    proxy.blackhole(false)
    // Whether the lost batch landed is exactly what the mirror reconciles: read the partition back.
    const { latest } = await sink.offsets(topic, 0)
    expect([1n, 3n]).toContain(latest)
    expect(await sink.send(topic, 0, [record(3)])).toBe(latest)
    const upstream = await kcatRead(mock.bootstrap, topic, 0, 0)
    expect(upstream.map((r) => r.offset)).toEqual(Array.from({ length: Number(latest) + 1 }, (_, i) => BigInt(i)))
  })

  it('lost ack (request appended, response held): UNCERTAIN, and read() finds the batch upstream', async () => {
    const sink = newSink()
    const topic = uniqueTopic('lostack')
    expect(await sink.partitionCount(topic)).toBe(4)

    proxy.blackhole(true, 'responses')
    const lost = await failure(sink.send(topic, 2, [record(0), record(1)]))
    expect(lost.code).toBe('CAIRN_UPSTREAM_UNCERTAIN')
    proxy.blackhole(false)

    // Appended although the client never heard so: a resend now would duplicate.
    const upstream = await sink.read(topic, 2, 0n, 100n)
    expect(upstream.map((r) => Buffer.from(r.value ?? []).toString())).toEqual(['v0', 'v1'])
    expect(await sink.send(topic, 2, [record(2)])).toBe(2n)
  })

  it('connection cut mid-request: UNCERTAIN (the client wrote it all), though the broker appended nothing', async () => {
    const sink = newSink()
    const topic = uniqueTopic('cut')
    expect(await sink.partitionCount(topic)).toBe(4)

    proxy.cutAfterRequestBytes(40)
    const cut = await failure(sink.send(topic, 0, [record(0), record(1)]))
    expect(cut.code).toBe('CAIRN_UPSTREAM_UNCERTAIN')
    expect(cut.details).toMatchObject({ written: true })
    expect(cut.elapsedMs).toBeLessThan(requestTimeoutMs)

    expect(await kcatRead(mock.bootstrap, topic, 0, 0)).toEqual([])
    expect(await sink.offsets(topic, 0)).toEqual({ earliest: 0n, latest: 0n })
    expect(await sink.send(topic, 0, [record(2)])).toBe(0n)
  })

  it('a blackholed connect() is UNAVAILABLE within its deadline', async () => {
    proxy.blackhole(true)
    const sink = newSink()
    const error = await failure(sink.connect())
    expect(error.code).toBe('CAIRN_UPSTREAM_UNAVAILABLE')
    expect(error.elapsedMs).toBeLessThan(connectionTimeoutMs + requestTimeoutMs + 2500)
    proxy.blackhole(false)
    await sink.connect()
  })

  it("routes kafkajs's own logs to the pino logger, demoted one level", async () => {
    const lines: Array<Record<string, unknown>> = []
    const logger = pino(
      { level: 'debug' },
      { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
    )
    await proxy.refuse(true)
    const sink = newSink(logger)
    await expect(sink.connect()).rejects.toMatchObject({ code: 'CAIRN_UPSTREAM_UNAVAILABLE' })
    const fromKafkajs = lines.filter((l) => l['component'] === 'kafkajs')
    expect(fromKafkajs.length).toBeGreaterThan(0)
    // kafkajs logs each refused connection as an error; here that is a warning (40) at most.
    expect(Math.max(...fromKafkajs.map((l) => Number(l['level'])))).toBe(40)
    expect(fromKafkajs.some((l) => String(l['msg']).includes('ECONNREFUSED'))).toBe(true)
  })
})
