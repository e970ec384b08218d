// The single executable, black box: `npm run build:binary`'s script builds the x64 binary, which is then copied
// alone into an empty directory (no node_modules, no sources, a bare environment) and driven with real
// clients: mosquitto_pub/mosquitto_sub, the native client and HTTP, with the mirror sending to a Kafka mock.
// SIGTERM must give exit code 0, and a restart must find every record.

import { execFile, execFileSync } from 'node:child_process'
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { arch, tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from 'vitest'
import { CairnClient } from '../../src/client/index.ts'
import { byMsg, repoRoot, servedPorts, stopCairn, type Cairn } from '../gateway/cairn-process.ts'
import { kcat, kcatRead, startKafkaMock, type KafkaMock } from '../helpers/kafka-mock.ts'
import { startBinary } from './binary-process.ts'

const run = promisify(execFile)
const buildTimeoutMs = 240_000

describe.runIf(process.platform === 'linux' && arch() === 'x64')('single binary (x64)', () => {
  let workDir: string
  let built: string

  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'cairn-e2e-'))
    // The same script as `npm run build:binary`, into a scratch directory (dist/ stays the developer's).
    await run(process.execPath, ['scripts/build-binary.ts', '--arch', 'x64', '--out', join(workDir, 'dist')], {
      cwd: repoRoot,
      timeout: buildTimeoutMs,
    })
    built = join(workDir, 'dist', 'cairn-linux-x64')
  }, buildTimeoutMs)

  afterAll(() => rmSync(workDir, { recursive: true, force: true }))

  /** An empty directory holding nothing but the binary, named cairn. */
  function installAlone(): { dir: string; binary: string } {
    const dir = mkdtempSync(join(workDir, 'alone-'))
    const binary = join(dir, 'cairn')
    copyFileSync(built, binary)
    chmodSync(binary, 0o755)
    expect(readdirSync(dir)).toEqual(['cairn'])
    return { dir, binary }
  }

  test('single binary - --version runs alone in an empty directory', async () => {
    const { dir, binary } = installAlone()
    const { stdout } = await run(binary, ['--version'], { cwd: dir, env: { PATH: process.env.PATH ?? '' } })
    const { version } = (await import('../../package.json', { with: { type: 'json' } })).default
    expect(stdout).toBe(`cairn ${version}\n`)
  })

  test('single binary - serve with MQTT, native, HTTP and the mirror; SIGTERM exits 0; data survives a restart', async () => {
    const { dir, binary } = installAlone()
    let mock: KafkaMock | undefined
    if (!kcat.skip) {
      mock = await startKafkaMock()
      onTestFinished(() => mock?.stop())
    }
    const config = join(dir, 'cairn.yaml')
    writeFileSync(
      config,
      [
        'dataDir: ./data',
        'listeners:',
        "  mqtt: '127.0.0.1:0'",
        "  native: '127.0.0.1:0'",
        "  http: '127.0.0.1:0'",
        ...(mock === undefined
          ? []
          : ['mirror:', '  gatewayId: e2e', '  links:', `    upstream: { bootstrap: ['${mock.bootstrap}'] }`]),
      ].join('\n') + '\n',
    )

    let cairn = startBinary(binary, ['serve', '--config', config], dir)
    let ports = await servedPorts(cairn)
    const started = await cairn.waitForLine(byMsg('cairn started'))
    expect(started.node).toBe(process.version)

    // MQTT: a message before the subscription and one after it, both delivered in order through replay.
    const mqttPort = String(ports.mqtt)
    await run('mosquitto_pub', ['-p', mqttPort, '-q', '1', '-t', 'e2e/one', '-m', 'first'])
    const subscriber = run('mosquitto_sub', [
      '-p',
      mqttPort,
      '-q',
      '1',
      '-t',
      '$replay/earliest/e2e/#',
      '-C',
      '2',
      '-v',
      '-W',
      '20',
    ])
    await run('mosquitto_pub', ['-p', mqttPort, '-q', '1', '-t', 'e2e/two', '-m', 'second'])
    expect((await subscriber).stdout).toBe('e2e/one first\ne2e/two second\n')

    // Native: a stream of its own, and the MQTT records read back by offset.
    const client = new CairnClient({ port: ports.native ?? 0 })
    try {
      await client.admin().createStream('native-e2e', { partitions: 1 })
      const producer = client.producer()
      const sent = await producer.send('native-e2e', { key: Buffer.from('k'), value: Buffer.from('from-native') })
      expect(sent.offset).toBe(0n)
      await producer.close()
      const consumer = client.consumer()
      consumer.assign([{ stream: 'mqtt', partition: 0, offset: 0n }])
      const values: string[] = []
      await eventually(async () => {
        for (const r of await consumer.poll()) values.push(Buffer.from(r.value ?? []).toString())
        return values.length >= 2
      }, 'the MQTT records over the native protocol')
      expect(values).toEqual(['first', 'second'])
      await consumer.close()
    } finally {
      await client.close()
    }

    // HTTP: what the native client wrote.
    expect(await httpValues(ports.http, 'native-e2e')).toEqual(['from-native'])

    // Mirror: both streams arrive upstream, read back by kcat.
    if (mock !== undefined) {
      const bootstrap = mock.bootstrap
      const upstream = async (topic: string, count: number): Promise<string[]> => {
        let values: string[] = []
        await eventually(async () => {
          // The topic exists once the mirror's first send created it: until then kcat fails.
          const records = await kcatRead(bootstrap, topic, 0, 0).catch(() => [])
          values = records.map((r) => Buffer.from(r.value ?? []).toString())
          return values.length >= count
        }, `${topic} mirrored`)
        return values
      }
      expect(await upstream('e2e.mqtt', 2)).toEqual(['first', 'second'])
      expect(await upstream('e2e.native-e2e', 1)).toEqual(['from-native'])
    }

    expect(await stopCairn(cairn)).toEqual({ code: 0, signal: null })
    expect(cairn.lines.some(byMsg('cairn stopped'))).toBe(true)

    // Restart: the same data directory and the addon extracted last time.
    cairn = startBinary(binary, ['serve', '--config', config], dir)
    ports = await servedPorts(cairn)
    expect(await httpValues(ports.http, 'mqtt')).toEqual(['first', 'second'])
    expect(await httpValues(ports.http, 'native-e2e')).toEqual(['from-native'])
    expect(readdirSync(join(dir, 'data', 'cache')).filter((f) => f.endsWith('.node'))).toHaveLength(1)
    expect(await stopCairn(cairn)).toEqual({ code: 0, signal: null })
  })

  test('single binary - an unusable cache directory stops the start with a clear message', async () => {
    const { dir, binary } = installAlone()
    // A regular file where the directory should be: not creatable, whoever runs the test (root included).
    writeFileSync(join(dir, 'not-a-dir'), '')
    const cairn = startBinary(binary, ['serve', ...anyPorts, '--data-dir', './data'], dir, {
      CAIRN_CACHE_DIR: join(dir, 'not-a-dir', 'cache'),
    })
    expect(await cairn.exited).toEqual({ code: 1, signal: null })
    expect(fatalMessage(cairn)).toMatch(
      /cannot write the SQLite addon to cache directory .*not-a-dir\/cache \(ENOTDIR\)/,
    )
    expect(fatalMessage(cairn)).toContain('CAIRN_CACHE_DIR')
  })

  test('single binary - a cache directory mounted noexec is named as such', async (ctx) => {
    const { dir, binary } = installAlone()
    const mountPoint = join(dir, 'noexec')
    mkdirSync(mountPoint)
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'noexec,size=8m', 'tmpfs', mountPoint], { stdio: 'ignore' })
    } catch {
      ctx.skip('cannot mount a noexec tmpfs here (needs root and CAP_SYS_ADMIN)')
    }
    onTestFinished(() => {
      execFileSync('umount', [mountPoint])
    })
    const cairn = startBinary(binary, ['serve', ...anyPorts, '--data-dir', './data', '--cache-dir', mountPoint], dir)
    expect(await cairn.exited).toEqual({ code: 1, signal: null })
    expect(fatalMessage(cairn)).toMatch(/cannot load the SQLite addon from .*: its file system is mounted noexec/)
  })
})

const anyPorts = ['--mqtt', '127.0.0.1:0', '--native', '127.0.0.1:0', '--http', '127.0.0.1:0']

function fatalMessage(cairn: Cairn): string {
  const fatal = cairn.lines.find((line) => line.level === 60)
  return String(fatal?.msg)
}

async function httpValues(port: number | undefined, stream: string): Promise<string[]> {
  const response = await fetch(`http://127.0.0.1:${port}/api/v1/topics/${stream}/partitions/0/messages?offset=0`)
  expect(response.status).toBe(200)
  const body = (await response.json()) as { messages: { value: string }[] }
  return body.messages.map((m) => Buffer.from(m.value, 'base64').toString())
}

async function eventually(condition: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}
