import { describe, expect, it } from 'vitest'
import { startMqttBroker } from '../../../helpers/mqtt-broker.ts'
import { connectClient, range, rawClient, subscriber, uniqueId, versions } from './clients.ts'

describe.each(versions)('MQTT $v SUBSCRIBE', ({ v }) => {
  it('wildcards - + matches one level and # any number of levels, including the parent', async () => {
    const broker = await startMqttBroker()
    const plus = await subscriber(broker.url, { protocolVersion: v }, 'w/+/temp', { qos: 1 })
    const hash = await subscriber(broker.url, { protocolVersion: v }, 'w/a/#', { qos: 1 })
    const exact = await subscriber(broker.url, { protocolVersion: v }, 'w/a/temp', { qos: 1 })
    const pub = await connectClient(broker.url, { protocolVersion: v })
    for (const topic of ['w/a/temp', 'w/b/temp', 'w/a/b/temp', 'w/a', 'w/a/', 'w/temp', 'x/a/temp'])
      await pub.client.publishAsync(topic, topic, { qos: 1 })
    await pub.client.publishAsync('w/a/end', 'end', { qos: 1 })
    await hash.waitForMessages(5)
    expect(hash.payloads()).toEqual(['w/a/temp', 'w/a/b/temp', 'w/a', 'w/a/', 'end'])
    await pub.client.publishAsync('w/z/temp', 'end', { qos: 1 })
    await plus.waitForMessages(3)
    expect(plus.payloads()).toEqual(['w/a/temp', 'w/b/temp', 'end'])
    await pub.client.publishAsync('w/a/temp', 'end', { qos: 1 })
    await exact.waitForMessages(2)
    expect(exact.payloads()).toEqual(['w/a/temp', 'end'])
  })

  it('dollar topics - # and + at the first level do not match topics starting with $', async () => {
    const broker = await startMqttBroker({ options: { sysIntervalMs: 0 } })
    const all = await subscriber(broker.url, { protocolVersion: v }, '#', { qos: 1 })
    const plus = await subscriber(broker.url, { protocolVersion: v }, '+/x', { qos: 1 })
    const dollar = await subscriber(broker.url, { protocolVersion: v }, '$app/#', { qos: 1 })
    const pub = await connectClient(broker.url, { protocolVersion: v })
    await pub.client.publishAsync('$app/x', 'dollar', { qos: 1 })
    await pub.client.publishAsync('app/x', 'plain', { qos: 1 })
    await all.waitForMessages(1)
    await plus.waitForMessages(1)
    await dollar.waitForMessages(1)
    expect(all.payloads()).toEqual(['plain'])
    expect(plus.payloads()).toEqual(['plain'])
    expect(dollar.payloads()).toEqual(['dollar'])
  })

  it('suback - an invalid filter gets a failure code, valid ones in the same SUBSCRIBE are granted', async () => {
    const broker = await startMqttBroker()
    // MQTT.js will not send an invalid filter, so this client speaks raw packets.
    const raw = await rawClient(broker.port, v)
    raw.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: v,
      clientId: 'raw-suback',
      clean: true,
      keepalive: 30,
    })
    await raw.waitFor((p) => p.cmd === 'connack')
    raw.send({
      cmd: 'subscribe',
      messageId: 7,
      subscriptions: [
        { topic: 'ok/+', qos: 1 },
        { topic: 'bad/#/x', qos: 1 },
        { topic: 'bad+/y', qos: 0 },
        { topic: '', qos: 0 },
        { topic: 'ok/2', qos: 2 },
      ],
    })
    const suback = await raw.waitFor((p) => p.cmd === 'suback')
    const failure = v === 5 ? 0x8f : 0x80
    expect(suback).toMatchObject({ messageId: 7, granted: [1, failure, failure, failure, 2] })
    expect([...(broker.frontEnd.sessions.get('raw-suback')?.subscriptions.keys() ?? [])]).toEqual(['ok/+', 'ok/2'])
  })

  it('resubscribe - the same filter again replaces the subscription and its QoS', async () => {
    const broker = await startMqttBroker()
    const sub = await subscriber(broker.url, { protocolVersion: v }, 'rs/t', { qos: 0 })
    await sub.client.subscribeAsync('rs/t', { qos: 2 })
    const pub = await connectClient(broker.url, { protocolVersion: v })
    await pub.client.publishAsync('rs/t', 'once', { qos: 2 })
    await sub.waitForMessages(1)
    await pub.client.publishAsync('rs/t', 'marker', { qos: 1 })
    await sub.waitForMessages(2)
    expect(sub.messages.map((m) => [m.payload, m.packet.qos])).toEqual([
      ['once', 2],
      ['marker', 1],
    ])
  })

  it('unsubscribe - stops delivery for that filter only', async () => {
    const broker = await startMqttBroker()
    const sub = await subscriber(broker.url, { protocolVersion: v }, ['us/a', 'us/b'], { qos: 1 })
    const unsuback = await sub.client.unsubscribeAsync('us/a')
    if (v === 5) expect(unsuback).toMatchObject({ cmd: 'unsuback', granted: [0] })
    const pub = await connectClient(broker.url, { protocolVersion: v })
    await pub.client.publishAsync('us/a', 'a', { qos: 1 })
    await pub.client.publishAsync('us/b', 'b', { qos: 1 })
    await sub.waitForMessages(1)
    await pub.client.publishAsync('us/b', 'b2', { qos: 1 })
    await sub.waitForMessages(2)
    expect(sub.payloads()).toEqual(['b', 'b2'])
  })

  it('shared - members of one group share the messages: each gets some, none twice, none lost', async () => {
    const broker = await startMqttBroker()
    const members = await Promise.all(
      range(2).map(() => subscriber(broker.url, { protocolVersion: v }, '$share/g/sh/+', { qos: 1 })),
    )
    const other = await subscriber(broker.url, { protocolVersion: v }, '$share/other/sh/+', { qos: 1 })
    const plain = await subscriber(broker.url, { protocolVersion: v }, 'sh/+', { qos: 1 })
    const pub = await connectClient(broker.url, { protocolVersion: v })
    const count = 40
    await Promise.all(range(count).map((i) => pub.client.publishAsync(`sh/${i % 5}`, String(i), { qos: 1 })))
    await expect.poll(() => members.reduce((n, m) => n + m.messages.length, 0)).toBe(count)
    const got = members.map((m) => m.payloads())
    for (const g of got) expect(g.length).toBeGreaterThan(0)
    expect(got.flat().sort((a, b) => Number(a) - Number(b))).toEqual(range(count).map(String))
    // Each member still sees its share in publish order.
    for (const g of got) expect(g).toEqual([...g].sort((a, b) => Number(a) - Number(b)))
    // Another group and a plain subscription each get every message.
    await other.waitForMessages(count)
    await plain.waitForMessages(count)
    expect(other.payloads()).toEqual(range(count).map(String))
    expect(plain.payloads()).toEqual(range(count).map(String))
  })

  it("shared - a burst larger than every member's window is still delivered in full", async () => {
    // 3.1.1 has no Receive Maximum: the broker's maxInflightOut is the window there.
    const broker = await startMqttBroker(v === 4 ? { options: { maxInflightOut: 2 } } : {})
    const members = await Promise.all(
      range(2).map(() =>
        subscriber(
          broker.url,
          { protocolVersion: v, ...(v === 5 ? { properties: { receiveMaximum: 2 } } : {}) },
          '$share/g/sb/t',
          {
            qos: 1,
          },
        ),
      ),
    )
    const pub = await connectClient(broker.url, { protocolVersion: v })
    const count = 60
    await Promise.all(range(count).map((i) => pub.client.publishAsync('sb/t', String(i), { qos: 1 })))
    await expect.poll(() => members.reduce((n, m) => n + m.messages.length, 0)).toBe(count)
    const got = members.map((m) => m.payloads())
    for (const g of got) expect(g.length).toBeGreaterThan(0)
    expect(got.flat().sort((a, b) => Number(a) - Number(b))).toEqual(range(count).map(String))
    expect(broker.frontEnd.counters.sharedUndelivered).toBe(0)
  })

  it('shared - a persistent member that was offline gets the messages published meanwhile', async () => {
    const broker = await startMqttBroker()
    const clientId = uniqueId('shp')
    const session =
      v === 5
        ? { protocolVersion: v, clientId, properties: { sessionExpiryInterval: 600 } }
        : { protocolVersion: v, clientId, clean: false }
    const member = await subscriber(broker.url, session, '$share/g/so/t', { qos: 1 })
    await member.end()
    const pub = await connectClient(broker.url, { protocolVersion: v })
    for (const i of range(5)) await pub.client.publishAsync('so/t', String(i), { qos: 1 })
    const back = await connectClient(broker.url, { ...session, clean: false })
    await back.waitForMessages(5)
    expect(back.payloads()).toEqual(range(5).map(String))
  })

  it('shared - a member that leaves no longer gets messages; the remaining one gets all', async () => {
    const broker = await startMqttBroker()
    const a = await subscriber(broker.url, { protocolVersion: v }, '$share/g/sl/t', { qos: 1 })
    const b = await subscriber(broker.url, { protocolVersion: v }, '$share/g/sl/t', { qos: 1 })
    await b.end()
    const pub = await connectClient(broker.url, { protocolVersion: v })
    for (const i of range(5)) await pub.client.publishAsync('sl/t', String(i), { qos: 1 })
    await a.waitForMessages(5)
    expect(a.payloads()).toEqual(range(5).map(String))
  })
})

describe('MQTT 5 shared subscriptions', () => {
  it('shared - messages waiting for a member that leaves go to another member', async () => {
    const broker = await startMqttBroker()
    // Two members that hold their PUBACKs, with room for one message each: the rest wait, assigned in turn.
    const held = new Map<string, Array<() => void>>()
    let autoAck = false
    const member = async (name: string) => {
      held.set(name, [])
      const c = await connectClient(broker.url, { protocolVersion: 5, properties: { receiveMaximum: 1 } }, (client) => {
        client.handleMessage = (_packet, callback) => {
          if (autoAck) callback()
          else held.get(name)?.push(() => callback())
        }
      })
      await c.client.subscribeAsync('$share/g/sr/t', { qos: 1 })
      return c
    }
    const a = await member('a')
    const b = await member('b')
    const pub = await connectClient(broker.url, { protocolVersion: 5 })
    await Promise.all(range(6).map((i) => pub.client.publishAsync('sr/t', String(i), { qos: 1 })))
    await expect.poll(() => [a.wire.length, b.wire.length]).toEqual([1, 1])
    // a leaves without acknowledging: its session ends, so the message it was sent goes to b too
    // [MQTT-4.8.2-?], and so does everything not yet handed out.
    await a.drop()
    autoAck = true
    for (const release of held.get('b') ?? []) release()
    await expect.poll(() => [...b.payloads()].sort()).toEqual(range(6).map(String))
  })
})

describe('MQTT 5 shared subscriptions across a restart', () => {
  // A shared group reads the log from its persisted cursor: messages waiting for a member are the log.
  it('shared - messages waiting for an offline persistent member survive a broker restart', async () => {
    const broker = await startMqttBroker()
    const session = {
      protocolVersion: 5 as const,
      clientId: uniqueId('shr'),
      properties: { sessionExpiryInterval: 600 },
    }
    const member = await subscriber(broker.url, session, '$share/g/srs/t', { qos: 1 })
    await member.end()
    let pub = await connectClient(broker.url, { protocolVersion: 5 })
    for (const i of range(3)) await pub.client.publishAsync('srs/t', String(i), { qos: 1 })
    await broker.restart()
    const back = await connectClient(broker.url, { ...session, clean: false })
    pub = await connectClient(broker.url, { protocolVersion: 5 })
    await pub.client.publishAsync('srs/t', 'marker', { qos: 1 })
    await expect.poll(() => back.payloads()).toContain('marker')
    expect(back.payloads()).toEqual(['0', '1', '2', 'marker'])
  })

  it('shared - a member that subscribes again after a restart keeps the messages waiting for it', async () => {
    const broker = await startMqttBroker()
    const session = {
      protocolVersion: 5 as const,
      clientId: uniqueId('shs'),
      properties: { sessionExpiryInterval: 600 },
    }
    const member = await subscriber(broker.url, session, '$share/g/sss/t', { qos: 1 })
    await member.end()
    const pub = await connectClient(broker.url, { protocolVersion: 5 })
    for (const i of range(3)) await pub.client.publishAsync('sss/t', String(i), { qos: 1 })
    await broker.restart()
    // Most clients subscribe again on every connect: the group must not start over at the log end.
    const back = await subscriber(broker.url, { ...session, clean: false }, '$share/g/sss/t', { qos: 1 })
    await back.waitForMessages(3)
    expect(back.payloads()).toEqual(['0', '1', '2'])
  })

  it('shared - subscribing again to the same shared filter keeps the messages waiting in the group', async () => {
    const broker = await startMqttBroker()
    const raw = await rawClient(broker.port, 5)
    raw.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 5,
      clientId: uniqueId('ssa'),
      clean: true,
      keepalive: 30,
      properties: { receiveMaximum: 1 },
    })
    await raw.waitFor((p) => p.cmd === 'connack')
    const subscribe = (messageId: number) =>
      raw.send({ cmd: 'subscribe', messageId, subscriptions: [{ topic: '$share/g/ssa/t', qos: 1 }] })
    subscribe(1)
    await raw.waitFor((p) => p.cmd === 'suback' && p.messageId === 1)
    const pub = await connectClient(broker.url, { protocolVersion: 5 })
    for (const i of range(3)) await pub.client.publishAsync('ssa/t', String(i), { qos: 1 })
    const published = () => raw.packets.filter((p) => p.cmd === 'publish')
    await expect.poll(() => published().length).toBe(1)
    // The only member subscribes again while '1' and '2' wait for its window: the group keeps them.
    subscribe(2)
    await raw.waitFor((p) => p.cmd === 'suback' && p.messageId === 2)
    for (let i = 0; i < 3; i++) {
      await expect.poll(() => published().length).toBeGreaterThan(i)
      raw.send({ cmd: 'puback', messageId: published()[i]?.messageId ?? 0 })
    }
    expect(published().map((p) => String(p.payload))).toEqual(['0', '1', '2'])
  })

  it('shared - a message in flight to a persistent member whose session ends after a restart goes to another member', async () => {
    const broker = await startMqttBroker()
    const persistent = {
      protocolVersion: 5 as const,
      clientId: uniqueId('shx'),
      properties: { sessionExpiryInterval: 600 },
    }
    const a = await connectClient(broker.url, persistent, (client) => {
      client.handleMessage = () => undefined // never acknowledges
    })
    await a.client.subscribeAsync('$share/g/shx/t', { qos: 1 })
    const pub = await connectClient(broker.url, { protocolVersion: 5 })
    await pub.client.publishAsync('shx/t', 'm', { qos: 1 })
    await expect.poll(() => a.wirePayloads()).toEqual(['m'])
    await a.drop()
    await broker.restart()
    const b = await subscriber(broker.url, { protocolVersion: 5 }, '$share/g/shx/t', { qos: 1 })
    // a comes back with a clean start: its session ends, and the message it never acknowledged moves to b.
    await connectClient(broker.url, { ...persistent, clean: true })
    await b.waitForMessages(1)
    expect(b.payloads()).toEqual(['m'])
  })

  it("shared - a group's cursor row goes when its last member leaves", async () => {
    const broker = await startMqttBroker()
    const rows = () => broker.store.database.prepare('SELECT key FROM mqtt_shared_group').pluck().all()
    const member = await subscriber(broker.url, { protocolVersion: 5 }, '$share/g/sgr/t', { qos: 1 })
    await expect.poll(rows).toEqual(['g/sgr/t'])
    await member.client.unsubscribeAsync('$share/g/sgr/t')
    await expect.poll(rows).toEqual([])
  })
})

describe('MQTT 5 UNSUBSCRIBE', () => {
  it('unsubscribe - reason 0x11 for a filter that had no subscription', async () => {
    const broker = await startMqttBroker()
    const sub = await subscriber(broker.url, { protocolVersion: 5 }, 'u5/a', { qos: 1 })
    const unsuback = await sub.client.unsubscribeAsync(['u5/a', 'u5/never'])
    expect(unsuback).toMatchObject({ cmd: 'unsuback', granted: [0x00, 0x11] })
  })

  it('shared - No Local on a shared subscription is a protocol error', async () => {
    const broker = await startMqttBroker()
    const c = await connectClient(broker.url, { protocolVersion: 5 })
    c.client.subscribe('$share/g/nl/t', { qos: 1, nl: true }, () => undefined)
    await c.waitClosed()
    expect(c.disconnects.map((d) => d.reasonCode)).toEqual([0x82])
  })
})
