import { describe, expect, it } from 'vitest'
import { startMqttBroker } from '../../../helpers/mqtt-broker.ts'
import { connectClient, subscriber, uniqueId, versions, within } from './clients.ts'

describe.each(versions)('MQTT $v $SYS topics', ({ v }) => {
  it('sys - broker statistics are published under $SYS/broker/ and not matched by #', async () => {
    const broker = await startMqttBroker({ options: { sysIntervalMs: 20 } })
    const all = await subscriber(broker.url, { protocolVersion: v }, '#', { qos: 0 })
    const sys = await subscriber(broker.url, { protocolVersion: v }, '$SYS/#', { qos: 0 })
    const topics = (): Set<string> => new Set(sys.messages.map((m) => m.topic))
    await expect
      .poll(() => [...topics()].filter((t) => t === '$SYS/broker/clients/connected' || t === '$SYS/broker/uptime'))
      .toHaveLength(2)
    for (const topic of ['$SYS/broker/messages/received', '$SYS/broker/messages/sent', '$SYS/broker/bytes/received'])
      expect(topics()).toContain(topic)
    // Two clients are connected; the next round says so.
    await expect
      .poll(() => sys.messages.filter((m) => m.topic === '$SYS/broker/clients/connected').at(-1)?.payload)
      .toBe('2')
    const pub = await connectClient(broker.url, { protocolVersion: v })
    await pub.client.publishAsync('plain/marker', 'marker', { qos: 1 })
    await all.waitForMessages(1)
    expect(all.messages.map((m) => m.topic)).toEqual(['plain/marker'])
  })

  it('sys - statistics are retained: a new subscriber gets the current values at once', async () => {
    const broker = await startMqttBroker({ options: { sysIntervalMs: 20 } })
    const first = await subscriber(broker.url, { protocolVersion: v }, '$SYS/broker/clients/connected', { qos: 0 })
    await first.waitForMessages(1)
    const late = await subscriber(broker.url, { protocolVersion: v }, '$SYS/broker/clients/connected', { qos: 0 })
    const [message] = await late.waitForMessages(1)
    expect(message?.packet.retain).toBe(true)
    expect(Number(message?.payload)).toBeGreaterThanOrEqual(1)
  })
})

describe.each(versions)('MQTT $v server shutdown', ({ v }) => {
  it('shutdown - closing the front end disconnects every client', async () => {
    const broker = await startMqttBroker()
    const clients = await Promise.all([1, 2].map(() => connectClient(broker.url, { protocolVersion: v })))
    await broker.frontEnd.close()
    for (const c of clients) {
      await within(c.waitClosed(), 10_000, 'client close at shutdown')
      if (v === 5) expect(c.disconnects.map((d) => d.reasonCode)).toEqual([0x8b])
    }
    expect(broker.frontEnd.connectedCount()).toBe(0)
  })

  it('shutdown - a persistent session and its backlog survive stop and start', async () => {
    const broker = await startMqttBroker()
    const clientId = uniqueId('sd')
    const session =
      v === 5
        ? { protocolVersion: v, clientId, properties: { sessionExpiryInterval: 600 } }
        : { protocolVersion: v, clientId, clean: false }
    const sub = await subscriber(broker.url, session, 'sd/#', { qos: 1 })
    const pub = await connectClient(broker.url, { protocolVersion: v })
    await pub.client.publishAsync('sd/t', 'before', { qos: 1 })
    await sub.waitForMessages(1)
    // Its PUBACK must have reached the broker, or 'before' is (rightly) sent again after the restart.
    await expect.poll(() => broker.frontEnd.sessions.get(clientId)?.inflight.size).toBe(0)
    await broker.restart()
    await within(sub.waitClosed(), 10_000, 'subscriber close at shutdown')
    const pub2 = await connectClient(broker.url, { protocolVersion: v })
    await pub2.client.publishAsync('sd/t', 'while down', { qos: 1 })
    const back = await connectClient(broker.url, { ...session, clean: false })
    expect(back.connack.sessionPresent).toBe(true)
    await back.waitForMessages(1)
    expect(back.payloads()).toEqual(['while down'])
  })
})
