import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { byMsg, repoRoot, runToExit, startCairn, tempDir } from './cairn-process.ts'

const { version } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }
// Port 0 everywhere: parallel test files must not collide.
const anyPorts = ['--mqtt', '127.0.0.1:0', '--native', '127.0.0.1:0', '--http', '127.0.0.1:0']

describe('cli - one-shot commands', () => {
  test('cli - --version prints the package version and exits 0', async () => {
    expect(await runToExit(['--version'])).toEqual({ code: 0, signal: null, stderr: '', stdout: [`cairn ${version}`] })
  })

  test('cli - --help prints usage on stdout and exits 0', async () => {
    const { code, stdout, stderr } = await runToExit(['serve', '--help'])
    expect(code).toBe(0)
    expect(stderr).toBe('')
    expect(stdout[0]).toBe('Usage: cairn <command> [options]')
    expect(stdout.some((line) => line.includes('--data-dir DIR'))).toBe(true)
  })

  test('cli - an unknown flag exits 2 naming it, and starts nothing', async () => {
    const dataDir = join(tempDir(), 'data')
    const cairn = startCairn(['serve', '--data-dir', dataDir, '--bogus'])
    expect(await cairn.exited).toEqual({ code: 2, signal: null })
    expect(cairn.stderr()).toMatch(/^cairn: Unknown option '--bogus'\n/)
    expect(cairn.lines).toEqual([])
    expect(existsSync(dataDir)).toBe(false)
  })

  test('cli - a bad config file exits 2 listing every problem', async () => {
    const dir = tempDir()
    const config = join(dir, 'cairn.yaml')
    writeFileSync(config, 'dataDir: ./x\nlisteners:\n  mqtt: 70000\nstorage:\n  maxDiskBytez: 5\n')
    const cairn = startCairn(['serve', '--config', config, '--log-level', 'noisy'])
    expect(await cairn.exited).toEqual({ code: 2, signal: null })
    const stderr = cairn.stderr()
    expect(stderr).toMatch(/^cairn: invalid configuration:\n/)
    expect(stderr).toContain(`  - listeners.mqtt: must be [HOST:]PORT`)
    expect(stderr).toContain(`  - storage.maxDiskBytez: unknown key; did you mean "maxDiskBytes"?`)
    expect(stderr).toContain(`  - logLevel: must be one of`)
    expect(cairn.lines).toEqual([])
  })

  test('cli - a missing config file exits 2 naming it', async () => {
    const missing = join(tempDir(), 'nope.yaml')
    const cairn = startCairn(['serve', '-c', missing])
    expect(await cairn.exited).toEqual({ code: 2, signal: null })
    expect(cairn.stderr()).toContain(`config: cannot read the config file: ENOENT`)
    expect(cairn.stderr()).toContain(missing)
  })

  test('cli - a bad environment variable exits 2 naming it', async () => {
    const cairn = startCairn(['serve', '--data-dir', join(tempDir(), 'data')], { CAIRN_HTTP: 'localhost' })
    expect(await cairn.exited).toEqual({ code: 2, signal: null })
    expect(cairn.stderr()).toContain('listeners.http: must be [HOST:]PORT')
    expect(cairn.stderr()).toContain('from CAIRN_HTTP (got "localhost")')
  })
})

describe('cli - serve', () => {
  test('serve - starts, reports readiness, and stops cleanly on SIGTERM', async () => {
    const dataDir = join(tempDir(), 'data')
    const cairn = startCairn(['serve', '--data-dir', dataDir, '--log-level', 'info', ...anyPorts])
    await cairn.waitForLine(byMsg('listening'))

    const started = cairn.lines.find(byMsg('cairn started'))
    expect(started).toMatchObject({ version, pid: cairn.child.pid, dataDir, streams: ['mqtt'] })
    expect(started?.listeners).toEqual({
      mqtt: { address: '127.0.0.1:0' },
      mqttTls: { off: true },
      mqttWs: { off: true },
      native: { address: '127.0.0.1:0' },
      http: { address: '127.0.0.1:0' },
      mqttWss: { off: true },
      nativeTls: { off: true },
      https: { off: true },
    })
    const listening = cairn.lines.find(byMsg('listening'))
    const anyPort = expect.stringMatching(/^127\.0\.0\.1:[1-9]\d*$/) as unknown
    expect(listening?.served).toEqual({ mqtt: anyPort, native: anyPort, http: anyPort })
    expect(cairn.lines.find((line) => line.msg === 'stream created')).toMatchObject({ stream: 'mqtt' })

    cairn.child.kill('SIGTERM')
    expect(await cairn.exited).toEqual({ code: 0, signal: null })
    expect(cairn.lines.at(-1)).toMatchObject({ msg: 'cairn stopped' })
    expect(cairn.lines.find(byMsg('shutting down'))).toMatchObject({ signal: 'SIGTERM' })
    expect(cairn.lines.some(byMsg('log store closed'))).toBe(true)
    expect(cairn.stderr()).toBe('')
    expect(existsSync(join(dataDir, 'cairn.db'))).toBe(true)
  })

  test('serve - a restart keeps existing streams and says when the config differs', async () => {
    const dir = tempDir()
    const dataDir = join(dir, 'data')
    const first = startCairn(['serve', '--data-dir', dataDir, ...anyPorts])
    await first.waitForLine(byMsg('listening'))
    first.child.kill('SIGINT')
    expect((await first.exited).code).toBe(0)

    const config = join(dir, 'cairn.json')
    writeFileSync(
      config,
      JSON.stringify({ streams: { mqtt: { partitions: 3 }, sensors: { cleanupPolicy: 'compact' } } }),
    )
    const second = startCairn(['serve', '--config', config, ...anyPorts], { CAIRN_DATA_DIR: dataDir })
    await second.waitForLine(byMsg('listening'))
    expect(second.lines.filter(byMsg('stream created')).map((line) => line.stream)).toEqual(['sensors'])
    expect(second.lines.find((line) => line.stream === 'mqtt' && line.msg?.startsWith('stream exists'))).toMatchObject({
      level: 30,
      configured: { partitions: 3 },
      stored: { partitions: 1 },
    })
    second.child.kill('SIGTERM')
    expect((await second.exited).code).toBe(0)
  })

  test('serve - the subjects of an existing stream follow the config on restart', async () => {
    const dir = tempDir()
    const dataDir = join(dir, 'data')
    const config = join(dir, 'cairn.yaml')
    writeFileSync(config, 'streams:\n  sensors:\n    subjects: [sensors/#]\n')
    const first = startCairn(['serve', '--config', config, '--data-dir', dataDir, ...anyPorts])
    await first.waitForLine(byMsg('listening'))
    first.child.kill('SIGTERM')
    expect((await first.exited).code).toBe(0)

    writeFileSync(config, 'streams:\n  sensors:\n    subjects: [sensors/#, meters/#]\n    partitions: 2\n')
    const second = startCairn(['serve', '--config', config, '--data-dir', dataDir, ...anyPorts])
    await second.waitForLine(byMsg('listening'))
    expect(second.lines.find(byMsg('stream subjects updated from the configuration'))).toMatchObject({
      stream: 'sensors',
      subjects: ['sensors/#', 'meters/#'],
      previous: ['sensors/#'],
    })
    // Partitions are not changed by editing the file; only reported.
    expect(second.lines.find((line) => line.msg?.startsWith('stream exists'))).toMatchObject({
      stream: 'sensors',
      configured: { partitions: 2 },
      stored: { partitions: 1 },
    })
    second.child.kill('SIGTERM')
    expect((await second.exited).code).toBe(0)
  })

  test('serve - the --log-level flag beats CAIRN_LOG_LEVEL', async () => {
    const dataDir = join(tempDir(), 'data')
    const cairn = startCairn(['serve', '--data-dir', dataDir, '--log-level', 'info', ...anyPorts], {
      CAIRN_LOG_LEVEL: 'error',
    })
    await cairn.waitForLine(byMsg('listening'))
    cairn.child.kill('SIGTERM')
    expect((await cairn.exited).code).toBe(0)
  })

  test('serve - an unreadable store exits 1 with a fatal log line', async () => {
    const dataDir = join(tempDir(), 'data')
    mkdirSync(dataDir)
    writeFileSync(
      join(dataDir, 'cairn.db'),
      'this is not a SQLite database, just text long enough to look like a header',
    )
    const cairn = startCairn(['serve', '--data-dir', dataDir, ...anyPorts])
    expect(await cairn.exited).toEqual({ code: 1, signal: null })
    const fatal = cairn.lines.find((line) => line.level === 60)
    expect(fatal).toMatchObject({ msg: 'cannot open the log store', dataDir })
    expect(fatal?.err).toMatchObject({ code: expect.stringMatching(/^CAIRN_STORAGE_/) as unknown })
    expect(cairn.lines.some(byMsg('listening'))).toBe(false)
  })

  test('serve - a second broker on the same data directory exits 1 at once; the first goes on', async () => {
    const dataDir = join(tempDir(), 'data')
    const first = startCairn(['serve', '--data-dir', dataDir, ...anyPorts])
    await first.waitForLine(byMsg('listening'))
    const second = startCairn(['serve', '--data-dir', dataDir, ...anyPorts])
    expect(await second.exited).toEqual({ code: 1, signal: null })
    const fatal = second.lines.find((line) => line.level === 60)
    expect(fatal?.err).toMatchObject({
      code: 'CAIRN_STORAGE_BUSY',
      message: expect.stringContaining('in use by another process') as unknown,
    })
    first.child.kill('SIGTERM')
    expect(await first.exited).toEqual({ code: 0, signal: null })
  })
})
