import { execFile } from 'node:child_process'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { connect as netConnect } from 'node:net'
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls'
import { promisify } from 'node:util'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { describe, expect, onTestFinished, test } from 'vitest'
import { certificateIdentityOf } from '../../../src/http/certificate-identity.ts'
import { CairnClient } from '../../../src/client/index.ts'
import { until } from '../../helpers/wait.ts'
import { createPki, issueServer } from './pki.ts'
import { startStack, tlsMaterial } from './gateway-stack.ts'

const run = promisify(execFile)

async function mqttConnect(url: string, options: IClientOptions): Promise<MqttClient> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options })
  onTestFinished(() => {
    client.end(true)
  })
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve())
    client.once('error', reject)
    client.once('close', () => reject(new Error('closed before CONNACK')))
  })
  return client
}

/** Resolves once the TLS handshake completes; rejects with the handshake error. */
function handshake(port: number, options: ConnectionOptions): Promise<{ protocol: string | null; cipher: string }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ...options }, () => {
      const result = { protocol: socket.getProtocol(), cipher: socket.getCipher().name }
      socket.destroy()
      resolve(result)
    })
    socket.once('error', reject)
  })
}

describe('tls - every listener speaks TLS', () => {
  test('tls - mosquitto_pub --cafile publishes over mqttTls and MQTT.js receives it over wss', async () => {
    const pki = createPki()
    const server = issueServer(pki)
    const stack = await startStack({ listeners: ['mqttTls', 'mqttWss'], tls: tlsMaterial(server) })
    const subscriber = await mqttConnect(`wss://localhost:${stack.port('mqttWss')}/mqtt`, { ca: pki.ca })
    await subscriber.subscribeAsync('tls/hello', { qos: 1 })
    const received = new Promise<string>((resolve) =>
      subscriber.on('message', (_t, payload) => resolve(payload.toString())),
    )
    await run('mosquitto_pub', [
      ...['-h', 'localhost', '-p', String(stack.port('mqttTls')), '--cafile', pki.caFile],
      ...['-t', 'tls/hello', '-m', 'over TLS', '-q', '1'],
    ])
    expect(await received).toBe('over TLS')
  })

  test('tls - curl reaches the HTTP API over https, verifying the certificate', async () => {
    const pki = createPki()
    const stack = await startStack({ listeners: ['https'], tls: tlsMaterial(issueServer(pki)) })
    const url = `https://localhost:${stack.port('https')}/healthz`
    const { stdout } = await run('curl', ['-sS', '--cacert', pki.caFile, '-o', '/dev/null', '-w', '%{http_code}', url])
    expect(stdout).toBe('200')
    // Without the CA, curl refuses the certificate: it really is TLS with this certificate.
    await expect(run('curl', ['-sS', '-o', '/dev/null', url])).rejects.toThrow(/certificate/)
  })

  test('tls - the native client produces and consumes over nativeTls', async () => {
    const pki = createPki()
    const stack = await startStack({ listeners: ['nativeTls'], tls: tlsMaterial(issueServer(pki)) })
    const client = new CairnClient({
      host: 'localhost',
      port: stack.port('nativeTls'),
      tls: { ca: pki.ca },
    })
    onTestFinished(() => client.close())
    await client.connect()
    await client.admin().createStream('secure', { partitions: 1 })
    const sent = await client.producer().send('secure', { value: 'sealed' })
    expect(sent.offset).toBe(0n)
    const consumer = client.consumer()
    consumer.assign([{ stream: 'secure', partition: 0, offset: 0n }])
    const records = await consumer.poll()
    expect(records.map((r) => new TextDecoder().decode(r.value ?? new Uint8Array()))).toEqual(['sealed'])
  })

  test('tls - TLS 1.1 and ciphers without forward secrecy or AEAD are refused; TLS 1.3 and 1.2 ECDHE-GCM work', async () => {
    const pki = createPki()
    const stack = await startStack({ listeners: ['mqttTls'], tls: tlsMaterial(issueServer(pki)) })
    const port = stack.port('mqttTls')
    expect(await handshake(port, { ca: pki.ca })).toMatchObject({ protocol: 'TLSv1.3' })
    const tls12 = await handshake(port, { ca: pki.ca, maxVersion: 'TLSv1.2' })
    expect(tls12).toEqual({ protocol: 'TLSv1.2', cipher: 'ECDHE-ECDSA-AES128-GCM-SHA256' })
    const failuresBefore = stack.listeners.counters.tlsHandshakeFailures
    // CBC with SHA-1: the client offers nothing else, the server's list has none of it.
    await expect(
      handshake(port, { ca: pki.ca, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA' }),
    ).rejects.toThrow(/handshake failure|no shared cipher/i)
    await expect(
      handshake(port, { ca: pki.ca, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' }),
    ).rejects.toThrow(/protocol|version/i)
    await until(() => stack.listeners.counters.tlsHandshakeFailures >= failuresBefore + 2, 'server-side failures')
  })

  test('tls - a client that never finishes the handshake is cut after tls.handshakeTimeoutMs', async () => {
    const pki = createPki()
    const stack = await startStack({
      listeners: ['mqttTls'],
      tls: tlsMaterial(issueServer(pki)),
      limits: { tlsHandshakeTimeoutMs: 300 },
    })
    const socket = netConnect(stack.port('mqttTls'), '127.0.0.1')
    socket.on('error', () => undefined)
    const closed = new Promise<number>((resolve) => {
      const startedMs = Date.now()
      socket.once('close', () => resolve(Date.now() - startedMs))
    })
    socket.write(Buffer.from([0x16, 0x03, 0x01])) // the first bytes of a ClientHello, and nothing more
    expect(await closed).toBeGreaterThanOrEqual(250)
    expect(stack.listeners.counters.tlsHandshakeFailures).toBe(1)
  })
})

describe('tls - client certificates (mTLS)', () => {
  test('mtls - required: no certificate or one from another CA gets no connection; a good one is the CN identity', async () => {
    const pki = createPki()
    const stranger = createPki('stranger')
    const device = pki.issue('device-17', '/CN=device-17/O=fleet')
    const forged = stranger.issue('forged', '/CN=device-17')
    const identities: Array<string | undefined> = []
    const stack = await startStack({
      listeners: ['mqttTls'],
      tls: tlsMaterial(issueServer(pki), { clientAuth: 'required', clientCa: pki.ca }),
      authenticate: (request) => {
        identities.push(request.certificateIdentity)
        return { ok: true }
      },
    })
    const port = String(stack.port('mqttTls'))
    const pub = (extra: string[]) =>
      run('mosquitto_pub', ['-h', 'localhost', '-p', port, '--cafile', pki.caFile, '-t', 'm/t', '-m', 'x', ...extra])
    await expect(pub([])).rejects.toThrow()
    await expect(pub(['--cert', forged.certFile, '--key', forged.keyFile])).rejects.toThrow()
    expect(identities).toEqual([])
    await pub(['--cert', device.certFile, '--key', device.keyFile])
    expect(identities).toEqual(['device-17'])
    expect(stack.listeners.counters.tlsHandshakeFailures).toBeGreaterThanOrEqual(2)
  })

  test('mtls - optional: a client without a certificate connects with no identity; SAN identities reach every front end', async () => {
    const pki = createPki()
    const device = pki.issue('device-9', '/CN=ignored', 'DNS:device-9.fleet.example,URI:spiffe://fleet/device-9')
    const stack = await startStack({
      listeners: ['mqttTls', 'mqttWss', 'nativeTls', 'https'],
      tls: tlsMaterial(issueServer(pki), { clientAuth: 'optional', clientCa: pki.ca, identityFrom: 'san-dns' }),
      http: (req: IncomingMessage, res: ServerResponse) => res.end(certificateIdentityOf(req) ?? '(none)'),
    })
    const withCert = { ca: pki.ca, cert: device.cert, key: device.key }

    const anonymous = await mqttConnect(`mqtts://localhost:${stack.port('mqttTls')}`, { ca: pki.ca })
    anonymous.end(true)
    await mqttConnect(`mqtts://localhost:${stack.port('mqttTls')}`, withCert)
    await mqttConnect(`wss://localhost:${stack.port('mqttWss')}/mqtt`, withCert)
    const native = new CairnClient({
      host: 'localhost',
      port: stack.port('nativeTls'),
      tls: withCert,
    })
    onTestFinished(() => native.close())
    await native.connect()
    expect(stack.peers.map((p) => [p.to, p.info.certificateIdentity])).toEqual([
      ['mqtt', undefined],
      ['mqtt', 'device-9.fleet.example'],
      ['mqtt', 'device-9.fleet.example'],
      ['native', 'device-9.fleet.example'],
    ])
    expect(stack.peers.every((p) => p.info.remoteAddress === '127.0.0.1')).toBe(true)

    const https = `https://localhost:${stack.port('https')}/`
    const curl = (extra: string[]) => run('curl', ['-sS', '--cacert', pki.caFile, ...extra, https])
    expect((await curl(['--cert', device.certFile, '--key', device.keyFile])).stdout).toBe('device-9.fleet.example')
    expect((await curl([])).stdout).toBe('(none)')
  })
})

describe('tls - certificate reload', () => {
  test('reload - reloadTls serves the new certificate to new connections; open ones keep theirs', async () => {
    const oldCa = createPki('old')
    const newCa = createPki('new')
    const stack = await startStack({ listeners: ['mqttTls'], tls: tlsMaterial(issueServer(oldCa)) })
    const url = `mqtts://localhost:${stack.port('mqttTls')}`
    const before = await mqttConnect(url, { ca: oldCa.ca })
    await expect(mqttConnect(url, { ca: newCa.ca })).rejects.toThrow(/certificate/)

    stack.listeners.reloadTls(tlsMaterial(issueServer(newCa)))
    await mqttConnect(url, { ca: newCa.ca })
    await expect(mqttConnect(url, { ca: oldCa.ca })).rejects.toThrow(/certificate/)
    // The connection made before the reload is still served.
    await before.publishAsync('still/here', 'yes', { qos: 1 })
  })

  test('reload - material that does not load is refused and the running certificate stays', async () => {
    const pki = createPki()
    const other = createPki('other')
    const server = issueServer(pki)
    const stack = await startStack({ listeners: ['mqttTls'], tls: tlsMaterial(server) })
    const mismatched = tlsMaterial(server, { key: issueServer(other, 'other-server').key })
    expect(() => stack.listeners.reloadTls(mismatched)).toThrow()
    await mqttConnect(`mqtts://localhost:${stack.port('mqttTls')}`, { ca: pki.ca })
  })
})
