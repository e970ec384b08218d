import type { IPublishPacket, QoS } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { FakeClock } from '../../../helpers/fake-clock.ts'
import { startMqttBroker } from '../../../helpers/mqtt-broker.ts'
import {
  connectClient,
  range,
  rawClient,
  rawConnect,
  subscriber,
  uniqueId,
  versions,
  type ClientOptions,
  type ProtocolVersion,
} from './clients.ts'

/** Options for a persistent session: clean session 0 (3.1.1) or a session expiry (5). */
function persistentSession(v: ProtocolVersion, clientId: string, expirySec = 3600): ClientOptions {
  return v === 5
    ? { protocolVersion: v, clientId, clean: true, properties: { sessionExpiryInterval: expirySec } }
    : { protocolVersion: v, clientId, clean: false }
}

/** The same session, resumed (v5 sends clean start 0). */
function resume(options: ClientOptions): ClientOptions {
  return { ...options, clean: false }
}

describe.each(versions)('MQTT $v persistent sessions', ({ v }) => {
  it('offline - QoS 1 and 2 messages published while away arrive on reconnect, in order', async () => {
    const broker = await startMqttBroker()
    const session = persistentSession(v, uniqueId('ps'))
    const first = await subscriber(broker.url, session, 'ps/#', { qos: 2 })
    await first.end()
    const pub = await connectClient(broker.url, { protocolVersion: v })
    const qosOf = (i: number): QoS => (i % 2 === 0 ? 1 : 2)
    for (const i of range(20)) await pub.client.publishAsync(`ps/${i % 3}`, String(i), { qos: qosOf(i) })
    await pub.client.publishAsync('elsewhere/t', 'not subscribed', { qos: 1 })
    const back = await connectClient(broker.url, resume(session))
    expect(back.connack.sessionPresent).toBe(true)
    await back.waitForMessages(20)
    // Sent in log order (MQTT.js emits QoS 2 messages later, at PUBREL), each exactly once.
    expect(back.wire.map((m) => [m.payload, m.packet.qos])).toEqual(range(20).map((i) => [String(i), qosOf(i)]))
    expect(back.payloads().sort((a, b) => Number(a) - Number(b))).toEqual(range(20).map(String))
    // Live again after the backlog.
    await pub.client.publishAsync('ps/live', 'live', { qos: 1 })
    await back.waitForMessages(21)
    expect(back.payloads().at(-1)).toBe('live')
    await expect.poll(() => broker.frontEnd.sessions.get(back.clientId)?.inflight.size).toBe(0)
  })

  it('offline - a session resumes after its session stream gained partitions while it was away', async () => {
    const broker = await startMqttBroker()
    const session = persistentSession(v, uniqueId('pg'))
    const first = await subscriber(broker.url, session, 'pg/#', { qos: 1 })
    await first.end()
    broker.store.addPartitions('mqtt', 4) // the stored cursors now cover 1 of 4 partitions
    const pub = await connectClient(broker.url, { protocolVersion: v })
    for (const i of range(12)) await pub.client.publishAsync(`pg/${i}`, String(i), { qos: 1 })
    const back = await connectClient(broker.url, resume(session))
    await back.waitForMessages(12)
    expect(back.payloads().sort((a, b) => Number(a) - Number(b))).toEqual(range(12).map(String))
  })

  it('offline - the backlog survives a broker restart', async () => {
    const broker = await startMqttBroker()
    const session = persistentSession(v, uniqueId('pr'))
    const first = await subscriber(broker.url, session, 'pr/#', { qos: 2 })
    await first.end()
    let pub = await connectClient(broker.url, { protocolVersion: v })
    for (const i of range(10)) await pub.client.publishAsync('pr/t', `before ${i}`, { qos: i % 2 === 0 ? 1 : 2 })
    await broker.restart()
    pub = await connectClient(broker.url, { protocolVersion: v })
    for (const i of range(5)) await pub.client.publishAsync('pr/t', `after ${i}`, { qos: 2 })
    const back = await connectClient(broker.url, resume(session))
    expect(back.connack.sessionPresent).toBe(true)
    await back.waitForMessages(15)
    const expected = [...range(10).map((i) => `before ${i}`), ...range(5).map((i) => `after ${i}`)]
    expect(back.wirePayloads()).toEqual(expected)
    expect(back.payloads().sort()).toEqual([...expected].sort())
  })

  it('offline - a session that disconnected halfway through its backlog resumes where it stopped', async () => {
    const broker = await startMqttBroker()
    const session = persistentSession(v, uniqueId('ph'))
    const first = await subscriber(broker.url, session, 'ph/#', { qos: 1 })
    await first.end()
    const pub = await connectClient(broker.url, { protocolVersion: v })
    await Promise.all(range(30).map((i) => pub.client.publishAsync('ph/t', String(i), { qos: 1 })))
    // Acknowledge 10 of the backlog, then drop: PUBACKed messages must not come again, all others must.
    const ackedIds = new Set<number>()
    let handled = 0
    const part = await connectClient(broker.url, resume(session), (client) => {
      client.on('packetsend', (p) => {
        if (p.cmd === 'puback') ackedIds.add(p.messageId as number)
      })
      client.handleMessage = (_packet, callback) => {
        if (++handled <= 10) callback() // the 11th is never acknowledged, and holds back the rest
      }
    })
    await expect.poll(() => ackedIds.size).toBe(10)
    await part.drop()
    await expect.poll(() => broker.frontEnd.connectedCount()).toBe(1)
    const acked = part.wire.filter((m) => ackedIds.has(m.packet.messageId as number)).map((m) => m.payload)
    expect(acked).toEqual(range(10).map(String))
    await broker.restart()
    const rest = await connectClient(broker.url, resume(session))
    await rest.waitForMessages(20)
    expect(rest.payloads()).toEqual(range(30).slice(10).map(String))
    expect(rest.messages[0]?.packet.dup).toBe(true) // the 11th was in flight: resent as a duplicate
  })

  it('in flight - a QoS 1 message never acknowledged is sent again with DUP after reconnect and restart', async () => {
    const broker = await startMqttBroker()
    const session = persistentSession(v, uniqueId('pi'))
    const seen: Array<{ payload: string; dup: boolean }> = []
    const deaf = await connectClient(broker.url, session, (client) => {
      client.on('packetreceive', (p) => {
        if (p.cmd === 'publish') seen.push({ payload: p.payload.toString(), dup: p.dup })
      })
      client.handleMessage = () => undefined // never PUBACKs
    })
    await deaf.client.subscribeAsync('pi/t', { qos: 1 })
    const pub = await connectClient(broker.url, { protocolVersion: v })
    await pub.client.publishAsync('pi/t', 'unacked', { qos: 1 })
    await expect.poll(() => seen).toEqual([{ payload: 'unacked', dup: false }])
    await deaf.drop()
    await expect.poll(() => broker.frontEnd.connectedCount()).toBe(1)
    await broker.restart()
    const back = await connectClient(broker.url, resume(session))
    const [message] = await back.waitForMessages(1)
    expect([message?.payload, message?.packet.dup]).toEqual(['unacked', true])
    await expect.poll(() => broker.frontEnd.sessions.get(back.clientId)?.inflight.size).toBe(0)
  })

  it('qos 2 - a PUBREL not yet completed is resent after a restart, and the PUBLISH is not', async () => {
    const broker = await startMqttBroker()
    const clientId = uniqueId('q2o')
    // A raw client, so that the exchange can stop exactly between PUBREL and PUBCOMP.
    let raw = await rawClient(broker.port, v)
    raw.send(rawConnect(v, clientId))
    await raw.waitFor((p) => p.cmd === 'connack')
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'q2o/t', qos: 2 }] })
    await raw.waitFor((p) => p.cmd === 'suback')
    const pub = await connectClient(broker.url, { protocolVersion: v })
    await pub.client.publishAsync('q2o/t', 'exactly once', { qos: 2 })
    const publish = (await raw.waitFor((p) => p.cmd === 'publish')) as IPublishPacket
    const id = publish.messageId as number
    raw.send({ cmd: 'pubrec', messageId: id })
    await raw.waitFor((p) => p.cmd === 'pubrel')
    await broker.restart()
    await raw.waitClosed()
    raw = await rawClient(broker.port, v)
    raw.send(rawConnect(v, clientId))
    await raw.waitFor((p) => p.cmd === 'connack')
    expect(await raw.waitFor((p) => p.cmd === 'pubrel')).toMatchObject({ messageId: id })
    raw.send({ cmd: 'pubcomp', messageId: id })
    await expect.poll(() => broker.frontEnd.sessions.get(clientId)?.inflight.size).toBe(0)
    const pub2 = await connectClient(broker.url, { protocolVersion: v })
    await pub2.client.publishAsync('q2o/t', 'next', { qos: 1 })
    await raw.waitFor((p) => p.cmd === 'publish')
    expect(raw.packets.filter((p) => p.cmd === 'publish').map((p) => p.payload.toString())).toEqual(['next'])
  })

  it('qos 2 - a PUBLISH resent after a restart, before PUBREL, is not stored twice', async () => {
    const broker = await startMqttBroker()
    const clientId = uniqueId('q2i')
    const publish = (dup: boolean): IPublishPacket => ({
      cmd: 'publish',
      topic: 'q2i/t',
      payload: Buffer.from('once'),
      qos: 2,
      messageId: 9,
      dup,
      retain: false,
    })
    let raw = await rawClient(broker.port, v)
    raw.send(rawConnect(v, clientId))
    await raw.waitFor((p) => p.cmd === 'connack')
    raw.send(publish(false))
    await raw.waitFor((p) => p.cmd === 'pubrec')
    await broker.restart()
    await raw.waitClosed()
    raw = await rawClient(broker.port, v)
    raw.send(rawConnect(v, clientId))
    await raw.waitFor((p) => p.cmd === 'connack')
    raw.send(publish(true))
    await raw.waitFor((p) => p.cmd === 'pubrec')
    raw.send({ cmd: 'pubrel', messageId: 9 })
    await raw.waitFor((p) => p.cmd === 'pubcomp')
    expect(broker.store.latestOffset('mqtt', 0)).toBe(1n)
    // The same packet id is free again: a new message with it is a new message.
    raw.send({ ...publish(false), payload: Buffer.from('again') })
    await expect.poll(() => broker.store.latestOffset('mqtt', 0)).toBe(2n)
  })

  it('clean start - discards the previous session, its subscriptions and its backlog', async () => {
    const broker = await startMqttBroker()
    const session = persistentSession(v, uniqueId('pc'))
    const first = await subscriber(broker.url, session, 'pc/#', { qos: 1 })
    await first.end()
    const pub = await connectClient(broker.url, { protocolVersion: v })
    await pub.client.publishAsync('pc/t', 'while away', { qos: 1 })
    const clean = await connectClient(broker.url, { ...session, clean: true, ...(v === 5 ? { properties: {} } : {}) })
    expect(clean.connack.sessionPresent).toBe(false)
    expect(broker.frontEnd.sessions.get(session.clientId as string)?.subscriptions.size).toBe(0)
    await clean.client.subscribeAsync('pc/marker', { qos: 1 })
    await pub.client.publishAsync('pc/t', 'not subscribed', { qos: 1 })
    await pub.client.publishAsync('pc/marker', 'marker', { qos: 1 })
    await clean.waitForMessages(1)
    expect(clean.payloads()).toEqual(['marker'])
    // A non-persistent session leaves nothing behind.
    await clean.end()
    await expect.poll(() => broker.frontEnd.sessions.has(session.clientId as string)).toBe(false)
  })

  it('non-persistent - a clean session gets nothing published while it was away', async () => {
    const broker = await startMqttBroker()
    const clientId = uniqueId('np')
    const first = await subscriber(broker.url, { protocolVersion: v, clientId }, 'np/#', { qos: 1 })
    await first.end()
    const pub = await connectClient(broker.url, { protocolVersion: v })
    await pub.client.publishAsync('np/t', 'while away', { qos: 1 })
    const back = await connectClient(broker.url, { protocolVersion: v, clientId })
    expect(back.connack.sessionPresent).toBe(false)
    await back.client.subscribeAsync('np/#', { qos: 1 })
    await pub.client.publishAsync('np/t', 'after', { qos: 1 })
    await back.waitForMessages(1)
    expect(back.payloads()).toEqual(['after'])
  })
})

describe('MQTT 5 session expiry', () => {
  it('expiry - a session is gone once its expiry interval has passed', async () => {
    const clock = new FakeClock()
    const broker = await startMqttBroker({ clock })
    const session = persistentSession(5, uniqueId('se'), 10)
    const first = await subscriber(broker.url, session, 'se/#', { qos: 1 })
    await first.end()
    await expect.poll(() => broker.frontEnd.connectedCount()).toBe(0)
    clock.advance(9_000)
    expect(broker.frontEnd.sessions.has(session.clientId as string)).toBe(true)
    clock.advance(1_000)
    expect(broker.frontEnd.sessions.has(session.clientId as string)).toBe(false)
    const pub = await connectClient(broker.url, { protocolVersion: 5 })
    await pub.client.publishAsync('se/t', 'too late', { qos: 1 })
    const back = await connectClient(broker.url, resume(session))
    expect(back.connack.sessionPresent).toBe(false)
    await back.client.subscribeAsync('se/marker', { qos: 1 })
    await pub.client.publishAsync('se/marker', 'marker', { qos: 1 })
    await back.waitForMessages(1)
    expect(back.payloads()).toEqual(['marker'])
  })

  it('expiry - counts on across a broker restart', async () => {
    const clock = new FakeClock()
    const broker = await startMqttBroker({ clock })
    const session = persistentSession(5, uniqueId('sr'), 10)
    const first = await subscriber(broker.url, session, 'sr/#', { qos: 1 })
    await first.end()
    await expect.poll(() => broker.frontEnd.connectedCount()).toBe(0)
    clock.advance(6_000)
    await broker.restart()
    expect(broker.frontEnd.sessions.has(session.clientId as string)).toBe(true)
    clock.advance(4_000)
    expect(broker.frontEnd.sessions.has(session.clientId as string)).toBe(false)
    await broker.restart()
    expect(broker.frontEnd.sessions.has(session.clientId as string)).toBe(false)
  })

  it('expiry - DISCONNECT may shorten the session expiry interval', async () => {
    const clock = new FakeClock()
    const broker = await startMqttBroker({ clock })
    const session = persistentSession(5, uniqueId('sd'), 3600)
    const first = await subscriber(broker.url, session, 'sd/#', { qos: 1 })
    await first.client.endAsync(false, { reasonCode: 0, properties: { sessionExpiryInterval: 2 } })
    await expect.poll(() => broker.frontEnd.connectedCount()).toBe(0)
    clock.advance(2_000)
    expect(broker.frontEnd.sessions.has(session.clientId as string)).toBe(false)
  })

  it('expiry - 0 at DISCONNECT ends the session at once', async () => {
    const broker = await startMqttBroker()
    const session = persistentSession(5, uniqueId('s0'), 3600)
    const first = await subscriber(broker.url, session, 's0/#', { qos: 1 })
    await first.client.endAsync(false, { reasonCode: 0, properties: { sessionExpiryInterval: 0 } })
    await expect.poll(() => broker.frontEnd.sessions.has(session.clientId as string)).toBe(false)
    await broker.restart()
    expect(broker.frontEnd.sessions.has(session.clientId as string)).toBe(false)
  })
})
