import { once } from 'node:events'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import mqtt, { type IClientOptions, type IDisconnectPacket, type IPublishPacket } from 'mqtt'
import { describe, expect, onTestFinished, test } from 'vitest'
import WebSocket from 'ws'
import { RawNativePeer } from '../helpers/raw-native.ts'
import {
  byMsg,
  selfSignedCertificate,
  servedPorts,
  startCairn,
  stopCairn,
  tempDir,
  type Cairn,
} from './cairn-process.ts'

const messageWaitMs = 10_000
// Only the listeners under test are on.
const otherPorts = ['--native', 'off', '--http', 'off']

function serve(dataDir: string, args: string[] = []): Cairn {
  return startCairn(['serve', '--data-dir', dataDir, '--mqtt', '127.0.0.1:0', ...otherPorts, ...args])
}

interface Received {
  topic: string
  payload: string
  retain: boolean
  qos: number
}

/** Connects with MQTT.js (no automatic reconnects) and records every message it receives. */
async function connect(url: string, options: IClientOptions = {}) {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 10_000, ...options })
  onTestFinished(() => {
    client.end(true)
  })
  const received: Received[] = []
  const waiters = new Set<() => void>()
  client.on('message', (topic, payload, packet: IPublishPacket) => {
    received.push({ topic, payload: payload.toString(), retain: packet.retain, qos: packet.qos })
    for (const wake of waiters) wake()
  })
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve())
    client.once('error', reject)
  })
  /** Resolves with the first message (received already or still to come) on `topic`. */
  const nextOn = (topic: string) =>
    new Promise<Received>((resolve, reject) => {
      const check = () => {
        const found = received.find((message) => message.topic === topic)
        if (found === undefined) return
        clearTimeout(timer)
        waiters.delete(check)
        resolve(found)
      }
      // A failure guard, not synchronization: a missing message fails here with what did arrive.
      const timer = setTimeout(() => {
        waiters.delete(check)
        reject(new Error(`no message on ${topic} within ${messageWaitMs} ms; got ${JSON.stringify(received)}`))
      }, messageWaitMs)
      waiters.add(check)
      check()
    })
  return { client, received, nextOn }
}

async function roundTrip(url: string, options: IClientOptions = {}): Promise<void> {
  const { client, nextOn } = await connect(url, options)
  await client.subscribeAsync('sensors/+/temperature', { qos: 1 })
  await client.publishAsync('sensors/kitchen/temperature', '21.5', { qos: 1 })
  expect(await nextOn('sensors/kitchen/temperature')).toEqual({
    topic: 'sensors/kitchen/temperature',
    payload: '21.5',
    retain: false,
    qos: 1,
  })
  await client.endAsync()
}

describe('listeners - MQTT transports', () => {
  test('listeners - MQTT over TCP: publish and subscribe round trip on the logged port', async () => {
    const cairn = serve(join(tempDir(), 'data'))
    const ports = await servedPorts(cairn)
    expect(Object.keys(ports)).toEqual(['mqtt'])
    await roundTrip(`mqtt://127.0.0.1:${ports.mqtt}`)
    await roundTrip(`mqtt://127.0.0.1:${ports.mqtt}`, { protocolVersion: 5 })
    expect(await stopCairn(cairn)).toEqual({ code: 0, signal: null })
  })

  test('listeners - MQTT over TLS with a self-signed certificate', async () => {
    const dir = tempDir()
    const { certFile, keyFile, cert } = selfSignedCertificate(dir)
    const cairn = serve(join(dir, 'data'), ['--mqtt-tls', '127.0.0.1:0', '--tls-cert', certFile, '--tls-key', keyFile])
    const ports = await servedPorts(cairn)
    expect(Object.keys(ports)).toEqual(['mqtt', 'mqttTls'])
    await roundTrip(`mqtts://127.0.0.1:${ports.mqttTls}`, { ca: cert })
    // A client that does not trust the certificate does not get in.
    const untrusting = mqtt.connect(`mqtts://127.0.0.1:${ports.mqttTls}`, { reconnectPeriod: 0 })
    onTestFinished(() => {
      untrusting.end(true)
    })
    const err: NodeJS.ErrnoException = await new Promise<Error>((resolve) => untrusting.once('error', resolve))
    expect(err.code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT')
    expect(await stopCairn(cairn)).toEqual({ code: 0, signal: null })
  })

  test('listeners - MQTT over WebSocket at /mqtt, other paths 404', async () => {
    const cairn = serve(join(tempDir(), 'data'), ['--mqtt-ws', '127.0.0.1:0'])
    const { mqttWs: port } = await servedPorts(cairn)
    await roundTrip(`ws://127.0.0.1:${port}/mqtt`)
    await roundTrip(`ws://127.0.0.1:${port}/mqtt`, { protocolVersion: 5 })

    expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404)
    // The MQTT path without an upgrade says what it wants.
    expect((await fetch(`http://127.0.0.1:${port}/mqtt`)).status).toBe(426)
    expect(await upgrade(`ws://127.0.0.1:${port}/other`, 'mqtt')).toEqual({ status: 404 })
    expect(await upgrade(`ws://127.0.0.1:${port}/mqtt`, 'mqttv3.1')).toEqual({ protocol: 'mqttv3.1' })
    expect(await upgrade(`ws://127.0.0.1:${port}/mqtt`, ['chat', 'mqtt'])).toEqual({ protocol: 'mqtt' })
    expect(await upgrade(`ws://127.0.0.1:${port}/mqtt`, 'chat')).toEqual({ status: 400 })
    expect(await stopCairn(cairn)).toEqual({ code: 0, signal: null })
  })

  test('listeners - one broker behind all three: a message crosses transports', async () => {
    const dir = tempDir()
    const { certFile, keyFile, cert } = selfSignedCertificate(dir)
    const tls = ['--mqtt-tls', '127.0.0.1:0', '--tls-cert', certFile, '--tls-key', keyFile]
    const cairn = serve(join(dir, 'data'), [...tls, '--mqtt-ws', '127.0.0.1:0'])
    const ports = await servedPorts(cairn)

    const viaWs = await connect(`ws://127.0.0.1:${ports.mqttWs}/mqtt`, { protocolVersion: 5 })
    const viaTls = await connect(`mqtts://127.0.0.1:${ports.mqttTls}`, { ca: cert })
    await viaWs.client.subscribeAsync('alerts/#', { qos: 1 })
    await viaTls.client.subscribeAsync('alerts/#', { qos: 1 })
    const viaTcp = await connect(`mqtt://127.0.0.1:${ports.mqtt}`)
    await viaTcp.client.publishAsync('alerts/door', 'open', { qos: 1 })
    expect((await viaWs.nextOn('alerts/door')).payload).toBe('open')
    expect((await viaTls.nextOn('alerts/door')).payload).toBe('open')
    expect(await stopCairn(cairn)).toEqual({ code: 0, signal: null })
  })
})

/** Opens a WebSocket with the given subprotocols: the protocol the server chose, or its refusal status. */
async function upgrade(url: string, protocols: string | string[]): Promise<{ protocol: string } | { status: number }> {
  const ws = new WebSocket(url, protocols)
  onTestFinished(() => ws.terminate())
  return await new Promise((resolve, reject) => {
    ws.on('open', () => {
      resolve({ protocol: ws.protocol })
      ws.close()
    })
    ws.on('unexpected-response', (_request, response) => {
      resolve({ status: response.statusCode ?? 0 })
      response.resume()
    })
    ws.on('error', reject)
  })
}

describe('listeners - shutdown and restart', () => {
  test('serve - SIGTERM disconnects clients with 0x8B, exits 0, and a restart keeps what was acknowledged', async () => {
    const dataDir = join(tempDir(), 'data')
    const first = serve(dataDir)
    const { mqtt: port1 } = await servedPorts(first)
    const url1 = `mqtt://127.0.0.1:${port1}`

    // A persistent session that is away while a message for it is published.
    const away = await connect(url1, { clientId: 'away', clean: false })
    await away.client.subscribeAsync('inbox/away', { qos: 1 })
    await away.client.endAsync()

    const publisher = await connect(url1)
    await publisher.client.publishAsync('status/gateway', 'online', { qos: 1, retain: true })
    await publisher.client.publishAsync('inbox/away', 'while you were out', { qos: 1 })
    await publisher.client.endAsync()

    const watcher = await connect(url1, { protocolVersion: 5 })
    const disconnected = new Promise<IDisconnectPacket>((resolve) => watcher.client.once('disconnect', resolve))

    expect(await stopCairn(first)).toEqual({ code: 0, signal: null })
    const disconnect = await disconnected
    expect(disconnect.reasonCode).toBe(0x8b)
    const milestones = ['shutting down', 'log store closed', 'cairn stopped']
    expect(first.lines.map((line) => line.msg).filter((msg) => milestones.includes(msg ?? ''))).toEqual(milestones)
    expect(first.lines.at(-1)).toMatchObject({ msg: 'cairn stopped' })
    expect(first.stderr()).toBe('')

    const second = serve(dataDir)
    const { mqtt: port2 } = await servedPorts(second)
    const url2 = `mqtt://127.0.0.1:${port2}`
    const newcomer = await connect(url2)
    await newcomer.client.subscribeAsync('status/#', { qos: 1 })
    expect(await newcomer.nextOn('status/gateway')).toEqual({
      topic: 'status/gateway',
      payload: 'online',
      retain: true,
      qos: 1,
    })
    const back = await connect(url2, { clientId: 'away', clean: false })
    expect((await back.nextOn('inbox/away')).payload).toBe('while you were out')
    expect(await stopCairn(second)).toEqual({ code: 0, signal: null })
  })

  test('serve - a listener that cannot bind exits 1 naming the listener and the address', async () => {
    const blocker = createServer()
    blocker.listen(0, '127.0.0.1')
    await once(blocker, 'listening')
    onTestFinished(() => {
      blocker.close()
    })
    const busy = (blocker.address() as AddressInfo).port

    const cairn = serve(join(tempDir(), 'data'), ['--mqtt-ws', `127.0.0.1:${busy}`])
    expect(await cairn.exited).toEqual({ code: 1, signal: null })
    expect(cairn.lines.find((line) => line.level === 60)).toMatchObject({
      msg: `listeners.mqttWs cannot listen on 127.0.0.1:${busy}: the address is already in use (EADDRINUSE)`,
      listener: 'mqttWs',
      address: `127.0.0.1:${busy}`,
    })
    expect(cairn.lines.some(byMsg('listening'))).toBe(false)
    // The store was still closed properly.
    expect(cairn.lines.some(byMsg('log store closed'))).toBe(true)
  })

  test('serve - unreadable TLS files exit 2 naming the field, before anything starts', async () => {
    const dir = tempDir()
    const missing = join(dir, 'missing.pem')
    const cairn = serve(join(dir, 'data'), ['--mqtt-tls', '0', '--tls-cert', missing, '--tls-key', missing])
    expect(await cairn.exited).toEqual({ code: 2, signal: null })
    expect(cairn.stderr()).toContain(`  - tls.certFile: cannot read the file: ENOENT`)
    expect(cairn.stderr()).toContain(`  - tls.keyFile: cannot read the file: ENOENT`)
    expect(cairn.lines).toEqual([])

    const noKey = serve(join(dir, 'data'), ['--mqtt-tls', '0'])
    expect(await noKey.exited).toEqual({ code: 2, signal: null })
    expect(noKey.stderr()).toContain('  - tls.certFile: required when listeners.mqttTls is on')
  })
})

describe('listeners - native and HTTP', () => {
  test('listeners - a record published over MQTT is read over HTTP and the native protocol', async () => {
    const cairn = startCairn([
      'serve',
      '--data-dir',
      join(tempDir(), 'data'),
      '--mqtt',
      '127.0.0.1:0',
      '--native',
      '127.0.0.1:0',
      '--http',
      '127.0.0.1:0',
    ])
    const ports = await servedPorts(cairn)
    expect(Object.keys(ports)).toEqual(['mqtt', 'native', 'http'])
    const publisher = await connect(`mqtt://127.0.0.1:${ports.mqtt}`)
    await publisher.client.publishAsync('sensors/t1', '21.5', { qos: 1 })

    const http = await fetch(`http://127.0.0.1:${ports.http}/api/v1/topics/mqtt/partitions/0/messages?offset=0`)
    expect(http.status).toBe(200)
    const body = (await http.json()) as { messages: Array<{ key: string; value: string }> }
    expect(body.messages.map((m) => [m.key, Buffer.from(m.value, 'base64').toString()])).toEqual([
      ['sensors/t1', '21.5'],
    ])

    const peer = await RawNativePeer.connect(ports.native as number)
    const fetched = await peer.ok<{ partitions: Array<{ records: Array<[bigint, number, Uint8Array, Uint8Array]> }> }>(
      'fetch',
      { partitions: [{ stream: 'mqtt', partition: 0, offset: 0n }] },
    )
    peer.close()
    expect(fetched.partitions[0]?.records.map((r) => Buffer.from(r[3]).toString())).toEqual(['21.5'])
    expect((await fetch(`http://127.0.0.1:${ports.http}/healthz`)).status).toBe(200)
    expect(await stopCairn(cairn)).toEqual({ code: 0, signal: null })
  })
})
