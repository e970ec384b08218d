// The device examples that can run here, against the real gateway process, checked by reading the log
// back: the shell sensor (mosquitto_pub, run by dash) and the Python sensor (Debian's paho-mqtt 1.6).
// The MicroPython and ESP-IDF examples need their hardware; device/README.md says so.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { checkArrivals, decodePayload } from '../../device/simulator/index.ts'
import { repoRoot, tempDir } from '../gateway/cairn-process.ts'
import { startFaultProxy } from '../helpers/fault-proxy.ts'
import { freePort, until } from '../helpers/wait.ts'
import { findOnPath, findPythonWithPaho, startClient, toolCheck } from '../integration/mqtt/clients/client-process.ts'
import { readStored, reportForDevice, startGateway } from './gateway.ts'

const examples = join(repoRoot, 'device', 'examples')
const mosquittoPub = findOnPath('mosquitto_pub')
const shell = findOnPath('sh')
const python = findPythonWithPaho()
const shellTools = toolCheck(
  mosquittoPub !== undefined && shell !== undefined,
  'mosquitto_pub not found: install the Debian package mosquitto-clients (.ci/run installs it)',
)
const pythonTools = toolCheck(
  python !== undefined,
  'python3 with paho-mqtt not found: install the Debian package python3-paho-mqtt (.ci/run installs it)',
)

describe.skipIf(shellTools.skip)('examples - shell sensor (mosquitto_pub)', () => {
  it('retries until the broker is up, then every reading is stored once, in order; a restart continues the sequence', async () => {
    shellTools.require()
    const port = await freePort()
    const dir = tempDir()
    const stateFile = join(dir, 'sh-0001.seq')
    const sensor = (count: number) =>
      startClient('env', [
        ...[`CAIRN_PORT=${port}`, 'DEVICE_ID=sh-0001', `COUNT=${count}`, 'INTERVAL=0', 'MAX_BACKOFF=1'],
        ...[`STATE_FILE=${stateFile}`, shell ?? 'sh', join(examples, 'shell', 'sensor.sh')],
      ])

    // Nothing listens yet: the first reading is refused and retried.
    const first = sensor(5)
    await until(() => first.stderr.includes('seq 1 not acknowledged'), 'a refused first attempt', 15_000)
    const gateway = await startGateway(port)
    await first.succeeded(30_000)
    expect(readFileSync(stateFile, 'utf8').trim()).toBe('5')

    await sensor(2).succeeded(30_000)
    const stored = await readStored(gateway, 'sensors/sh-0001/')
    expect(stored.map((a) => decodePayload(a.payload)?.seq)).toEqual([1, 2, 3, 4, 5, 6, 7])
    const check = checkArrivals(reportForDevice('sh-0001', 'sensors/sh-0001/temp', 7), stored, {
      duplicatesAllowed: false,
    })
    expect(check).toMatchObject({ ok: true, arrived: 7 })
  })
})

describe.skipIf(pythonTools.skip)('examples - python sensor (paho-mqtt)', () => {
  it('keeps its session across cut connections and every reading is stored, in order', async () => {
    pythonTools.require()
    const gateway = await startGateway()
    const proxy = await startFaultProxy({ host: '127.0.0.1', port: gateway.mqttPort })
    const count = 80
    const sensor = startClient(python ?? 'python3', [
      ...[join(examples, 'python', 'sensor.py'), '--port', String(proxy.port), '--device-id', 'py-0001'],
      ...['--count', String(count), '--interval', '0.05'],
    ])
    const storedCount = async () => (await readStored(gateway, 'sensors/py-0001/')).length
    // Two cuts, each once readings got through on the connection before it: the first reconnect (after
    // paho's 1 s backoff) flushes about 30 at once, so the second waits for live ones beyond that,
    // while the sensor still has about 2 s of readings to go.
    for (const after of [10, 40]) {
      for (let n = 0; n < after; n = await storedCount()) {
        if (sensor.exited) throw new Error(`the sensor ended early: ${sensor.stderr}`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      proxy.cutAll()
    }
    const exit = await sensor.succeeded(60_000)
    await proxy.close()

    const summary = JSON.parse(exit.stdout) as Record<string, number>
    expect(summary).toMatchObject({ published: count, acked: count, skipped: 0 })
    expect(summary.connects).toBeGreaterThanOrEqual(3)
    expect(summary.sessions_resumed).toBe((summary.connects ?? 0) - 1)
    const stored = await readStored(gateway, 'sensors/py-0001/')
    // QoS 1: a reading whose PUBACK the cut swallowed is sent again and may be stored twice.
    const check = checkArrivals(reportForDevice('py-0001', 'sensors/py-0001/temp', count), stored, {
      duplicatesAllowed: true,
    })
    const order = stored.map((a) => decodePayload(a.payload)?.seq).join(',')
    expect(check.missing, order).toEqual([])
    expect(check.outOfOrder, order).toEqual([])
    expect(check.unexpected, order).toEqual([])
    expect(check.ok).toBe(true)
  })
})

describe.skipIf(pythonTools.skip)('examples - micropython sensor', () => {
  it('is valid Python (syntax only: running it needs a board and umqtt.simple)', async () => {
    pythonTools.require()
    const source = join(examples, 'micropython', 'main.py')
    const check = `import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])`
    const exit = await startClient(python ?? 'python3', ['-c', check, source]).finished(20_000)
    expect(exit.code, exit.stderr).toBe(0)
  })
})
