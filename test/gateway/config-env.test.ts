// The config file named by the environment (CAIRN_CONFIG), with the real process; variables the client tools read
// are not "unknown" to serve.

import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { resolveConfig } from '../../gateway/config.ts'
import { runToExit, servedPorts, startCairn, stopCairn, tempDir } from './cairn-process.ts'

describe('config - environment', () => {
  test('config env - CAIRN_CONFIG names the file when --config does not', async () => {
    const dir = tempDir()
    const config = join(dir, 'cairn.yaml')
    writeFileSync(config, `dataDir: ${join(dir, 'data')}\nlisteners: { mqtt: off, native: off, http: "127.0.0.1:0" }\n`)
    const cairn = startCairn(['serve'], { CAIRN_CONFIG: config })
    expect(Object.keys(await servedPorts(cairn))).toEqual(['http'])
    expect(await stopCairn(cairn)).toEqual({ code: 0, signal: null })
  })

  test('config env - an unreadable CAIRN_CONFIG is a configuration error naming it; --config wins over it', async () => {
    const dir = tempDir()
    const missing = join(dir, 'nope.yaml')
    const bad = await runToExit(['serve'], { CAIRN_CONFIG: missing })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain(`config: cannot read the config file`)
    expect(bad.stderr).toContain(missing)

    const good = join(dir, 'cairn.yaml')
    writeFileSync(good, 'logLevel: loud\n')
    const flagWins = await runToExit(['serve', '--config', good], { CAIRN_CONFIG: missing })
    expect(flagWins.code).toBe(2)
    expect(flagWins.stderr).toContain('logLevel: must be one of')
  })

  test('config env - the variables of the config file and of the client tools are not unknown settings', () => {
    const env = { CAIRN_CONFIG: '/etc/cairn/cairn.yaml', CAIRN_BROKER: 'gw:7883', CAIRN_DATADIR: '/x' }
    expect(resolveConfig({ env, flags: {} }).warnings).toEqual([
      'ignoring unknown environment variable CAIRN_DATADIR; did you mean CAIRN_DATA_DIR?',
    ])
  })
})
