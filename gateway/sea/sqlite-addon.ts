// better-sqlite3's native addon inside the single executable. A shared object can only be loaded from a file,
// so the binary carries it as a SEA asset (scripts/build-binary.ts) and writes it once into a cache directory.
// The file is named by its content hash: a newer binary never loads an older addon left there, and two
// processes starting at once write the same bytes to the same name (the rename makes either one whole).

import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, resolve } from 'node:path'
import { getAsset, isSea } from 'node:sea'

/** The asset key the build script stores the addon under. */
export const sqliteAddonAsset = 'better_sqlite3.node'

/** Where the addon goes when the configuration names no cache directory. */
export function defaultCacheDir(dataDir: string): string {
  return join(dataDir, 'cache')
}

/** The cache directory cannot take the addon or cannot run code from it; the message says what to change. */
export class AddonCacheError extends Error {
  readonly cacheDir: string

  constructor(message: string, cacheDir: string, cause: unknown) {
    super(message, { cause })
    this.name = 'AddonCacheError'
    this.cacheDir = cacheDir
  }
}

const remedy = 'set cacheDir in the config file, CAIRN_CACHE_DIR or --cache-dir to a writable directory'

/**
 * In the single executable: extracts the embedded addon into cacheDir (unless already there), loads it and
 * returns its path for better-sqlite3's nativeBinding. Run from the sources: undefined, and better-sqlite3
 * finds its own addon in node_modules. Throws AddonCacheError.
 */
export function prepareSqliteAddon(cacheDir: string): string | undefined {
  if (!isSea()) return undefined
  const file = extractAddon(Buffer.from(getAsset(sqliteAddonAsset)), cacheDir)
  loadAddon(file, cacheDir)
  return file
}

/** Writes the addon as better_sqlite3-<sha256 prefix>.node in cacheDir unless an intact copy is there. */
export function extractAddon(addon: Buffer, cacheDir: string): string {
  const hash = createHash('sha256').update(addon).digest('hex')
  const dir = resolve(cacheDir)
  const file = join(dir, `better_sqlite3-${hash.slice(0, 16)}.node`)
  if (isIntact(file, hash)) return file
  const temporary = `${file}.${process.pid}.tmp`
  try {
    mkdirSync(dir, { recursive: true })
    writeFileSync(temporary, addon, { mode: 0o755 })
    renameSync(temporary, file)
  } catch (cause) {
    removeQuietly(temporary)
    const code = (cause as NodeJS.ErrnoException).code
    throw new AddonCacheError(
      `cannot write the SQLite addon to cache directory ${dir}` +
        `${code === undefined ? '' : ` (${code})`}: ${remedy}`,
      dir,
      cause,
    )
  }
  return file
}

// Cleanup after a failed write must not hide why it failed (a file in the directory's place fails rm too).
function removeQuietly(file: string): void {
  try {
    rmSync(file, { force: true })
  } catch {
    // nothing was written, or nothing can be
  }
}

// A copy cut short (full disk, power loss before the rename reached the disk) must not be loaded.
function isIntact(file: string, hash: string): boolean {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex') === hash
  } catch {
    return false
  }
}

/**
 * Loads the addon through the same require cache better-sqlite3 uses, so its own load is then a cache hit.
 * A file system mounted noexec lets the file be written but not mapped: that is the failure worth naming.
 */
export function loadAddon(file: string, cacheDir: string): void {
  try {
    createRequire(resolve(cacheDir, 'cairn'))(file)
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause)
    const noexec = /failed to map segment|operation not permitted/i.test(message)
    throw new AddonCacheError(
      noexec
        ? `cannot load the SQLite addon from ${file}: its file system is mounted noexec; ${remedy} on a file system that allows executing code`
        : `cannot load the SQLite addon from ${file}: ${message}`,
      resolve(cacheDir),
      cause,
    )
  }
}
