import mqttPacket from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import type { AuthRequest } from '../../../../src/mqtt/mqtt-front-end.ts'
import { FakeClock } from '../../../helpers/fake-clock.ts'
import { startMqttBroker } from '../../../helpers/mqtt-broker.ts'
import { connectClient, connectRefused, rawClient, rawConnect, uniqueId, versions, within } from './clients.ts'

describe.each(versions)('MQTT $v CONNECT', ({ v }) => {
  it('connect - a new client is accepted without a session present', async () => {
    const broker = await startMqttBroker()
    const c = await connectClient(broker.url, { protocolVersion: v })
    expect(c.connack.sessionPresent).toBe(false)
    if (v === 5) expect(c.connack.reasonCode).toBe(0)
    else expect(c.connack.returnCode).toBe(0)
    expect(broker.frontEnd.connectedCount()).toBe(1)
    await c.end()
    await expect.poll(() => broker.frontEnd.connectedCount()).toBe(0)
  })

  it('connect - session present is set when a persistent session is resumed', async () => {
    const broker = await startMqttBroker()
    const clientId = uniqueId()
    const persistent =
      v === 5
        ? { protocolVersion: v, clientId, clean: true, properties: { sessionExpiryInterval: 300 } }
        : { protocolVersion: v, clientId, clean: false }
    const first = await connectClient(broker.url, persistent)
    expect(first.connack.sessionPresent).toBe(false)
    await first.end()
    const resumed = await connectClient(broker.url, v === 5 ? { ...persistent, clean: false } : persistent)
    expect(resumed.connack.sessionPresent).toBe(true)
    await resumed.end()
    // Clean start discards it: no session present.
    const fresh = await connectClient(broker.url, { ...persistent, clean: true })
    expect(fresh.connack.sessionPresent).toBe(false)
  })

  it('connect - an empty client id gets a generated one with clean session', async () => {
    const broker = await startMqttBroker()
    const c = await connectClient(broker.url, { protocolVersion: v, clientId: '', clean: true })
    if (v === 5) {
      const assigned = c.connack.properties?.assignedClientIdentifier
      expect(assigned).toMatch(/^cairn-/)
      expect(broker.frontEnd.sessions.has(assigned as string)).toBe(true)
    } else {
      expect(c.connack.returnCode).toBe(0)
      expect(broker.frontEnd.sessions.size).toBe(1)
    }
  })

  it('connect - the authenticate hook sees the credentials and can refuse them', async () => {
    const requests: AuthRequest[] = []
    const broker = await startMqttBroker({
      authenticate: (request) => {
        requests.push(request)
        if (request.username === 'good') return { ok: true }
        return { ok: false, reason: request.username === 'bad' ? 'bad-credentials' : 'not-authorized' }
      },
    })
    const badCredentials = await connectRefused(broker.url, { protocolVersion: v, username: 'bad', password: 'x' })
    expect(badCredentials).toBe(v === 5 ? 0x86 : 4)
    const notAuthorized = await connectRefused(broker.url, { protocolVersion: v, username: 'other', password: 'x' })
    expect(notAuthorized).toBe(v === 5 ? 0x87 : 5)
    const ok = await connectClient(broker.url, { protocolVersion: v, username: 'good', password: 'secret' })
    expect(ok.connack.sessionPresent).toBe(false)
    expect(requests.at(-1)).toMatchObject({ clientId: ok.clientId, username: 'good', remoteAddress: '127.0.0.1' })
    expect(requests.at(-1)?.password?.toString()).toBe('secret')
    expect(broker.frontEnd.connectedCount()).toBe(1)
  })

  it('takeover - a second connection with the same client id closes the first', async () => {
    const broker = await startMqttBroker()
    const clientId = uniqueId()
    const first = await connectClient(broker.url, { protocolVersion: v, clientId })
    const second = await connectClient(broker.url, { protocolVersion: v, clientId })
    await within(first.waitClosed(), 10_000, 'first connection close')
    if (v === 5) expect(first.disconnects.map((d) => d.reasonCode)).toEqual([0x8e])
    expect(second.closed).toBe(false)
    expect(broker.frontEnd.connectedCount()).toBe(1)
    // The second connection works.
    await second.client.subscribeAsync('takeover/t', { qos: 1 })
    await second.client.publishAsync('takeover/t', 'still here', { qos: 1 })
    expect((await second.waitForMessages(1))[0]?.payload).toBe('still here')
  })
})

describe.each(versions)('MQTT $v keepalive', ({ v }) => {
  it('keepalive - a connection silent for 1.5 keepalive periods is closed; any packet resets the timer', async () => {
    const clock = new FakeClock()
    const broker = await startMqttBroker({ clock })
    const raw = await rawClient(broker.port, v)
    raw.send(rawConnect(v, uniqueId('ka'), { clean: true, keepalive: 10 }))
    await raw.waitFor((p) => p.cmd === 'connack')
    clock.advance(14_000)
    raw.send({ cmd: 'pingreq' })
    await raw.waitFor((p) => p.cmd === 'pingresp')
    clock.advance(14_000)
    expect(raw.closed).toBe(false)
    clock.advance(1_000)
    await within(raw.waitClosed(), 10_000, 'close after keepalive timeout')
    if (v === 5) expect(raw.packets.find((p) => p.cmd === 'disconnect')).toMatchObject({ reasonCode: 0x8d })
  })
})

describe('MQTT 3.1.1 CONNECT', () => {
  it('connect - an empty client id with clean session 0 is refused with return code 2', async () => {
    const broker = await startMqttBroker()
    // Neither MQTT.js nor mqtt-packet will build this CONNECT: take a clean one and clear the flag.
    const raw = await rawClient(broker.port, 4)
    const bytes = mqttPacket.generate({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clientId: '',
      clean: true,
      keepalive: 30,
    })
    expect(bytes.subarray(2, 9).toString('latin1')).toBe('\x00\x04MQTT\x04') // fixed header, name, level, then flags
    bytes[9] = (bytes[9] as number) & ~0x02
    raw.sendBytes(bytes)
    const connack = await raw.waitFor((p) => p.cmd === 'connack')
    expect(connack).toMatchObject({ cmd: 'connack', returnCode: 2, sessionPresent: false })
    await within(raw.waitClosed(), 10_000, 'close after refusal')
    expect(broker.frontEnd.sessions.size).toBe(0)
  })
})

describe('MQTT 5 CONNECT', () => {
  it('keepalive - 0 is answered with the Server Keep Alive cap', async () => {
    const broker = await startMqttBroker({ options: { maxKeepaliveSec: 120 } })
    const c = await connectClient(broker.url, { protocolVersion: 5, keepalive: 0 })
    expect(c.connack.properties?.serverKeepAlive).toBe(120)
  })

  it('keepalive - above the cap is answered with the cap', async () => {
    const broker = await startMqttBroker({ options: { maxKeepaliveSec: 120 } })
    const c = await connectClient(broker.url, { protocolVersion: 5, keepalive: 600 })
    expect(c.connack.properties?.serverKeepAlive).toBe(120)
  })

  it('keepalive - within the cap is accepted without Server Keep Alive', async () => {
    const broker = await startMqttBroker({ options: { maxKeepaliveSec: 120 } })
    const c = await connectClient(broker.url, { protocolVersion: 5, keepalive: 60 })
    expect(c.connack.properties?.serverKeepAlive).toBeUndefined()
  })

  it('connack - announces the broker limits and features', async () => {
    const broker = await startMqttBroker({ options: { maxPacketBytes: 4096, receiveMaximum: 7, topicAliasMaximum: 3 } })
    const c = await connectClient(broker.url, { protocolVersion: 5 })
    expect(c.connack.properties).toMatchObject({
      maximumPacketSize: 4096,
      receiveMaximum: 7,
      topicAliasMaximum: 3,
      retainAvailable: true,
      wildcardSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: true,
      sharedSubscriptionAvailable: true,
    })
  })
})
