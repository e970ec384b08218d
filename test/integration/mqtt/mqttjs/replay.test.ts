import { describe, expect, it } from 'vitest'
import { FakeClock } from '../../../helpers/fake-clock.ts'
import { startMqttBroker, type MqttBroker } from '../../../helpers/mqtt-broker.ts'
import { connectClient, range, versions, type ProtocolVersion, type TestClient } from './clients.ts'

const hourMs = 3_600_000

/** Subscribes with the replay extension: a user property in v5, a `$replay/<spec>/` prefix in 3.1.1. */
async function replaySubscribe(c: TestClient, v: ProtocolVersion, spec: string, filter: string): Promise<number> {
  const granted =
    v === 5
      ? await c.client.subscribeAsync(filter, { qos: 1, properties: { userProperties: { 'cairn-replay': spec } } })
      : await c.client.subscribeAsync(`$replay/${spec}/${filter}`, { qos: 1 })
  return granted[0]?.qos ?? -1
}

function recordTimestamps(broker: MqttBroker): number[] {
  return broker.store.read('mqtt', 0, 0n, { maxRecords: 10_000 }).records.map((r) => r.timestamp)
}

describe.each(versions)('MQTT $v replay extension', ({ v }) => {
  it('replay - earliest delivers the history, then live messages, with no gap or duplicate at the seam', async () => {
    const broker = await startMqttBroker()
    const pub = await connectClient(broker.url, { protocolVersion: v })
    const total = 400
    for (const i of range(100)) await pub.client.publishAsync(`rp/${i % 3}`, String(i), { qos: 1 })
    // Keep publishing while the replay subscription starts.
    const publishing = (async () => {
      for (const i of range(total - 100)) await pub.client.publishAsync(`rp/${i % 3}`, String(100 + i), { qos: 1 })
    })()
    await pub.client.publishAsync('other/t', 'not matched', { qos: 0 })
    await expect.poll(() => Number(broker.store.latestOffset('mqtt', 0))).toBeGreaterThanOrEqual(150)
    const sub = await connectClient(broker.url, { protocolVersion: v })
    expect(await replaySubscribe(sub, v, 'earliest', 'rp/#')).toBe(1)
    await publishing
    await sub.waitForMessages(total)
    expect(sub.payloads()).toEqual(range(total).map(String))
    await pub.client.publishAsync('rp/after', 'after', { qos: 1 })
    await sub.waitForMessages(total + 1)
    expect(sub.payloads().at(-1)).toBe('after')
    if (v === 5) {
      // The history (records committed before the SUBSCRIBE) carries each record's own timestamp.
      const timestamps = recordTimestamps(broker)
      const first = sub.messages[0]?.packet.properties?.userProperties
      expect(first?.['cairn-timestamp']).toBe(String(timestamps[0]))
      const stamped = sub.messages.filter((m) => m.packet.properties?.userProperties?.['cairn-timestamp'] !== undefined)
      expect(stamped.length).toBeGreaterThanOrEqual(150)
    }
  })

  it('replay - a duration back from now starts at the first record that recent', async () => {
    const clock = new FakeClock()
    const broker = await startMqttBroker({ clock })
    const early = await connectClient(broker.url, { protocolVersion: v })
    for (const i of range(3)) await early.client.publishAsync('rd/t', `old ${i}`, { qos: 1 })
    await early.end()
    clock.advance(2 * hourMs) // (a connection open across the jump would hit its keepalive timeout)
    const pub = await connectClient(broker.url, { protocolVersion: v })
    for (const i of range(3)) await pub.client.publishAsync('rd/t', `new ${i}`, { qos: 1 })
    const sub = await connectClient(broker.url, { protocolVersion: v })
    await replaySubscribe(sub, v, '-1h', 'rd/#')
    await sub.waitForMessages(3)
    await pub.client.publishAsync('rd/t', 'live', { qos: 1 })
    await sub.waitForMessages(4)
    expect(sub.payloads()).toEqual(['new 0', 'new 1', 'new 2', 'live'])
  })

  it('replay - an epoch-milliseconds timestamp starts at the first record at or after it', async () => {
    const clock = new FakeClock()
    const broker = await startMqttBroker({ clock })
    const pub = await connectClient(broker.url, { protocolVersion: v })
    await pub.client.publishAsync('rt/t', 'before', { qos: 1 })
    clock.advance(60_000)
    const from = clock.now()
    await pub.client.publishAsync('rt/t', 'at', { qos: 1 })
    clock.advance(60_000)
    await pub.client.publishAsync('rt/t', 'after', { qos: 1 })
    const sub = await connectClient(broker.url, { protocolVersion: v })
    await replaySubscribe(sub, v, String(from), 'rt/t')
    await sub.waitForMessages(2)
    expect(sub.payloads()).toEqual(['at', 'after'])
    if (v === 5) {
      expect(sub.messages.map((m) => m.packet.properties?.userProperties?.['cairn-timestamp'])).toEqual([
        String(from),
        String(from + 60_000),
      ])
    }
  })

  it('replay - other subscriptions of the session are not delivered again', async () => {
    const broker = await startMqttBroker()
    const pub = await connectClient(broker.url, { protocolVersion: v })
    const sub = await connectClient(broker.url, { protocolVersion: v })
    await sub.client.subscribeAsync('ra/#', { qos: 1 })
    for (const i of range(5)) {
      await pub.client.publishAsync('ra/t', `a${i}`, { qos: 1 })
      await pub.client.publishAsync('rb/t', `b${i}`, { qos: 1 })
    }
    await sub.waitForMessages(5)
    await replaySubscribe(sub, v, 'earliest', 'rb/#')
    await sub.waitForMessages(10)
    await pub.client.publishAsync('ra/t', 'a-live', { qos: 1 })
    await pub.client.publishAsync('rb/t', 'b-live', { qos: 1 })
    await sub.waitForMessages(12)
    expect(sub.payloads()).toEqual([
      ...range(5).map((i) => `a${i}`),
      ...range(5).map((i) => `b${i}`),
      'a-live',
      'b-live',
    ])
  })

  it('replay - an invalid replay spec is refused in the SUBACK', async () => {
    const broker = await startMqttBroker()
    const sub = await connectClient(broker.url, { protocolVersion: v })
    // MQTT.js rejects a SUBACK failure; the code is in the packet it carries.
    await expect(replaySubscribe(sub, v, 'yesterday-ish', 'rx/#')).rejects.toMatchObject({
      packet: { cmd: 'suback', granted: [v === 5 ? 0x83 : 0x80] },
    })
    expect(broker.frontEnd.sessions.get(sub.clientId)?.subscriptions.size).toBe(0)
  })
})

describe('MQTT 3.1.1 replay extension', () => {
  it('replay - a $replay/ filter can be unsubscribed with the same filter', async () => {
    const broker = await startMqttBroker()
    const pub = await connectClient(broker.url, { protocolVersion: 4 })
    await pub.client.publishAsync('ru/t', 'history', { qos: 1 })
    const sub = await connectClient(broker.url, { protocolVersion: 4 })
    await sub.client.subscribeAsync('$replay/earliest/ru/#', { qos: 1 })
    await sub.waitForMessages(1)
    await sub.client.unsubscribeAsync('$replay/earliest/ru/#')
    await sub.client.subscribeAsync('ru/marker', { qos: 1 })
    await pub.client.publishAsync('ru/t', 'not any more', { qos: 1 })
    await pub.client.publishAsync('ru/marker', 'marker', { qos: 1 })
    await sub.waitForMessages(2)
    expect(sub.payloads()).toEqual(['history', 'marker'])
  })
})
