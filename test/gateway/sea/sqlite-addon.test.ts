import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { arch, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { expect, onTestFinished, test } from 'vitest'
import {
  AddonCacheError,
  defaultCacheDir,
  extractAddon,
  loadAddon,
  prepareSqliteAddon,
} from '../../../gateway/sea/sqlite-addon.ts'

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-addon-'))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

test('sqlite addon - extracted once under a name derived from its content', () => {
  const dir = join(tempDir(), 'cache')
  const addon = Buffer.from('addon version 1')
  const file = extractAddon(addon, dir)
  expect(file).toMatch(/better_sqlite3-[0-9a-f]{16}\.node$/)
  expect(readFileSync(file)).toEqual(addon)
  const { ino, mtimeMs } = statSync(file)
  expect(extractAddon(addon, dir)).toBe(file)
  expect(statSync(file)).toMatchObject({ ino, mtimeMs })

  // An upgrade brings other bytes, hence another name: the old file is never loaded for the new binary.
  const upgraded = extractAddon(Buffer.from('addon version 2'), dir)
  expect(upgraded).not.toBe(file)
  expect(readdirSync(dir).sort()).toEqual([file, upgraded].map((f) => f.slice(dir.length + 1)).sort())
})

test('sqlite addon - a damaged copy under the right name is written again', () => {
  const dir = tempDir()
  const addon = Buffer.from('the real addon')
  const file = extractAddon(addon, dir)
  writeFileSync(file, 'the real') // cut short
  expect(extractAddon(addon, dir)).toBe(file)
  expect(readFileSync(file)).toEqual(addon)
})

test('sqlite addon - a cache directory that cannot be created names itself and the settings', () => {
  const dir = tempDir()
  writeFileSync(join(dir, 'file'), '')
  const cacheDir = join(dir, 'file', 'cache')
  expect(() => extractAddon(Buffer.from('x'), cacheDir)).toThrow(AddonCacheError)
  expect(() => extractAddon(Buffer.from('x'), cacheDir)).toThrow(
    `cannot write the SQLite addon to cache directory ${cacheDir} (ENOTDIR): set cacheDir in the config file, CAIRN_CACHE_DIR or --cache-dir`,
  )
})

test('sqlite addon - a file that is not a loadable addon fails with the loader reason', () => {
  const dir = tempDir()
  const file = extractAddon(Buffer.from('not an ELF file'), dir)
  expect(() => loadAddon(file, dir)).toThrow(/^cannot load the SQLite addon from .*better_sqlite3-[0-9a-f]{16}\.node: /)
})

test.runIf(process.platform === 'linux' && (arch() === 'x64' || arch() === 'arm64'))(
  "sqlite addon - better-sqlite3's prebuilt addon loads from the cache",
  () => {
    const require = createRequire(import.meta.url)
    const prebuilt = join(dirname(require.resolve('better-sqlite3/package.json')), 'prebuilds', `linux-${arch()}.node`)
    const dir = tempDir()
    const file = extractAddon(readFileSync(prebuilt), dir)
    expect(() => loadAddon(file, dir)).not.toThrow()
  },
)

test('sqlite addon - run from the sources there is nothing to extract', () => {
  const dir = join(tempDir(), 'never-created')
  expect(prepareSqliteAddon(dir)).toBeUndefined()
  expect(() => statSync(dir)).toThrow()
  expect(defaultCacheDir('/var/lib/cairn')).toBe('/var/lib/cairn/cache')
})
