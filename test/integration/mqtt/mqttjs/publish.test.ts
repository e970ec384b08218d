import type { IPublishPacket, QoS } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { FakeClock } from '../../../helpers/fake-clock.ts'
import { startMqttBroker, type MqttBroker } from '../../../helpers/mqtt-broker.ts'
import {
  connectClient,
  range,
  rawClient,
  rawConnect,
  subscriber,
  uniqueId,
  versions,
  type TestClient,
} from './clients.ts'

const textDecoder = new TextDecoder()

/** MQTT topics of the records in partition 0 of the session stream, in log order. */
function loggedTopics(broker: MqttBroker): string[] {
  const read = broker.store.read('mqtt', 0, 0n, { maxRecords: 10_000 })
  return read.records.map((r) => (r.key === null ? '' : textDecoder.decode(r.key)))
}

function loggedPayloads(broker: MqttBroker): string[] {
  const read = broker.store.read('mqtt', 0, 0n, { maxRecords: 10_000 })
  return read.records.map((r) => (r.value === null ? '' : textDecoder.decode(r.value)))
}

async function waitNoInflight(broker: MqttBroker, c: TestClient): Promise<void> {
  await expect.poll(() => broker.frontEnd.sessions.get(c.clientId)?.inflight.size).toBe(0)
}

describe.each(versions)('MQTT $v PUBLISH', ({ v }) => {
  it('qos - 0, 1 and 2 reach a QoS 2 subscriber at the QoS they were published with', async () => {
    const broker = await startMqttBroker()
    const sub = await subscriber(broker.url, { protocolVersion: v }, 'qos/#', { qos: 2 })
    const pub = await connectClient(broker.url, { protocolVersion: v })
    for (const qos of [0, 1, 2] as const) await pub.client.publishAsync(`qos/${qos}`, `m${qos}`, { qos })
    const received = await sub.waitForMessages(3)
    expect(received.map((m) => [m.topic, m.payload, m.packet.qos])).toEqual([
      ['qos/0', 'm0', 0],
      ['qos/1', 'm1', 1],
      ['qos/2', 'm2', 2],
    ])
    // PUBACK and PUBREC/PUBREL/PUBCOMP from the subscriber ended both exchanges.
    await waitNoInflight(broker, sub)
    expect(loggedTopics(broker)).toEqual(['qos/0', 'qos/1', 'qos/2'])
  })

  it('qos - PUBACK and PUBREC go out only after the record is committed to the log', async () => {
    const broker = await startMqttBroker()
    const pub = await connectClient(broker.url, { protocolVersion: v })
    const seenAtAck: Array<{ cmd: string; logged: string[] }> = []
    pub.client.on('packetreceive', (packet) => {
      // Read the store at the moment the acknowledgement arrives, before MQTT.js resolves anything.
      if (packet.cmd === 'puback' || packet.cmd === 'pubrec')
        seenAtAck.push({ cmd: packet.cmd, logged: loggedPayloads(broker) })
    })
    await pub.client.publishAsync('commit/a', 'one', { qos: 1 })
    expect(loggedPayloads(broker)).toEqual(['one'])
    await pub.client.publishAsync('commit/b', 'two', { qos: 2 })
    expect(loggedPayloads(broker)).toEqual(['one', 'two'])
    expect(seenAtAck).toEqual([
      { cmd: 'puback', logged: ['one'] },
      { cmd: 'pubrec', logged: ['one', 'two'] },
    ])
  })

  it('qos - a QoS 2 PUBLISH resent with DUP before PUBREL is stored once', async () => {
    const broker = await startMqttBroker()
    const sub = await subscriber(broker.url, { protocolVersion: v }, 'dup/#', { qos: 2 })
    const raw = await rawClient(broker.port, v)
    raw.send(rawConnect(v, uniqueId('dup'), { clean: true }))
    await raw.waitFor((p) => p.cmd === 'connack')
    // Same packet id twice, then PUBREL: the broker must take the second for a duplicate.
    const publish = (dup: boolean): IPublishPacket => ({
      cmd: 'publish',
      topic: 'dup/x',
      payload: Buffer.from('once'),
      qos: 2,
      messageId: 4242,
      dup,
      retain: false,
    })
    raw.send(publish(false))
    await raw.waitFor((p) => p.cmd === 'pubrec')
    raw.send(publish(true))
    await expect.poll(() => raw.packets.filter((p) => p.cmd === 'pubrec')).toHaveLength(2)
    raw.send({ cmd: 'pubrel', messageId: 4242 })
    await raw.waitFor((p) => p.cmd === 'pubcomp')
    expect(loggedPayloads(broker)).toEqual(['once'])
    const pub = await connectClient(broker.url, { protocolVersion: v })
    await pub.client.publishAsync('dup/x', 'marker', { qos: 1 })
    await sub.waitForMessages(2)
    expect(sub.wirePayloads()).toEqual(['once', 'marker'])
    expect(loggedPayloads(broker)).toEqual(['once', 'marker'])
  })

  it.each([
    [2, 0, 0],
    [2, 1, 1],
    [1, 0, 0],
    [1, 2, 1],
    [0, 2, 0],
  ] as Array<[QoS, QoS, QoS]>)(
    'qos - published %i to a subscription of %i is delivered at %i',
    async (published, granted, delivered) => {
      const broker = await startMqttBroker()
      const sub = await subscriber(broker.url, { protocolVersion: v }, 'down/t', { qos: granted })
      const pub = await connectClient(broker.url, { protocolVersion: v })
      await pub.client.publishAsync('down/t', 'x', { qos: published })
      const [message] = await sub.waitForMessages(1)
      expect(message?.packet.qos).toBe(delivered)
    },
  )

  it('overlap - overlapping subscriptions deliver once at the highest QoS', async () => {
    const broker = await startMqttBroker()
    const sub = await connectClient(broker.url, { protocolVersion: v })
    const ids = v === 5
    await sub.client.subscribeAsync('ov/#', { qos: 0, ...(ids ? { properties: { subscriptionIdentifier: 1 } } : {}) })
    await sub.client.subscribeAsync('ov/+/x', { qos: 2, ...(ids ? { properties: { subscriptionIdentifier: 2 } } : {}) })
    await sub.client.subscribeAsync('ov/a/+', { qos: 1, ...(ids ? { properties: { subscriptionIdentifier: 3 } } : {}) })
    const pub = await connectClient(broker.url, { protocolVersion: v })
    await pub.client.publishAsync('ov/a/x', 'all three', { qos: 2 })
    await pub.client.publishAsync('ov/b/y', 'only #', { qos: 2 })
    // MQTT.js emits a QoS 2 message only once PUBREL arrives, so the QoS 0 one may overtake it.
    const received = [...(await sub.waitForMessages(2))].sort((a, b) => a.payload.localeCompare(b.payload))
    expect(received.map((m) => [m.payload, m.packet.qos])).toEqual([
      ['all three', 2],
      ['only #', 0],
    ])
    if (v === 5) {
      const first = received[0]?.packet.properties?.subscriptionIdentifier
      expect([first].flat().sort()).toEqual([1, 2, 3])
      expect(received[1]?.packet.properties?.subscriptionIdentifier).toBe(1)
    }
    await pub.client.publishAsync('ov/a/x', 'marker', { qos: 1 })
    await sub.waitForMessages(3)
    expect(sub.payloads().filter((p) => p === 'all three')).toHaveLength(1)
  })

  it('retain - a live delivery to an existing subscription has retain 0 in 3.1.1 and without Retain As Published', async () => {
    const broker = await startMqttBroker()
    const sub = await subscriber(broker.url, { protocolVersion: v }, 'live/t', { qos: 1 })
    const pub = await connectClient(broker.url, { protocolVersion: v })
    await pub.client.publishAsync('live/t', 'r', { qos: 1, retain: true })
    const [message] = await sub.waitForMessages(1)
    expect(message?.packet.retain).toBe(false)
  })
})

describe('MQTT 5 PUBLISH options', () => {
  it('no local - messages published by the subscriber itself are not sent back to it', async () => {
    const broker = await startMqttBroker()
    const self = await subscriber(broker.url, { protocolVersion: 5 }, 'nl/t', { qos: 1, nl: true })
    const other = await subscriber(broker.url, { protocolVersion: 5 }, 'nl/t', { qos: 1 })
    await self.client.publishAsync('nl/t', 'from self', { qos: 1 })
    const pub = await connectClient(broker.url, { protocolVersion: 5 })
    await pub.client.publishAsync('nl/t', 'from other', { qos: 1 })
    await self.waitForMessages(1)
    await other.waitForMessages(2)
    expect(self.payloads()).toEqual(['from other'])
    expect(other.payloads()).toEqual(['from self', 'from other'])
  })

  it('retain as published - keeps the retain flag on live deliveries only when asked', async () => {
    const broker = await startMqttBroker()
    const rap = await subscriber(broker.url, { protocolVersion: 5 }, 'rap/t', { qos: 1, rap: true })
    const plain = await subscriber(broker.url, { protocolVersion: 5 }, 'rap/t', { qos: 1, rap: false })
    const pub = await connectClient(broker.url, { protocolVersion: 5 })
    await pub.client.publishAsync('rap/t', 'retained', { qos: 1, retain: true })
    await pub.client.publishAsync('rap/t', 'not retained', { qos: 1, retain: false })
    const viaRap = await rap.waitForMessages(2)
    const viaPlain = await plain.waitForMessages(2)
    expect(viaRap.map((m) => [m.payload, m.packet.retain])).toEqual([
      ['retained', true],
      ['not retained', false],
    ])
    expect(viaPlain.map((m) => [m.payload, m.packet.retain])).toEqual([
      ['retained', false],
      ['not retained', false],
    ])
  })

  it('properties - payload format, content type, response topic, correlation data and user properties pass through', async () => {
    const broker = await startMqttBroker()
    const clientId = uniqueId('props')
    const persistent = { protocolVersion: 5 as const, clientId, properties: { sessionExpiryInterval: 300 } }
    const live = await subscriber(broker.url, { protocolVersion: 5 }, 'props/#', { qos: 2 })
    const offline = await subscriber(broker.url, persistent, 'props/#', { qos: 2 })
    await offline.end()
    const properties = {
      payloadFormatIndicator: true,
      contentType: 'application/json; charset=utf-8',
      responseTopic: 'props/reply/42',
      correlationData: Buffer.from([0, 1, 2, 254, 255]),
      userProperties: { site: 'north', tag: ['a', 'b', 'a'], empty: '' },
    }
    const pub = await connectClient(broker.url, { protocolVersion: 5 })
    await pub.client.publishAsync('props/t', '{"t":21.5}', { qos: 1, properties })
    const check = (packet: TestClient['messages'][number]['packet'] | undefined): void => {
      expect(packet?.payload.toString()).toBe('{"t":21.5}')
      expect(packet?.properties).toMatchObject({
        payloadFormatIndicator: true,
        contentType: properties.contentType,
        responseTopic: properties.responseTopic,
        correlationData: properties.correlationData,
        userProperties: properties.userProperties,
      })
    }
    check((await live.waitForMessages(1))[0]?.packet)
    // The same properties come back out of the log for a session that was away.
    const resumed = await connectClient(broker.url, { ...persistent, clean: false })
    check((await resumed.waitForMessages(1))[0]?.packet)
  })

  it('payload format - a payload declared UTF-8 that is not is refused with 0x99', async () => {
    const broker = await startMqttBroker()
    const pub = await connectClient(broker.url, { protocolVersion: 5 })
    const ack = pub.client.publishAsync('pfi/t', Buffer.from([0xff, 0xfe, 0xfd]), {
      qos: 1,
      properties: { payloadFormatIndicator: true },
    })
    await expect(ack).rejects.toMatchObject({ code: 0x99 })
    expect(loggedTopics(broker)).toEqual([])
  })
})

describe('MQTT 5 message expiry', () => {
  it('expiry - a message that expired while the session was away is not delivered; the rest carry the remaining interval', async () => {
    const clock = new FakeClock()
    const broker = await startMqttBroker({ clock })
    const clientId = uniqueId('exp')
    const persistent = { protocolVersion: 5 as const, clientId, properties: { sessionExpiryInterval: 3600 } }
    const away = await subscriber(broker.url, persistent, 'exp/#', { qos: 1 })
    await away.end()
    const pub = await connectClient(broker.url, { protocolVersion: 5 })
    await pub.client.publishAsync('exp/short', 'short', { qos: 1, properties: { messageExpiryInterval: 1 } })
    await pub.client.publishAsync('exp/long', 'long', { qos: 1, properties: { messageExpiryInterval: 60 } })
    await pub.client.publishAsync('exp/never', 'never', { qos: 1 })
    clock.advance(10_000)
    const back = await connectClient(broker.url, { ...persistent, clean: false })
    await back.waitForMessages(2)
    expect(back.messages.map((m) => [m.payload, m.packet.properties?.messageExpiryInterval])).toEqual([
      ['long', 50],
      ['never', undefined],
    ])
  })

  it('expiry - a retained message is not sent to new subscribers after it expired', async () => {
    const clock = new FakeClock()
    const broker = await startMqttBroker({ clock })
    const pub = await connectClient(broker.url, { protocolVersion: 5 })
    await pub.client.publishAsync('rexp/a', 'expires', {
      qos: 1,
      retain: true,
      properties: { messageExpiryInterval: 1 },
    })
    await pub.client.publishAsync('rexp/b', 'stays', { qos: 1, retain: true })
    const early = await subscriber(broker.url, { protocolVersion: 5 }, 'rexp/#', { qos: 1 })
    await early.waitForMessages(2)
    expect(early.payloads().sort()).toEqual(['expires', 'stays'])
    clock.advance(2_000)
    const late = await subscriber(broker.url, { protocolVersion: 5 }, 'rexp/#', { qos: 1 })
    await late.waitForMessages(1)
    // SUBACK handling sends all matching retained messages in one go, so nothing else is on its way.
    await pub.client.publishAsync('rexp/marker', 'marker', { qos: 1 })
    await late.waitForMessages(2)
    expect(late.payloads()).toEqual(['stays', 'marker'])
  })
})

describe.each(versions)('MQTT $v PUBLISH ordering', ({ v }) => {
  it('order - many QoS 1 messages from one publisher arrive in publish order', async () => {
    const broker = await startMqttBroker()
    const sub = await subscriber(broker.url, { protocolVersion: v }, 'order/#', { qos: 1 })
    const pub = await connectClient(broker.url, { protocolVersion: v })
    await Promise.all(range(200).map((i) => pub.client.publishAsync(`order/${i % 3}`, String(i), { qos: 1 })))
    await sub.waitForMessages(200)
    expect(sub.payloads()).toEqual(range(200).map(String))
  })
})
