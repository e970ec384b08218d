import { execFile } from 'node:child_process'
import { connect as netConnect } from 'node:net'
import { promisify } from 'node:util'
import mqtt from 'mqtt'
import mqttPacket, { type Packet } from 'mqtt-packet'
import { describe, expect, onTestFinished, test } from 'vitest'
import { CairnClient } from '../../../src/client/index.ts'
import { RawNativePeer } from '../../helpers/raw-native.ts'
import { until } from '../../helpers/wait.ts'
import { startStack, tlsMaterial } from '../tls/gateway-stack.ts'
import { createPki, issueServer } from '../tls/pki.ts'
import { RawMqtt } from './raw-mqtt.ts'

const run = promisify(execFile)
const QUOTA_EXCEEDED = 0x97
const SERVER_UNAVAILABLE_V3 = 3

describe('limits - connections', () => {
  test('limits - past maxConnections MQTT 5 gets CONNACK 0x97, 3.1.1 gets 3; a freed slot is usable again', async () => {
    const stack = await startStack({ listeners: ['mqtt'], limits: { maxConnections: 2 } })
    const port = stack.port('mqtt')
    const first = await RawMqtt.connect(port, 'a')
    const second = await RawMqtt.connect(port, 'b', { protocolVersion: 4 })
    expect([first.code, second.code]).toEqual([0, 0])

    const refusedV5 = await RawMqtt.connect(port, 'c')
    expect(refusedV5.code).toBe(QUOTA_EXCEEDED)
    const connack = await refusedV5.peer.next('connack')
    expect(connack.properties?.reasonString).toMatch(/limits\.maxConnections/)
    await refusedV5.peer.waitClosed()
    expect((await RawMqtt.connect(port, 'd', { protocolVersion: 4 })).code).toBe(SERVER_UNAVAILABLE_V3)
    // MQTT.js reports the refusal as an error carrying the reason code.
    const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 0 })
    onTestFinished(() => {
      client.end(true)
    })
    const error = await new Promise<Error & { code?: number }>((resolve) => client.once('error', resolve))
    expect(error.code).toBe(QUOTA_EXCEEDED)

    expect(stack.listeners.counters.refusedMaxConnections).toBe(3)
    expect(stack.mqtt.limitCounters.connectionsOverLimit).toBe(3)
    first.peer.socket.destroy()
    await until(() => stack.listeners.openConnections === 1, 'the slot to be freed')
    expect((await RawMqtt.connect(port, 'e')).code).toBe(0)
  })

  test('limits - maxConnectionsPerAddress counts per client address across listeners', async () => {
    const stack = await startStack({ listeners: ['mqtt', 'http'], limits: { maxConnectionsPerAddress: 1 } })
    const port = stack.port('mqtt')
    expect((await RawMqtt.connect(port, 'one')).code).toBe(0)
    expect((await RawMqtt.connect(port, 'two')).code).toBe(QUOTA_EXCEEDED)
    // The HTTP listener counts toward the same address: 503 with a reason.
    const url = `http://127.0.0.1:${stack.port('http')}/healthz`
    const { stdout } = await run('curl', ['-sS', '-w', ' %{http_code}', url])
    expect(stdout).toMatch(/limits\.maxConnectionsPerAddress.* 503$/s)
    // Another address (all of 127/8 is loopback on Linux) has its own count.
    expect((await RawMqtt.connect(port, 'three', { localAddress: '127.0.0.2' })).code).toBe(0)
    expect(stack.listeners.counters.refusedMaxConnectionsPerAddress).toBe(2)
  })

  test('limits - a native client over the limit is told so in the hello reply', async () => {
    const stack = await startStack({ listeners: ['native'], limits: { maxConnections: 1 } })
    const inside = new CairnClient({ port: stack.port('native') })
    onTestFinished(() => inside.close())
    await inside.connect()
    const peer = await RawNativePeer.connect(stack.port('native'), false)
    const reply = await peer.call('hello', { versions: [1], clientId: 'late' })
    expect(reply.error).toMatchObject({ code: 'CAIRN_CONNECTION_CLOSED', retriable: true })
    expect(reply.error?.message).toMatch(/limits\.maxConnections/)
    await peer.waitClosed()
    expect(stack.native.limitCounters.connectionsOverLimit).toBe(1)
  })

  test('limits - sockets over a limit beyond the refusal backlog are destroyed on accept', async () => {
    const stack = await startStack({ listeners: ['mqtt'], limits: { maxConnections: 1 } })
    const port = stack.port('mqtt')
    await RawMqtt.connect(port, 'holder')
    // Silent sockets: each waits for CONNECT (to refuse it) until 64 are waiting; the rest are cut at once.
    const sockets = Array.from({ length: 70 }, () => netConnect(port, '127.0.0.1').on('error', () => undefined))
    onTestFinished(() => sockets.forEach((s) => s.destroy()))
    await until(() => stack.listeners.counters.droppedOverLimit === 6, 'six sockets dropped')
    expect(stack.listeners.counters.refusedMaxConnections).toBe(64)
  })
})

describe('limits - MQTT sessions, subscriptions and publish rate', () => {
  test('limits - past maxSessions a new client id gets 0x97; a client resuming its session is let in', async () => {
    const stack = await startStack({ listeners: ['mqtt'], mqtt: { maxSessions: 2 } })
    const port = stack.port('mqtt')
    const a = await RawMqtt.connect(port, 'keeper-a', { clean: false, sessionExpirySec: 3600 })
    const b = await RawMqtt.connect(port, 'keeper-b', { clean: false, sessionExpirySec: 3600 })
    a.peer.socket.destroy()
    b.peer.socket.destroy()
    await until(() => stack.mqtt.connectedCount() === 0, 'both disconnected')
    expect((await RawMqtt.connect(port, 'newcomer')).code).toBe(QUOTA_EXCEEDED)
    expect((await RawMqtt.connect(port, 'newcomer-v3', { protocolVersion: 4 })).code).toBe(SERVER_UNAVAILABLE_V3)
    expect((await RawMqtt.connect(port, 'keeper-a', { clean: false, sessionExpirySec: 3600 })).code).toBe(0)
    expect(stack.mqtt.limitCounters.sessionsOverLimit).toBe(2)
  })

  test('limits - past maxSubscriptionsPerClient a new filter gets 0x97 (3.1.1: 0x80); replacing one is allowed', async () => {
    const stack = await startStack({ listeners: ['mqtt'], mqtt: { maxSubscriptionsPerClient: 2 } })
    for (const protocolVersion of [5, 4] as const) {
      const { peer } = await RawMqtt.connect(stack.port('mqtt'), `subs-${protocolVersion}`, { protocolVersion })
      const topics = ['a/1', 'a/2', 'a/3', 'a/1'].map((topic) => ({ topic, qos: 1 as const }))
      peer.send({ cmd: 'subscribe', messageId: 1, subscriptions: topics })
      const suback = await peer.next('suback')
      expect(suback.granted).toEqual(protocolVersion === 5 ? [1, 1, QUOTA_EXCEEDED, 1] : [1, 1, 0x80, 1])
    }
    expect(stack.mqtt.limitCounters.subscriptionsOverLimit).toBe(2)
  })

  test('limits - publishing faster than maxPublishesPerSec ends the connection with DISCONNECT 0x96', async () => {
    const stack = await startStack({ listeners: ['mqtt'], mqtt: { maxPublishesPerSec: 5 } })
    const { peer } = await RawMqtt.connect(stack.port('mqtt'), 'flooder')
    // One write: all 20 arrive together, far faster than 5 a second with a burst of 5.
    const packets = Array.from({ length: 20 }, () =>
      mqttPacketBytes({ cmd: 'publish', topic: 'flood', payload: 'x', qos: 0, retain: false, dup: false }),
    )
    peer.socket.write(Buffer.concat(packets))
    const disconnect = await peer.next('disconnect')
    expect(disconnect.reasonCode).toBe(0x96)
    await peer.waitClosed()
    expect(stack.mqtt.limitCounters.publishRateExceeded).toBe(1)
  })

  test('limits - topic levels and length past the limits end a v5 connection with 0x90 and refuse a filter with 0x8F', async () => {
    const stack = await startStack({ listeners: ['mqtt'], mqtt: { maxTopicLevels: 3, maxTopicLength: 16 } })
    const first = await RawMqtt.connect(stack.port('mqtt'), 'filters')
    const subscriptions = ['a/b/c', 'a/b/c/d', 'a'.repeat(17)].map((topic) => ({ topic, qos: 0 as const }))
    first.peer.send({ cmd: 'subscribe', messageId: 1, subscriptions })
    expect((await first.peer.next('suback')).granted).toEqual([0, 0x8f, 0x8f])
    first.peer.send({ cmd: 'publish', topic: 'a/b/c/d', payload: 'x', qos: 0, retain: false, dup: false })
    expect((await first.peer.next('disconnect')).reasonCode).toBe(0x90)
    expect(stack.mqtt.limitCounters.topicsRefused).toBe(3)
  })
})

describe('limits - MQTT packet size and in-flight', () => {
  test('limits - a packet over maxPacketBytes ends a v5 connection with 0x95 and is counted', async () => {
    const stack = await startStack({ listeners: ['mqtt'], mqtt: { maxPacketBytes: 256 } })
    const { peer } = await RawMqtt.connect(stack.port('mqtt'), 'big')
    peer.send({ cmd: 'publish', topic: 'big', payload: Buffer.alloc(300), qos: 0, retain: false, dup: false })
    expect((await peer.next('disconnect')).reasonCode).toBe(0x95)
    expect(stack.mqtt.limitCounters.packetsTooLarge).toBe(1)
  })

  test('limits - more unacknowledged QoS 1 PUBLISHes than receiveMaximum end the connection with 0x93', async () => {
    const stack = await startStack({ listeners: ['mqtt'], mqtt: { receiveMaximum: 2 } })
    const { peer } = await RawMqtt.connect(stack.port('mqtt'), 'eager')
    // One write: the third arrives before the first two can be committed and acknowledged.
    const publishes = [1, 2, 3].map((messageId) =>
      mqttPacketBytes({ cmd: 'publish', topic: 'q', payload: 'x', qos: 1, messageId, retain: false, dup: false }),
    )
    peer.socket.write(Buffer.concat(publishes))
    expect((await peer.next('disconnect')).reasonCode).toBe(0x93)
    expect(stack.mqtt.limitCounters.receiveMaximumExceeded).toBe(1)
  })
})

describe('limits - slow-loris', () => {
  test('limits - an MQTT connection that sends no CONNECT is dropped after connectTimeoutMs', async () => {
    const stack = await startStack({ listeners: ['mqtt'], mqtt: { connectTimeoutMs: 200 } })
    const peer = await RawMqtt.open(stack.port('mqtt'))
    peer.socket.write(Buffer.from([0x10])) // the first byte of a CONNECT, and nothing more
    await peer.waitClosed()
    expect(stack.mqtt.limitCounters.connectTimeouts).toBe(1)
  })

  test('limits - a native connection that sends no hello is answered CAIRN_TIMEOUT and closed', async () => {
    const stack = await startStack({ listeners: ['native'], native: { helloTimeoutMs: 200 } })
    const peer = await RawNativePeer.connect(stack.port('native'), false)
    await peer.waitClosed()
    expect(peer.responses).toHaveLength(1)
    expect(peer.responses[0]).toMatchObject({ id: 0, error: { code: 'CAIRN_TIMEOUT' } })
    expect(stack.native.limitCounters.helloTimeouts).toBe(1)
  })

  test('limits - HTTP headers that never finish are cut with 408 after httpHeadersTimeoutMs', async () => {
    const stack = await startStack({ listeners: ['http'], limits: { httpHeadersTimeoutMs: 300 } })
    const socket = netConnect(stack.port('http'), '127.0.0.1')
    socket.on('error', () => undefined)
    let answer = ''
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()))
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n') // no blank line: the headers never end
    await closed
    expect(answer).toMatch(/^HTTP\/1\.1 408/)
  })

  test('limits - a native frame over nativeMaxFrameBytes ends the connection and is counted', async () => {
    const stack = await startStack({ listeners: ['native'], native: { maxFrameBytes: 1024 } })
    const peer = await RawNativePeer.connect(stack.port('native'))
    peer.send('produce', { batches: [{ stream: 's', partition: 0, records: [{ value: new Uint8Array(4096) }] }] })
    await peer.waitClosed()
    expect(peer.responses.at(-1)?.error).toMatchObject({ code: 'CAIRN_FRAME_TOO_LARGE' })
    expect(stack.native.limitCounters.framesTooLarge).toBe(1)
  })
})

function mqttPacketBytes(packet: Packet): Buffer {
  return mqttPacket.generate(packet, { protocolVersion: 5 })
}

describe('limits - over TLS', () => {
  test('limits - an MQTT client over a limit on a TLS listener still reads CONNACK 0x97 after the handshake', async () => {
    const pki = createPki()
    const stack = await startStack({
      listeners: ['mqttTls', 'mqttWss'],
      tls: tlsMaterial(issueServer(pki)),
      limits: { maxConnections: 1 },
    })
    const inside = mqtt.connect(`mqtts://localhost:${stack.port('mqttTls')}`, { ca: pki.ca, reconnectPeriod: 0 })
    onTestFinished(() => {
      inside.end(true)
    })
    await new Promise((resolve) => inside.once('connect', resolve))
    for (const url of [`mqtts://localhost:${stack.port('mqttTls')}`, `wss://localhost:${stack.port('mqttWss')}/mqtt`]) {
      const client = mqtt.connect(url, { ca: pki.ca, protocolVersion: 5, reconnectPeriod: 0 })
      onTestFinished(() => {
        client.end(true)
      })
      const error = await new Promise<Error & { code?: number }>((resolve) => client.once('error', resolve))
      expect(error.code).toBe(QUOTA_EXCEEDED)
    }
    expect(stack.mqtt.limitCounters.connectionsOverLimit).toBe(2)
  })
})
