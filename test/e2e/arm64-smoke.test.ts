// The arm64 single executable, emulated: scripts/smoke-arm64.ts (build, --version, serve, an MQTT publish read
// back over HTTP, SIGTERM with exit code 0) as part of the suite. About a minute on the 2-core dev VM, most of
// it emulation; .ci/run installs qemu-user-static and the arm64 cross libc, so CI never skips it.

import { execFile } from 'node:child_process'
import { accessSync, constants, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { arch, tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { promisify } from 'node:util'
import { expect, onTestFinished, test } from 'vitest'
import { repoRoot } from '../gateway/cairn-process.ts'

const run = promisify(execFile)
const timeoutMs = 420_000

function onPath(name: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, name), constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}

const inCi = (process.env.CI ?? '') !== ''
const available = onPath('qemu-aarch64-static') && existsSync('/usr/aarch64-linux-gnu/lib/libc.so.6')

test.runIf(process.platform === 'linux' && arch() === 'x64' && (available || inCi))(
  'single binary - the arm64 build starts, serves and stops cleanly under qemu',
  async () => {
    const out = mkdtempSync(join(tmpdir(), 'cairn-arm64-build-'))
    onTestFinished(() => rmSync(out, { recursive: true, force: true }))
    const { stderr } = await run(process.execPath, ['scripts/smoke-arm64.ts', '--out', out], {
      cwd: repoRoot,
      timeout: timeoutMs,
    })
    expect(stderr).toContain('smoke:arm64: SIGTERM: exit code 0')
    expect(stderr).toContain('smoke:arm64: passed')
  },
  timeoutMs,
)
