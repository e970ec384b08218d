// SIGHUP against the real gateway process: what changes live, what is named as needing a restart, and an invalid
// file that changes nothing.

import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { byMsg, servedPorts, startCairn, stopCairn, tempDir, type Cairn, type LogLine } from './cairn-process.ts'

const listeners = 'listeners: { mqtt: "127.0.0.1:0", native: "127.0.0.1:0", http: "127.0.0.1:0" }\n'

function start(configText: string): { cairn: Cairn; config: string } {
  const dir = tempDir()
  const config = join(dir, 'cairn.yaml')
  writeFileSync(config, configText)
  return { cairn: startCairn(['serve', '--config', config, '--data-dir', join(dir, 'data')]), config }
}

/** Sends SIGHUP and waits for the reload's outcome line, the n-th of its kind (1-based). */
async function reload(cairn: Cairn, outcome: string, nth: number): Promise<LogLine> {
  cairn.child.kill('SIGHUP')
  return await cairn.waitForLine((line) => cairn.lines.filter(byMsg(outcome))[nth - 1] === line)
}

describe('reload', () => {
  test('reload - SIGHUP applies the log level live and names the changes that need a restart', async () => {
    const { cairn, config } = start(`logLevel: info\n${listeners}`)
    const { http } = await servedPorts(cairn)
    const refused = (url: string) => (line: LogLine) => line.msg === 'http request refused' && line.url === url
    // A refused request is logged at debug: not yet.
    expect((await fetch(`http://127.0.0.1:${http}/before-reload`)).status).toBe(404)

    writeFileSync(config, `logLevel: debug\n${listeners}mqtt:\n  maxInflightOut: 7\n`)
    const reloaded = await reload(cairn, 'configuration reloaded', 1)
    expect(reloaded.applied).toEqual(['logLevel'])
    const restart = await cairn.waitForLine(byMsg('configuration changes that take effect only after a restart'))
    expect(restart.needsRestart).toEqual(['mqtt.maxInflightOut'])

    expect((await fetch(`http://127.0.0.1:${http}/after-reload`)).status).toBe(404)
    await cairn.waitForLine(refused('/after-reload'))
    // Lines come out in order, so the earlier request would be logged by now if it had been.
    expect(cairn.lines.filter(refused('/before-reload'))).toEqual([])

    expect(await stopCairn(cairn)).toEqual({ code: 0, signal: null })
  })

  test('reload - an invalid file changes nothing and every problem is logged with its path', async () => {
    const { cairn, config } = start(`logLevel: info\n${listeners}`)
    const { http } = await servedPorts(cairn)

    writeFileSync(config, `logLevel: loud\n${listeners}storage:\n  maxDisk: 5\n`)
    await reload(cairn, 'configuration not reloaded: it is invalid; keeping the running one', 1)
    const problems = cairn.lines.filter((line) => line.level === 50 && typeof line.path === 'string')
    expect(problems.map((line) => line.path)).toEqual(['logLevel', 'storage.maxDisk'])
    expect(problems[0]?.msg).toContain('(got "loud")')
    expect((await fetch(`http://127.0.0.1:${http}/healthz`)).status).toBe(200)

    // The same file as at the start: nothing differs from what runs, so nothing of the bad file was taken.
    writeFileSync(config, `logLevel: info\n${listeners}`)
    const line = await reload(cairn, 'configuration reloaded: nothing changed', 1)
    expect(line.applied).toEqual([])

    expect(await stopCairn(cairn)).toEqual({ code: 0, signal: null })
  })

  test('reload - a mirror link takes a new rate limit live; other link settings need a restart', async () => {
    // Nothing listens on port 1: the link backs off and retries while the broker serves.
    const mirror = (rate: number, batch: number) =>
      `mirror:\n  gatewayId: gw-1\n  links:\n    upstream:\n      bootstrap: ['127.0.0.1:1']\n` +
      `      maxBytesPerSec: ${rate}\n      batchMaxRecords: ${batch}\n`
    const { cairn, config } = start(`logLevel: info\n${listeners}${mirror(0, 2000)}`)
    await servedPorts(cairn)

    writeFileSync(config, `logLevel: info\n${listeners}${mirror(4096, 100)}`)
    const reloaded = await reload(cairn, 'configuration reloaded', 1)
    expect(reloaded.applied).toEqual(['mirror.links.upstream.maxBytesPerSec'])
    const restart = await cairn.waitForLine(byMsg('configuration changes that take effect only after a restart'))
    expect(restart.needsRestart).toEqual(['mirror.links.upstream.batchMaxRecords'])

    // The same file again: the rate is in effect, the batch size still waits for a restart.
    const pending = await reload(cairn, 'configuration changes that take effect only after a restart', 2)
    expect(pending.needsRestart).toEqual(['mirror.links.upstream.batchMaxRecords'])
    expect(cairn.lines.filter(byMsg('configuration reloaded'))).toHaveLength(1)

    expect(await stopCairn(cairn)).toEqual({ code: 0, signal: null })
  })
})
