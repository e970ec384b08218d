import { describe, expect, it } from 'vitest'
import { FakeClock } from '../../../helpers/fake-clock.ts'
import { startMqttBroker, type MqttBroker } from '../../../helpers/mqtt-broker.ts'
import { connectClient, subscriber, uniqueId, versions, type TestClient } from './clients.ts'

/** Publishes a marker on `topic` and waits for it: whatever the watcher got before it is settled. */
async function settle(broker: MqttBroker, watcher: TestClient, topic: string): Promise<string[]> {
  const pub = await connectClient(broker.url, { protocolVersion: 5 })
  await pub.client.publishAsync(topic, 'marker', { qos: 1 })
  await expect.poll(() => watcher.payloads().includes('marker')).toBe(true)
  await pub.end()
  return watcher.payloads().filter((p) => p !== 'marker')
}

describe.each(versions)('MQTT $v will', ({ v }) => {
  it('will - published when the connection drops without DISCONNECT', async () => {
    const broker = await startMqttBroker()
    const watcher = await subscriber(broker.url, { protocolVersion: v }, 'will/#', { qos: 1 })
    const c = await connectClient(broker.url, {
      protocolVersion: v,
      will: { topic: 'will/dropped', payload: Buffer.from('gone'), qos: 1, retain: false },
    })
    await c.drop()
    const [message] = await watcher.waitForMessages(1)
    expect([message?.topic, message?.payload, message?.packet.qos]).toEqual(['will/dropped', 'gone', 1])
  })

  it('will - not published after a normal DISCONNECT', async () => {
    const broker = await startMqttBroker()
    const watcher = await subscriber(broker.url, { protocolVersion: v }, 'will/#', { qos: 1 })
    const c = await connectClient(broker.url, {
      protocolVersion: v,
      will: { topic: 'will/normal', payload: Buffer.from('gone'), qos: 1, retain: false },
    })
    await c.end()
    await expect.poll(() => broker.frontEnd.connectedCount()).toBe(1)
    expect(await settle(broker, watcher, 'will/marker')).toEqual([])
  })

  it('will - a retained will becomes the retained message of its topic', async () => {
    const broker = await startMqttBroker()
    const c = await connectClient(broker.url, {
      protocolVersion: v,
      will: { topic: 'will/status', payload: Buffer.from('offline'), qos: 1, retain: true },
    })
    await c.drop()
    await expect.poll(() => broker.store.latestOffset('mqtt', 0)).toBe(1n)
    const late = await subscriber(broker.url, { protocolVersion: v }, 'will/status', { qos: 1 })
    const [message] = await late.waitForMessages(1)
    expect([message?.payload, message?.packet.retain]).toEqual(['offline', true])
  })

  it('will - a connection taken over by the same client id publishes its will', async () => {
    const broker = await startMqttBroker()
    const watcher = await subscriber(broker.url, { protocolVersion: v }, 'will/#', { qos: 1 })
    const clientId = uniqueId('wt')
    const first = await connectClient(broker.url, {
      protocolVersion: v,
      clientId,
      will: { topic: 'will/takeover', payload: Buffer.from('first'), qos: 1, retain: false },
    })
    await connectClient(broker.url, { protocolVersion: v, clientId })
    await first.waitClosed()
    const [message] = await watcher.waitForMessages(1)
    expect(message?.payload).toBe('first')
  })
})

describe('MQTT 5 will', () => {
  it('will - DISCONNECT with reason 0x04 asks for the will', async () => {
    const broker = await startMqttBroker()
    const watcher = await subscriber(broker.url, { protocolVersion: 5 }, 'will/#', { qos: 1 })
    const c = await connectClient(broker.url, {
      protocolVersion: 5,
      will: { topic: 'will/asked', payload: Buffer.from('asked'), qos: 1, retain: false },
    })
    await c.client.endAsync(false, { reasonCode: 0x04 })
    const [message] = await watcher.waitForMessages(1)
    expect(message?.payload).toBe('asked')
  })

  it('will delay - the will is published once the delay has passed', async () => {
    const clock = new FakeClock()
    const broker = await startMqttBroker({ clock })
    const watcher = await subscriber(broker.url, { protocolVersion: 5 }, 'wd/#', { qos: 1 })
    const c = await connectClient(broker.url, {
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 300 },
      will: {
        topic: 'wd/t',
        payload: Buffer.from('late'),
        qos: 1,
        retain: false,
        properties: { willDelayInterval: 30, contentType: 'text/plain' },
      },
    })
    await c.drop()
    await expect.poll(() => broker.frontEnd.connectedCount()).toBe(1)
    clock.advance(29_000)
    expect(await settle(broker, watcher, 'wd/marker')).toEqual([])
    clock.advance(1_000)
    await expect.poll(() => watcher.payloads()).toContain('late')
    expect(watcher.messages.find((m) => m.payload === 'late')?.packet.properties?.contentType).toBe('text/plain')
  })

  it('will delay - a reconnect within the delay cancels the will', async () => {
    const clock = new FakeClock()
    const broker = await startMqttBroker({ clock })
    const watcher = await subscriber(broker.url, { protocolVersion: 5 }, 'wc/#', { qos: 1 })
    const clientId = uniqueId('wc')
    const options = {
      protocolVersion: 5 as const,
      clientId,
      properties: { sessionExpiryInterval: 300 },
      will: {
        topic: 'wc/t',
        payload: Buffer.from('cancelled'),
        qos: 1 as const,
        retain: false,
        properties: { willDelayInterval: 30 },
      },
    }
    const c = await connectClient(broker.url, options)
    await c.drop()
    await expect.poll(() => broker.frontEnd.connectedCount()).toBe(1)
    clock.advance(10_000)
    const back = await connectClient(broker.url, { ...options, clean: false })
    expect(back.connack.sessionPresent).toBe(true)
    clock.advance(60_000)
    expect(await settle(broker, watcher, 'wc/marker')).toEqual([])
  })

  it('will delay - a session that expires before the delay publishes the will when it ends', async () => {
    const clock = new FakeClock()
    const broker = await startMqttBroker({ clock })
    const watcher = await subscriber(broker.url, { protocolVersion: 5 }, 'we/#', { qos: 1 })
    const c = await connectClient(broker.url, {
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 5 },
      will: {
        topic: 'we/t',
        payload: Buffer.from('expired'),
        qos: 1,
        retain: false,
        properties: { willDelayInterval: 60 },
      },
    })
    await c.drop()
    await expect.poll(() => broker.frontEnd.connectedCount()).toBe(1)
    clock.advance(5_000)
    await expect.poll(() => watcher.payloads()).toEqual(['expired'])
  })
})
