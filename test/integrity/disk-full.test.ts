// Disk full, for real: the gateway process keeps its data on a 4 MiB tmpfs that this test mounts (root
// only). A filler file leaves a little room; MQTT 5 QoS 1 publishes then fill it until PUBACK 0x97
// (quota exceeded) comes back. Checked: the broker keeps running and says why in its log, native and
// HTTP produces get CAIRN_STORAGE_FULL, every PUBACKed message is still readable, and once the filler is
// deleted publishes succeed again without a restart, and a clean shutdown keeps everything.
//
// Where tmpfs cannot be mounted (not root, no CAP_SYS_ADMIN in the container) the test is skipped and
// says so; test/integrity/disk-full-injected.test.ts covers the same refusals with SQLite's own limit.
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import { describe, expect, onTestFinished, test } from 'vitest'
import { servedPorts, startCairn, stopCairn } from '../gateway/cairn-process.ts'
import { RawNativePeer } from '../helpers/raw-native.ts'

const fsBytes = 4 * 1024 * 1024
/** Room left beside the filler: a few hundred publishes' worth, so the test stays quick. */
const headroomBytes = 768 * 1024
const payloadBytes = 2048

/** Mounts a tmpfs of `fsBytes`, or says why it cannot. */
function mountTinyFs(): { dir: string } | { skip: string } {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-disk-full-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${fsBytes}`, 'tmpfs', dir], { stdio: 'pipe' })
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    const reason = (error as { stderr?: Buffer }).stderr?.toString().trim() || String(error)
    return { skip: `cannot mount a tmpfs here (${reason})` }
  }
  onTestFinished(() => {
    try {
      execFileSync('umount', [dir], { stdio: 'pipe' })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
  return { dir }
}

const tiny = process.getuid?.() === 0 ? undefined : 'not running as root: cannot mount a tmpfs'
if (tiny !== undefined) console.log(`[disk-full] skipped: ${tiny}`)

type PublishOutcome = { ok: true } | { ok: false; reasonCode: number | undefined; message: string }

function publish(client: MqttClient, topic: string, payload: Buffer): Promise<PublishOutcome> {
  return new Promise((resolve) => {
    client.publish(topic, payload, { qos: 1 }, (error) => {
      if (error === undefined || error === null) resolve({ ok: true })
      else resolve({ ok: false, reasonCode: (error as { code?: number }).code, message: error.message })
    })
  })
}

async function readAll(httpPort: number): Promise<Map<string, string>> {
  const seen = new Map<string, string>()
  let offset = 0
  for (;;) {
    const response = await fetch(
      `http://127.0.0.1:${httpPort}/api/v1/topics/mqtt/partitions/0/messages?offset=${offset}&limit=1000`,
    )
    expect(response.status).toBe(200)
    const { messages, next_offset } = (await response.json()) as {
      messages: Array<{ key: string | null; value: string }>
      next_offset: number
    }
    for (const m of messages) {
      const value = Buffer.from(m.value, 'base64')
      seen.set(m.key ?? '', value.subarray(0, 16).toString('latin1'))
    }
    if (messages.length === 0 || next_offset === offset) return seen
    offset = next_offset
  }
}

describe.skipIf(tiny !== undefined)('disk full on a real tiny file system', () => {
  test('disk full - refusals with 0x97 and clear errors, nothing acknowledged lost, recovery without restart', async (ctx) => {
    const mounted = mountTinyFs()
    if ('skip' in mounted) {
      console.log(`[disk-full] skipped: ${mounted.skip}`)
      ctx.skip(mounted.skip)
      return
    }
    const dataDir = join(mounted.dir, 'data')
    mkdirSync(dataDir)
    const cairn = startCairn(
      ['serve', '--data-dir', dataDir, '--mqtt', '127.0.0.1:0', '--native', '127.0.0.1:0', '--http', '127.0.0.1:0'],
      { CAIRN_LOG_LEVEL: 'info' },
    )
    const ports = await servedPorts(cairn)
    const [mqttPort, nativePort, httpPort] = [ports.mqtt, ports.native, ports.http] as [number, number, number]

    // The filler takes everything but the headroom (tmpfs allocates page by page, so this is exact enough).
    const { bavail, bsize } = statfsSync(mounted.dir)
    const filler = join(mounted.dir, 'filler')
    writeFileSync(filler, Buffer.alloc(Math.max(0, bavail * bsize - headroomBytes)))

    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, {
      protocolVersion: 5,
      clientId: 'disk-full',
      reconnectPeriod: 0,
    })
    onTestFinished(() => void client.end(true))
    const acknowledged: string[] = []
    let refused: PublishOutcome | undefined
    const payload = Buffer.alloc(payloadBytes, 0x61)
    for (let n = 0; n < 2000 && refused === undefined; n++) {
      const topic = `fill/${n}`
      payload.write(`n${String(n).padStart(8, '0')}`, 0, 'latin1')
      const outcome = await publish(client, topic, payload)
      if (outcome.ok) acknowledged.push(topic)
      else refused = outcome
    }
    expect(refused, 'publishes are refused before 2000 of them fit in the headroom').toBeDefined()
    expect(refused).toMatchObject({ ok: false, reasonCode: 0x97 })
    expect(acknowledged.length).toBeGreaterThan(10)
    console.log(`[disk-full] tmpfs: ${acknowledged.length} publishes of ${payloadBytes} B acknowledged, then 0x97`)
    // Said in the log, at warn or above, with the reason; and the process is still alive.
    const logged = await cairn.waitForLine(
      (line) => (line.level ?? 0) >= 40 && JSON.stringify(line).includes('CAIRN_STORAGE_FULL'),
    )
    expect(JSON.stringify(logged)).toMatch(/disk full|no space|SQLITE_FULL/i)
    console.log(`[disk-full] logged: ${JSON.stringify(logged).slice(0, 400)}`)
    expect(cairn.child.exitCode).toBeNull()
    expect(client.connected).toBe(true)

    // The other front ends refuse too, each in its own words.
    const peer = await RawNativePeer.connect(nativePort)
    onTestFinished(() => void peer.socket.destroy())
    const produced = await peer.call('produce', {
      acks: -1,
      batches: [{ stream: 'mqtt', partition: 0, records: [{ value: Buffer.alloc(64 * 1024) }] }],
    })
    const result = (produced.body as { results?: Array<{ error?: { code: string } }> } | undefined)?.results?.[0]
    expect(produced.error?.code ?? result?.error?.code, JSON.stringify(produced)).toBe('CAIRN_STORAGE_FULL')
    const posted = await fetch(`http://127.0.0.1:${httpPort}/api/v1/topics/mqtt/messages`, {
      method: 'POST',
      body: Buffer.alloc(64 * 1024),
    })
    expect(posted.status).toBe(507)
    expect(((await posted.json()) as { error: { code: string } }).error.code).toBe('CAIRN_STORAGE_FULL')

    // Every PUBACKed message is readable while the disk is full.
    const whileFull = await readAll(httpPort)
    for (const topic of acknowledged) expect(whileFull.has(topic), `${topic} readable`).toBe(true)

    // Space returns: publishes succeed again, with no restart.
    rmSync(filler)
    let recovered = false
    for (let attempt = 0; attempt < 200 && !recovered; attempt++) {
      const outcome = await publish(client, 'after/space', Buffer.from('back'))
      recovered = outcome.ok
      if (!recovered) await new Promise((resolve) => setTimeout(resolve, 50))
    }
    expect(recovered, 'a publish succeeds once space returns').toBe(true)
    for (let n = 0; n < 50; n++) expect(await publish(client, `after/${n}`, payload)).toEqual({ ok: true })

    // A clean shutdown keeps everything, and a restart serves it.
    await client.endAsync()
    expect(await stopCairn(cairn)).toEqual({ code: 0, signal: null })
    const again = startCairn([
      'serve',
      '--data-dir',
      dataDir,
      '--mqtt',
      'off',
      '--native',
      'off',
      '--http',
      '127.0.0.1:0',
    ])
    const againPorts = await servedPorts(again)
    const afterRestart = await readAll(againPorts.http as number)
    for (const topic of [...acknowledged, 'after/space', 'after/49'])
      expect(afterRestart.has(topic), `${topic} after restart`).toBe(true)
    expect(await stopCairn(again)).toEqual({ code: 0, signal: null })
  }, 60_000)
})
