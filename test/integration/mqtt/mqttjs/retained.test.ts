import { describe, expect, it } from 'vitest'
import { startMqttBroker } from '../../../helpers/mqtt-broker.ts'
import { connectClient, range, subscriber, versions, type TestClient } from './clients.ts'

/** Subscribes and returns the retained messages sent with the SUBACK (all go out in the same turn). */
async function retainedFor(url: string, v: 4 | 5, filter: string): Promise<TestClient> {
  const c = await subscriber(url, { protocolVersion: v }, filter, { qos: 1 })
  // A marker published after SUBACK arrives after every retained message sent with it.
  const marker = `${filter.replace(/[#+]/g, '')}__marker`
  await c.client.subscribeAsync(marker, { qos: 1 })
  await c.client.publishAsync(marker, 'marker', { qos: 1 })
  await expect.poll(() => c.messages.some((m) => m.topic === marker)).toBe(true)
  c.messages.splice(
    c.messages.findIndex((m) => m.topic === marker),
    1,
  )
  return c
}

describe.each(versions)('MQTT $v retained messages', ({ v }) => {
  it('retained - set, replaced and cleared with an empty payload', async () => {
    const broker = await startMqttBroker()
    const pub = await connectClient(broker.url, { protocolVersion: v })
    await pub.client.publishAsync('ret/a', 'first', { qos: 1, retain: true })
    await pub.client.publishAsync('ret/b', 'b', { qos: 0, retain: true })
    let sub = await retainedFor(broker.url, v, 'ret/#')
    expect(sub.messages.map((m) => [m.topic, m.payload, m.packet.retain]).sort()).toEqual([
      ['ret/a', 'first', true],
      ['ret/b', 'b', true],
    ])
    await pub.client.publishAsync('ret/a', 'second', { qos: 1, retain: true })
    sub = await retainedFor(broker.url, v, 'ret/a')
    expect(sub.payloads()).toEqual(['second'])
    await pub.client.publishAsync('ret/a', '', { qos: 1, retain: true })
    sub = await retainedFor(broker.url, v, 'ret/#')
    expect(sub.payloads()).toEqual(['b'])
    // A publish without retain leaves the retained message alone.
    await pub.client.publishAsync('ret/b', 'not kept', { qos: 1 })
    sub = await retainedFor(broker.url, v, 'ret/b')
    expect(sub.payloads()).toEqual(['b'])
  })

  it('retained - delivered at the lower of its QoS and the subscription QoS', async () => {
    const broker = await startMqttBroker()
    const pub = await connectClient(broker.url, { protocolVersion: v })
    await pub.client.publishAsync('rq/t', 'q2', { qos: 2, retain: true })
    const sub = await subscriber(broker.url, { protocolVersion: v }, 'rq/t', { qos: 1 })
    const [message] = await sub.waitForMessages(1)
    expect(message?.packet.qos).toBe(1)
    expect(message?.packet.retain).toBe(true)
  })

  it('retained - survives a broker restart, and a clear survives it too', async () => {
    const broker = await startMqttBroker()
    let pub = await connectClient(broker.url, { protocolVersion: v })
    await pub.client.publishAsync('rr/keep', 'kept', {
      qos: 1,
      retain: true,
      ...(v === 5 ? { properties: { contentType: 'text/plain', userProperties: { k: 'v' } } } : {}),
    })
    await pub.client.publishAsync('rr/gone', 'gone', { qos: 1, retain: true })
    await pub.client.publishAsync('rr/gone', '', { qos: 1, retain: true })
    await broker.restart()
    const sub = await retainedFor(broker.url, v, 'rr/#')
    expect(sub.messages.map((m) => [m.topic, m.payload, m.packet.retain])).toEqual([['rr/keep', 'kept', true]])
    if (v === 5)
      expect(sub.messages[0]?.packet.properties).toMatchObject({
        contentType: 'text/plain',
        userProperties: { k: 'v' },
      })
    pub = await connectClient(broker.url, { protocolVersion: v })
    await pub.client.publishAsync('rr/keep', '', { qos: 1, retain: true })
    await broker.restart()
    expect((await retainedFor(broker.url, v, 'rr/#')).payloads()).toEqual([])
  })

  it("retained - more retained messages than the client's window all arrive", async () => {
    const broker = await startMqttBroker(v === 4 ? { options: { maxInflightOut: 5 } } : {})
    const pub = await connectClient(broker.url, { protocolVersion: v })
    const count = 150
    await Promise.all(
      range(count).map((i) => pub.client.publishAsync(`many/${i}`, String(i), { qos: 1, retain: true })),
    )
    const sub = await subscriber(
      broker.url,
      { protocolVersion: v, ...(v === 5 ? { properties: { receiveMaximum: 5 } } : {}) },
      'many/+',
      { qos: 1 },
    )
    await sub.waitForMessages(count)
    expect(sub.payloads().sort((x, y) => Number(x) - Number(y))).toEqual(range(count).map(String))
    // A live message on one of the topics comes after that topic's retained copy, never before it.
    await pub.client.publishAsync('many/0', 'live', { qos: 1 })
    await sub.waitForMessages(count + 1)
    expect(sub.payloads().at(-1)).toBe('live')
  })

  it('retained - not sent for a shared subscription', async () => {
    const broker = await startMqttBroker()
    const pub = await connectClient(broker.url, { protocolVersion: v })
    await pub.client.publishAsync('rsh/t', 'retained', { qos: 1, retain: true })
    const sub = await subscriber(broker.url, { protocolVersion: v }, '$share/g/rsh/t', { qos: 1 })
    await pub.client.publishAsync('rsh/t', 'live', { qos: 1 })
    await sub.waitForMessages(1)
    expect(sub.payloads()).toEqual(['live'])
  })
})

describe('MQTT 5 retain handling', () => {
  it.each([
    { rh: 0, first: ['r'], again: ['r'] },
    { rh: 1, first: ['r'], again: [] },
    { rh: 2, first: [], again: [] },
  ] as Array<{ rh: 0 | 1 | 2; first: string[]; again: string[] }>)(
    'retain handling - $rh: retained sent at subscribe $first, on resubscribe $again',
    async ({ rh, first, again }) => {
      const broker = await startMqttBroker()
      const pub = await connectClient(broker.url, { protocolVersion: 5 })
      await pub.client.publishAsync('rh/t', 'r', { qos: 1, retain: true })
      const sub = await connectClient(broker.url, { protocolVersion: 5 })
      const subscribeAndMark = async (marker: string): Promise<string[]> => {
        const before = sub.messages.length
        await sub.client.subscribeAsync('rh/t', { qos: 1, rh })
        // A non-retained marker on the same topic follows anything sent with the SUBACK.
        await pub.client.publishAsync('rh/t', marker, { qos: 1 })
        await expect.poll(() => sub.payloads().includes(marker)).toBe(true)
        return sub.payloads().slice(before, -1)
      }
      expect(await subscribeAndMark('m1')).toEqual(first)
      expect(await subscribeAndMark('m2')).toEqual(again)
    },
  )
})
