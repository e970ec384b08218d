// `npm run simulate` (device/simulator/cli.ts) as a user runs it: help, bad usage, and a short QoS 0
// run against the gateway whose --report file says exactly what is in the log.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { checkArrivals, type FleetReport } from '../../device/simulator/index.ts'
import { repoRoot, tempDir } from '../gateway/cairn-process.ts'
import { freePort } from '../helpers/wait.ts'
import { startClient } from '../integration/mqtt/clients/client-process.ts'
import { readStored, startGateway } from './gateway.ts'

const cli = join(repoRoot, 'device', 'simulator', 'cli.ts')
const simulate = (args: string[]) => startClient(process.execPath, [cli, ...args]).finished(30_000)

describe('simulate - command line', () => {
  it('--help prints the options and exits 0', async () => {
    const exit = await simulate(['--help'])
    expect(exit.code).toBe(0)
    expect(exit.stdout).toMatch(/usage: npm run simulate -- \[options\]/)
    expect(exit.stdout).toMatch(/--flap-every-ms/)
  })

  it('bad usage exits 2 and says what is wrong', async () => {
    const unknown = await simulate(['--nope'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/--nope/)
    const invalid = await simulate(['--qos', '3', '--devices', '0'])
    expect(invalid.code).toBe(2)
    expect(invalid.stderr).toMatch(/devices must be a positive integer[\s\S]*qos must be 0, 1 or 2/)
  })

  it('a broker that cannot be reached is a failure, with the reason', async () => {
    const exit = await simulate(['--url', `mqtt://127.0.0.1:${await freePort()}`, '--duration-sec', '0.3', '--quiet'])
    expect(exit.code).toBe(1)
    expect(exit.stderr).toMatch(/1 device\(s\) never connected; sim-0001: connect ECONNREFUSED/)
  })

  it('a QoS 0 run: the summary, and the report matches the log', async () => {
    const gateway = await startGateway()
    const reportFile = join(tempDir(), 'report.json')
    const exit = await simulate([
      ...['--url', gateway.mqttUrl, '--devices', '3', '--rate', '200', '--messages', '25', '--qos', '0'],
      ...['--format', 'text', '--topics', 'a,b,c', '--id-prefix', 'cli-', '--report', reportFile, '--quiet'],
    ])
    expect(exit.code, exit.stderr).toBe(0)
    const summary = JSON.parse(exit.stdout) as Record<string, unknown>
    expect(summary).toMatchObject({ devices: 3, published: 75, sent: 75, acked: 0, dropped: 0, flaps: 0 })

    const report = JSON.parse(readFileSync(reportFile, 'utf8')) as FleetReport
    expect(Object.keys(report.devices[0]?.topics ?? {})).toEqual([
      'sensors/cli-0001/a',
      'sensors/cli-0001/b',
      'sensors/cli-0001/c',
    ])
    expect(report.devices[1]?.topics['sensors/cli-0002/b']?.sent).toEqual([2, 5, 8, 11, 14, 17, 20, 23])
    // Without flaps, every QoS 0 message written before the DISCONNECT is in the log, once, in order.
    const stored = await readStored(gateway, 'sensors/cli-')
    const check = checkArrivals(report, stored, { duplicatesAllowed: false })
    expect(check).toMatchObject({ ok: true, arrived: 75 })
  })
})
