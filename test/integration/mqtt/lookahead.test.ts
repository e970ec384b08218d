import type { IPublishPacket, Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { startMqttBroker } from '../../helpers/mqtt-broker.ts'
import { connectClient, range, rawClient, rawConnect, uniqueId, versions, type RawClient } from './mqttjs/clients.ts'

// A session keeps messages it cannot send yet in a bounded look-ahead (512 messages) and reads the
// log past it. These tests hold PUBACKs so that both happen, and check what the subscriber gets.

const window = 4
const topics = 3

/** Acknowledges every PUBLISH not yet acknowledged; returns the publishes seen so far, in arrival order. */
function ackAll(sub: RawClient, acked: Set<IPublishPacket>, maxUnacked: { value: number }): IPublishPacket[] {
  const publishes = sub.packets.filter((p: Packet): p is IPublishPacket => p.cmd === 'publish')
  const unacked = publishes.filter((p) => !acked.has(p))
  maxUnacked.value = Math.max(maxUnacked.value, unacked.length)
  for (const p of unacked) {
    acked.add(p)
    sub.send({ cmd: 'puback', messageId: p.messageId as number })
  }
  return publishes
}

function payloadsByTopic(publishes: readonly IPublishPacket[]): Map<string, number[]> {
  const byTopic = new Map<string, number[]>()
  for (const p of publishes) {
    const list = byTopic.get(p.topic) ?? []
    list.push(Number(p.payload.toString()))
    byTopic.set(p.topic, list)
  }
  return byTopic
}

function expectedByTopic(count: number): Map<string, number[]> {
  const byTopic = new Map<string, number[]>()
  for (const i of range(count)) {
    const topic = `la/${i % topics}`
    byTopic.set(topic, [...(byTopic.get(topic) ?? []), i])
  }
  return byTopic
}

async function subscribeRaw(port: number, v: 4 | 5, clientId: string, clean: boolean): Promise<RawClient> {
  const sub = await rawClient(port, v)
  sub.send(rawConnect(v, clientId, { clean }))
  await sub.waitFor((p) => p.cmd === 'connack')
  sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'la/#', qos: 1 }] })
  await sub.waitFor((p) => p.cmd === 'suback')
  return sub
}

describe.each(versions)('MQTT $v look-ahead', ({ v }) => {
  it('look-ahead - a live subscriber with a full window gets every message once, in order, past what the look-ahead holds', async () => {
    const broker = await startMqttBroker({ options: { maxInflightOut: window } })
    const sub = await subscribeRaw(broker.port, v, uniqueId('la'), true)
    const pub = await connectClient(broker.url, { protocolVersion: v })
    const count = 1_300 // more than the look-ahead: the session also reads the log
    await Promise.all(range(count).map((i) => pub.client.publishAsync(`la/${i % topics}`, String(i), { qos: 1 })))
    // Every publish is committed while the subscriber holds its first `window` acks.
    await expect.poll(() => sub.packets.filter((p) => p.cmd === 'publish').length).toBe(window)
    const acked = new Set<IPublishPacket>()
    const maxUnacked = { value: 0 }
    await expect.poll(() => ackAll(sub, acked, maxUnacked).length, { timeout: 20_000, interval: 5 }).toBe(count)
    const publishes = ackAll(sub, acked, maxUnacked)
    expect(payloadsByTopic(publishes)).toEqual(expectedByTopic(count))
    expect(maxUnacked.value).toBeLessThanOrEqual(window)
    expect(publishes.every((p) => p.dup === false)).toBe(true)
  })

  it('look-ahead - a persistent session that drops its connection with messages waiting resumes at the first unacknowledged one', async () => {
    const broker = await startMqttBroker({ options: { maxInflightOut: window } })
    const clientId = uniqueId('lp')
    const first = await subscribeRaw(broker.port, v, clientId, false)
    const pub = await connectClient(broker.url, { protocolVersion: v })
    const count = 60
    await Promise.all(range(count).map((i) => pub.client.publishAsync(`la/${i % topics}`, String(i), { qos: 1 })))
    // Acknowledge the first deliveries, then let the next window arrive and drop the connection unacknowledged.
    const acked = new Set<IPublishPacket>()
    const maxUnacked = { value: 0 }
    await expect.poll(() => ackAll(first, acked, maxUnacked).length).toBe(window)
    await expect.poll(() => first.packets.filter((p) => p.cmd === 'publish').length).toBe(2 * window)
    const before = [...acked]
    // The same client id again takes the session over and closes the first connection [MQTT-3.1.4-3].
    const second = await rawClient(broker.port, v)
    second.send(rawConnect(v, clientId, { clean: false }))
    await second.waitFor((p) => p.cmd === 'connack')
    await first.waitClosed()
    const again = new Set<IPublishPacket>()
    await expect
      .poll(() => ackAll(second, again, maxUnacked).length, { timeout: 20_000, interval: 5 })
      .toBe(count - window)
    const after = ackAll(second, again, maxUnacked)
    // The unacknowledged window is resent (DUP) first, then the rest: nothing lost, nothing twice.
    expect(after.slice(0, window).every((p) => p.dup)).toBe(true)
    expect(payloadsByTopic([...before, ...after])).toEqual(expectedByTopic(count))
  })
})
