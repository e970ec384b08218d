// gateway/install.sh into a temporary root (as for an SD-card image), and the unit through systemd-analyze.

import { execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, existsSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { defaults, resolveConfig } from '../../gateway/config.ts'
import { repoRoot, tempDir } from './cairn-process.ts'

const script = join(repoRoot, 'gateway', 'install.sh')
const unitFile = join(repoRoot, 'gateway', 'cairn.service')

function install(args: string[]) {
  // sh, not bash: the script must run on a minimal image's /bin/sh.
  const run = spawnSync('sh', [script, ...args], { encoding: 'utf8' })
  return { code: run.status, stdout: run.stdout, stderr: run.stderr }
}

/** A stand-in binary whose content says which one it is. */
function fakeBinary(dir: string, version: string): string {
  const file = join(dir, `cairn-${version}`)
  writeFileSync(file, `#!/bin/sh\necho cairn ${version}\n`)
  chmodSync(file, 0o755)
  return file
}

const mode = (file: string) => statSync(file).mode & 0o777

describe('install', () => {
  test('install - binary, configuration, unit and service user land in the root; the config points at the unit dirs', () => {
    const dir = tempDir()
    const root = join(dir, 'root')
    execFileSync('mkdir', ['-p', root])
    const result = install(['--root', root, '--binary', fakeBinary(dir, '1.0.0'), '--enable'])
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)

    const binary = join(root, 'usr/local/bin/cairn')
    expect(execFileSync(binary, { encoding: 'utf8' })).toBe('cairn 1.0.0\n')
    expect(mode(binary)).toBe(0o755)
    expect(readFileSync(join(root, 'etc/systemd/system/cairn.service'), 'utf8')).toBe(readFileSync(unitFile, 'utf8'))
    expect(readlinkSync(join(root, 'etc/systemd/system/multi-user.target.wants/cairn.service'))).toBe(
      '/etc/systemd/system/cairn.service',
    )
    expect(readFileSync(join(root, 'usr/lib/sysusers.d/cairn.conf'), 'utf8')).toMatch(/^u cairn - /)

    // The installed file is the example with the unit's state and cache directories; it validates.
    const text = readFileSync(join(root, 'etc/cairn/cairn.yaml'), 'utf8')
    const { options } = resolveConfig({ file: { name: 'cairn.yaml', text }, env: {}, flags: {} })
    expect(options).toEqual({ ...defaults, dataDir: '/var/lib/cairn', cacheDir: '/var/cache/cairn' })
    const unit = readFileSync(unitFile, 'utf8')
    expect(unit).toContain('StateDirectory=cairn\n')
    expect(unit).toContain('CacheDirectory=cairn\n')
  })

  test("install - with the service group in the target's /etc/group, the configuration is readable by it only", (ctx) => {
    if (process.getuid?.() !== 0) ctx.skip('changing a file to another group needs root')
    const dir = tempDir()
    const root = join(dir, 'root')
    execFileSync('mkdir', ['-p', join(root, 'etc')])
    writeFileSync(join(root, 'etc/group'), 'root:x:0:\ncairn:x:4242:\n')
    expect(install(['--root', root, '--binary', fakeBinary(dir, '1.0.0')]).code).toBe(0)
    const config = statSync(join(root, 'etc/cairn/cairn.yaml'))
    expect(config.gid).toBe(4242)
    expect(config.mode & 0o777).toBe(0o640)
  })

  test('install - an upgrade keeps the configuration and the previous binary; rollback swaps them back', () => {
    const dir = tempDir()
    const root = join(dir, 'root')
    execFileSync('mkdir', ['-p', root])
    expect(install(['--root', root, '--binary', fakeBinary(dir, '1.0.0')]).code).toBe(0)
    const config = join(root, 'etc/cairn/cairn.yaml')
    writeFileSync(config, 'logLevel: debug\n')

    const upgrade = install(['--root', root, '--binary', fakeBinary(dir, '2.0.0')])
    expect(upgrade.code).toBe(0)
    expect(upgrade.stdout).toContain('kept the existing')
    const binary = join(root, 'usr/local/bin/cairn')
    expect(execFileSync(binary, { encoding: 'utf8' })).toBe('cairn 2.0.0\n')
    expect(execFileSync(`${binary}.previous`, { encoding: 'utf8' })).toBe('cairn 1.0.0\n')
    expect(readFileSync(config, 'utf8')).toBe('logLevel: debug\n')
    expect(existsSync(`${config}.example`)).toBe(true)

    // The same binary again changes nothing, so the rollback target survives a repeated install.
    expect(install(['--root', root, '--binary', fakeBinary(dir, '2.0.0')]).stdout).toContain('binary unchanged')
    expect(execFileSync(`${binary}.previous`, { encoding: 'utf8' })).toBe('cairn 1.0.0\n')

    expect(install(['--root', root, '--rollback']).code).toBe(0)
    expect(execFileSync(binary, { encoding: 'utf8' })).toBe('cairn 1.0.0\n')
    expect(execFileSync(`${binary}.previous`, { encoding: 'utf8' })).toBe('cairn 2.0.0\n')
  })

  test('install - a missing binary, root or argument is a clear error and installs nothing', () => {
    const dir = tempDir()
    const root = join(dir, 'root')
    execFileSync('mkdir', ['-p', root])
    const missing = install(['--root', root, '--binary', join(dir, 'nope')])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain(`binary not found: ${join(dir, 'nope')}`)
    expect(missing.stderr).toContain('npm run build:binary')
    expect(existsSync(join(root, 'etc'))).toBe(false)

    expect(install(['--root', join(dir, 'absent'), '--binary', fakeBinary(dir, '1')]).code).toBe(1)
    expect(install(['--binary', fakeBinary(dir, '1')]).stderr).toContain('--root is required')
    expect(install(['--root', root, '--bogus']).code).toBe(2)
    expect(install(['--root', root, '--rollback']).stderr).toContain('no previous binary')
  })

  test('install - systemd-analyze finds nothing to complain about in the unit', (ctx) => {
    const analyze = spawnSync('systemd-analyze', ['--version'])
    if (analyze.status !== 0) ctx.skip('systemd-analyze is not installed')
    // verify insists that ExecStart exists on this machine: point it at one that does.
    const dir = tempDir()
    const copy = join(dir, 'cairn.service')
    writeFileSync(copy, readFileSync(unitFile, 'utf8').replace('/usr/local/bin/cairn', '/bin/true'))
    const verify = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' })
    // Unknown or misspelt directives are only warnings: any output at all fails.
    expect(verify.stderr + verify.stdout).toBe('')
    expect(verify.status).toBe(0)
  })
})
