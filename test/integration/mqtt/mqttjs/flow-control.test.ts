import mqttPacket, { type Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { startMqttBroker } from '../../../helpers/mqtt-broker.ts'
import {
  connectClient,
  range,
  rawClient,
  rawConnect,
  subscriber,
  uniqueId,
  versions,
  within,
  type ProtocolVersion,
} from './clients.ts'

const textDecoder = new TextDecoder()

describe('MQTT 5 topic alias', () => {
  it('alias - a client may set an alias and then publish with it alone', async () => {
    const broker = await startMqttBroker()
    const sub = await subscriber(broker.url, { protocolVersion: 5 }, 'ta/#', { qos: 1 })
    const pub = await connectClient(broker.url, { protocolVersion: 5 })
    await pub.client.publishAsync('ta/long/topic/name', 'first', { qos: 1, properties: { topicAlias: 3 } })
    await pub.client.publishAsync('', 'second', { qos: 1, properties: { topicAlias: 3 } })
    await pub.client.publishAsync('ta/other', 'third', { qos: 1, properties: { topicAlias: 3 } }) // re-mapped
    await pub.client.publishAsync('', 'fourth', { qos: 1, properties: { topicAlias: 3 } })
    await sub.waitForMessages(4)
    expect(sub.messages.map((m) => [m.topic, m.payload])).toEqual([
      ['ta/long/topic/name', 'first'],
      ['ta/long/topic/name', 'second'],
      ['ta/other', 'third'],
      ['ta/other', 'fourth'],
    ])
    // The log keeps the real topic, never the alias.
    const logged = broker.store.read('mqtt', 0, 0n).records.map((r) => textDecoder.decode(r.key ?? new Uint8Array()))
    expect(logged).toEqual(['ta/long/topic/name', 'ta/long/topic/name', 'ta/other', 'ta/other'])
  })

  it('alias - the broker uses aliases towards a client that allows them, up to its maximum', async () => {
    const broker = await startMqttBroker()
    const wire: Array<{ topic: string; alias: number | undefined }> = []
    const sub = await connectClient(broker.url, { protocolVersion: 5, properties: { topicAliasMaximum: 1 } }, (c) =>
      c.on('packetreceive', (p) => {
        if (p.cmd === 'publish') wire.push({ topic: p.topic.toString(), alias: p.properties?.topicAlias })
      }),
    )
    await sub.client.subscribeAsync('tb/#', { qos: 1 })
    const pub = await connectClient(broker.url, { protocolVersion: 5 })
    for (const topic of ['tb/a', 'tb/a', 'tb/b', 'tb/a', 'tb/b'])
      await pub.client.publishAsync(topic, topic, { qos: 1 })
    await sub.waitForMessages(5)
    expect(sub.messages.map((m) => m.topic)).toEqual(['tb/a', 'tb/a', 'tb/b', 'tb/a', 'tb/b'])
    expect(wire).toEqual([
      { topic: 'tb/a', alias: 1 },
      { topic: '', alias: 1 },
      { topic: 'tb/b', alias: undefined }, // the one alias the client allows is taken
      { topic: '', alias: 1 },
      { topic: 'tb/b', alias: undefined },
    ])
  })

  it('alias - no alias is used towards a client that did not allow them', async () => {
    const broker = await startMqttBroker()
    const aliases: Array<number | undefined> = []
    const sub = await connectClient(broker.url, { protocolVersion: 5 }, (c) =>
      c.on('packetreceive', (p) => {
        if (p.cmd === 'publish') aliases.push(p.properties?.topicAlias)
      }),
    )
    await sub.client.subscribeAsync('tc/#', { qos: 0 })
    const pub = await connectClient(broker.url, { protocolVersion: 5 })
    for (const i of range(3)) await pub.client.publishAsync('tc/a', String(i), { qos: 1 })
    await sub.waitForMessages(3)
    expect(aliases).toEqual([undefined, undefined, undefined])
  })

  it.each([0, 65])(
    'alias - %i (0 or above the Topic Alias Maximum) ends the connection with DISCONNECT 0x94',
    async (alias) => {
      const broker = await startMqttBroker({ options: { topicAliasMaximum: 64 } })
      const pub = await connectClient(broker.url, { protocolVersion: 5 })
      // MQTT.js refuses to send an out-of-range alias itself, so the packet goes out raw.
      pub.writeRaw({
        cmd: 'publish',
        topic: 'td/t',
        payload: Buffer.from('x'),
        qos: 0,
        dup: false,
        retain: false,
        properties: { topicAlias: alias },
      })
      await within(pub.waitClosed(), 10_000, 'close after invalid alias')
      expect(pub.disconnects.map((d) => d.reasonCode)).toEqual([0x94])
      expect(broker.store.latestOffset('mqtt', 0)).toBe(0n)
    },
  )

  it('alias - an alias that was never set ends the connection with DISCONNECT 0x82', async () => {
    const broker = await startMqttBroker()
    const pub = await connectClient(broker.url, { protocolVersion: 5 })
    pub.writeRaw({
      cmd: 'publish',
      topic: '',
      payload: Buffer.from('x'),
      qos: 0,
      dup: false,
      retain: false,
      properties: { topicAlias: 7 },
    })
    await within(pub.waitClosed(), 10_000, 'close after unknown alias')
    expect(pub.disconnects.map((d) => d.reasonCode)).toEqual([0x82])
  })
})

/**
 * A subscriber that holds each QoS 1 message's PUBACK until the broker has `limit` messages in
 * flight to it, while counting PUBLISHes as they reach its socket (before MQTT.js processes them):
 * if the broker ever sent more than `limit` unacknowledged, `maxInflight` shows it.
 */
async function slowAcker(
  url: string,
  options: { protocolVersion: ProtocolVersion; clientId: string; clean: boolean; properties?: object },
  total: number,
  limit: number,
) {
  let arrived = 0
  let acked = 0
  let maxInflight = 0
  const held: Array<() => void> = []
  const tryRelease = (): void => {
    if (held.length > 0 && (arrived - acked >= limit || arrived >= total)) (held.shift() as () => void)()
  }
  const tap = mqttPacket.parser({ protocolVersion: options.protocolVersion })
  tap.on('packet', (packet: Packet) => {
    if (packet.cmd !== 'publish') return
    arrived++
    maxInflight = Math.max(maxInflight, arrived - acked)
    tryRelease()
  })
  const c = await connectClient(url, options, (client) => {
    client.stream.on('data', (chunk: Buffer) => tap.parse(chunk))
    client.on('packetsend', (packet) => {
      if (packet.cmd === 'puback') acked++
    })
    client.handleMessage = (_packet, callback) => {
      held.push(() => callback())
      tryRelease()
    }
  })
  return { c, maxInflight: () => maxInflight }
}

describe.each(versions)('MQTT $v receive maximum', ({ v }) => {
  it('window - the broker never has more unacknowledged QoS 1 PUBLISHes than allowed, and delivers all in order', async () => {
    const limit = 3
    // 3.1.1 has no Receive Maximum: the broker's own maxInflightOut is the window.
    const broker = await startMqttBroker(v === 4 ? { options: { maxInflightOut: limit } } : {})
    const clientId = uniqueId('rm')
    const session =
      v === 5
        ? {
            protocolVersion: v,
            clientId,
            clean: true,
            properties: { sessionExpiryInterval: 300, receiveMaximum: limit },
          }
        : { protocolVersion: v, clientId, clean: false }
    const first = await subscriber(broker.url, session, 'rm/#', { qos: 1 })
    await first.end()
    const pub = await connectClient(broker.url, { protocolVersion: v })
    const backlog = 30
    const liveCount = 10
    await Promise.all(range(backlog).map((i) => pub.client.publishAsync(`rm/${i % 4}`, String(i), { qos: 1 })))
    const sub = await slowAcker(broker.url, { ...session, clean: false }, backlog + liveCount, limit)
    await Promise.all(range(liveCount).map((i) => pub.client.publishAsync('rm/live', String(backlog + i), { qos: 1 })))
    await sub.c.waitForMessages(backlog + liveCount)
    expect(sub.c.payloads()).toEqual(range(backlog + liveCount).map(String))
    expect(sub.maxInflight()).toBe(limit)
    await expect.poll(() => broker.frontEnd.sessions.get(clientId)?.inflight.size).toBe(0)
  })
})

describe('MQTT 5 broker receive maximum', () => {
  it('receive maximum - more unacknowledged QoS 1 PUBLISHes than announced end the connection with 0x93', async () => {
    const broker = await startMqttBroker({ options: { receiveMaximum: 2 } })
    const c = await connectClient(broker.url, { protocolVersion: 5 })
    expect(c.connack.properties?.receiveMaximum).toBe(2)
    // MQTT.js does not hold back for the server's Receive Maximum; three in one write arrive before any commit.
    const raw = await rawClient(broker.port, 5)
    raw.send(rawConnect(5, uniqueId('rmx'), { clean: true }))
    await raw.waitFor((p) => p.cmd === 'connack')
    raw.send(
      ...[1, 2, 3].map((messageId) => ({
        cmd: 'publish' as const,
        topic: 'rmx/t',
        payload: Buffer.from('x'),
        qos: 1 as const,
        messageId,
        dup: false,
        retain: false,
      })),
    )
    expect(await raw.waitFor((p) => p.cmd === 'disconnect')).toMatchObject({ reasonCode: 0x93 })
    await raw.waitClosed()
  })
})

describe('MQTT 5 maximum packet size', () => {
  it('client limit - messages larger than the client accepts are skipped, the rest delivered', async () => {
    const broker = await startMqttBroker()
    const clientId = uniqueId('mps')
    const session = {
      protocolVersion: 5 as const,
      clientId,
      properties: { maximumPacketSize: 200, sessionExpiryInterval: 300 },
    }
    const sub = await subscriber(broker.url, session, 'mps/#', { qos: 1 })
    const pub = await connectClient(broker.url, { protocolVersion: 5 })
    const big = 'x'.repeat(500)
    await pub.client.publishAsync('mps/t', 'small 1', { qos: 1 })
    await pub.client.publishAsync('mps/t', big, { qos: 1 })
    await pub.client.publishAsync('mps/t', big, { qos: 0 })
    await pub.client.publishAsync('mps/t', 'small 2', { qos: 1 })
    await sub.waitForMessages(2)
    expect(sub.payloads()).toEqual(['small 1', 'small 2'])
    expect(sub.errors).toEqual([])
    // The same holds for a backlog read from the log after a reconnect.
    await sub.end()
    await pub.client.publishAsync('mps/t', big, { qos: 1 })
    await pub.client.publishAsync('mps/t', 'small 3', { qos: 1 })
    const back = await connectClient(broker.url, { ...session, clean: false })
    await back.waitForMessages(1)
    await pub.client.publishAsync('mps/t', 'small 4', { qos: 1 })
    await back.waitForMessages(2)
    expect(back.payloads()).toEqual(['small 3', 'small 4'])
    await expect.poll(() => broker.frontEnd.sessions.get(clientId)?.inflight.size).toBe(0)
  })
})

describe.each(versions)('MQTT $v broker maximum packet size', ({ v }) => {
  it('broker limit - a packet larger than maxPacketBytes ends the connection', async () => {
    const broker = await startMqttBroker({ options: { maxPacketBytes: 1024 } })
    const pub = await connectClient(broker.url, { protocolVersion: v })
    pub.client.publish('big/t', 'y'.repeat(2000), { qos: 1 }, () => undefined)
    await within(pub.waitClosed(), 10_000, 'close after oversized packet')
    if (v === 5) expect(pub.disconnects.map((d) => d.reasonCode)).toEqual([0x95])
    expect(broker.store.latestOffset('mqtt', 0)).toBe(0n)
    // A packet within the limit is fine.
    const ok = await connectClient(broker.url, { protocolVersion: v })
    await ok.client.publishAsync('big/t', 'y'.repeat(900), { qos: 1 })
    expect(broker.store.latestOffset('mqtt', 0)).toBe(1n)
  })
})
