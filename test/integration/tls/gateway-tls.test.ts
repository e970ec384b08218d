import { execFile } from 'node:child_process'
import { copyFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, onTestFinished, test } from 'vitest'
import { CairnClient } from '../../../src/client/index.ts'
import { byMsg, servedPorts, startCairn, stopCairn, tempDir } from '../../gateway/cairn-process.ts'
import { createPki, issueServer, type Issued } from './pki.ts'

const run = promisify(execFile)

describe('gateway - TLS from the config file', () => {
  test('gateway - every TLS listener serves the configured certificate, with mTLS; SIGHUP swaps the certificate', async () => {
    const dir = tempDir()
    const oldCa = createPki('old')
    const newCa = createPki('new')
    const device = oldCa.issue('device', '/CN=device-3')
    const certFile = join(dir, 'server.crt')
    const keyFile = join(dir, 'server.key')
    const install = (issued: Issued) => {
      copyFileSync(issued.certFile, certFile)
      copyFileSync(issued.keyFile, keyFile)
    }
    install(issueServer(oldCa))
    // Client certificates are verified against the old CA throughout; only the server certificate changes.
    const config = join(dir, 'cairn.yaml')
    writeFileSync(
      config,
      [
        `dataDir: ${join(dir, 'data')}`,
        'listeners:',
        ...['mqtt', 'native', 'http'].map((name) => `  ${name}: null`),
        ...['mqttTls', 'mqttWss', 'nativeTls', 'https'].map((name) => `  ${name}: "127.0.0.1:0"`),
        'tls:',
        `  certFile: ${certFile}`,
        `  keyFile: ${keyFile}`,
        '  clientAuth: optional',
        `  clientCaFile: ${oldCa.caFile}`,
        'limits:',
        '  maxConnections: 50',
        '',
      ].join('\n'),
    )
    const cairn = startCairn(['serve', '-c', config])
    const ports = await servedPorts(cairn)
    expect(Object.keys(ports).sort()).toEqual(['https', 'mqttTls', 'mqttWss', 'nativeTls'])

    const curl = (ca: string) =>
      run('curl', [
        '-sS',
        '--cacert',
        ca,
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        `https://localhost:${ports.https}/healthz`,
      ])
    const publish = (ca: string) =>
      run('mosquitto_pub', [
        ...['-h', 'localhost', '-p', String(ports.mqttTls), '--cafile', ca],
        ...['--cert', device.certFile, '--key', device.keyFile, '-t', 'gw/tls', '-m', 'hi', '-q', '1'],
      ])
    const nativeHello = async (ca: Buffer) => {
      const client = new CairnClient({
        host: 'localhost',
        port: Number(ports.nativeTls),
        tls: { ca },
        connectTimeoutMs: 5000,
      })
      onTestFinished(() => client.close())
      await client.connect()
      await client.close()
    }

    expect((await curl(oldCa.caFile)).stdout).toBe('200')
    await publish(oldCa.caFile)
    await nativeHello(oldCa.ca)

    install(issueServer(newCa, 'server-new'))
    cairn.child.kill('SIGHUP')
    await cairn.waitForLine(byMsg('configuration reloaded: nothing changed'))
    expect((await curl(newCa.caFile)).stdout).toBe('200')
    await expect(curl(oldCa.caFile)).rejects.toThrow(/certificate/)
    await publish(newCa.caFile)
    await nativeHello(newCa.ca)

    expect((await stopCairn(cairn)).code).toBe(0)
  })
})
