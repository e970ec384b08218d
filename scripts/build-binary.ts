// Builds the single executables dist/cairn-linux-x64 and dist/cairn-linux-arm64 (Node Single Executable
// Applications; docs/packaging.md):
//   1. esbuild bundles gateway/cli.ts and every dependency into one CommonJS file (SEA runs CommonJS mains);
//   2. per architecture, `node --experimental-sea-config` turns it into a SEA blob, with better-sqlite3's
//      prebuilt addon of that architecture as an asset. V8's code cache (compiled bytecode of the bundle's
//      top level: a faster start, docs/packaging.md) goes in only for the architecture of the machine that
//      builds: it is made by this Node and valid only for its platform. No snapshot (the gateway's start
//      reads config and opens files, which a snapshot cannot capture);
//   3. the official Node binary of that architecture (same version as the one running this script, which
//      makes the blob) gets the blob injected with postject.
//
// Run: npm run build:binary [-- --arch x64|arm64] [--out DIR]

import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import * as esbuild from 'esbuild'
import { sqliteAddonAsset } from '../gateway/sea/sqlite-addon.ts'
import { arches, nodeRuntime, type Arch } from './build-binary/runtime.ts'

const projectDir = fileURLToPath(new URL('..', import.meta.url))
const require = createRequire(import.meta.url)
// Node's SEA fuse: the marker postject flips so the binary looks for its blob.
const seaFuse = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'

export interface BuildOptions {
  arches: readonly Arch[]
  outDir: string
  /** Where the Node runtimes are cached between builds. */
  cacheDir: string
  log?: (line: string) => void
}

/** Builds one binary per architecture; returns their paths. */
export async function buildBinaries(options: BuildOptions): Promise<Record<Arch, string | undefined>> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`))
  const seaDir = join(options.outDir, 'sea')
  mkdirSync(seaDir, { recursive: true })
  const bundle = join(seaDir, 'cairn.cjs')
  await bundleCli(bundle, log)
  const version = process.version.slice(1)
  // The blob is only valid for the Node version that wrote it, and the runtimes follow the project's Node.
  const projectNode = (require('node/package.json') as { version: string }).version
  if (version !== projectNode) {
    throw new Error(`build with the project's Node ${projectNode} (npm run build:binary), not ${process.version}`)
  }
  const { inject } = require('postject') as {
    inject: (file: string, resource: string, data: Buffer, options: { sentinelFuse: string }) => Promise<void>
  }
  const built: Record<Arch, string | undefined> = { x64: undefined, arm64: undefined }
  for (const arch of options.arches) {
    const blob = join(seaDir, `cairn-${arch}.blob`)
    const config = join(seaDir, `sea-config-${arch}.json`)
    writeFileSync(
      config,
      JSON.stringify(
        {
          main: bundle,
          output: blob,
          disableExperimentalSEAWarning: true,
          useSnapshot: false,
          useCodeCache: arch === process.arch,
          assets: { [sqliteAddonAsset]: sqliteAddonPath(arch) },
        },
        null,
        2,
      ),
    )
    execFileSync(process.execPath, ['--experimental-sea-config', config], { stdio: ['ignore', 'ignore', 'inherit'] })
    const runtime = nodeRuntime(arch, version, options.cacheDir)
    const binary = join(options.outDir, `cairn-linux-${arch}`)
    rmSync(binary, { force: true })
    copyFileSync(runtime, binary)
    await inject(binary, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: seaFuse })
    log(`${relative(projectDir, binary)}: ${mib(statSync(binary).size)} (node ${version}, ${arch})`)
    built[arch] = binary
  }
  return built
}

function sqliteAddonPath(arch: Arch): string {
  const file = join(dirname(require.resolve('better-sqlite3/package.json')), 'prebuilds', `linux-${arch}.node`)
  statSync(file)
  return file
}

async function bundleCli(outfile: string, log: (line: string) => void): Promise<void> {
  const result = await esbuild.build({
    entryPoints: [join(projectDir, 'gateway/cli.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    // The SEA main's own require loads built-in modules only; the addon is a file (gateway/sea/).
    // A var of the same name shares the wrapper parameter's binding, so the right side still sees the original.
    banner: { js: 'var require = require("node:module").createRequire(__filename);' },
    legalComments: 'none',
    // Without comments and indentation the script V8 keeps in memory is smaller, and stays one-byte: a single
    // non-Latin-1 character left in a comment (—, →) makes V8 hold the whole bundle as a two-byte string.
    // Identifiers stay as written, so stack traces still name functions.
    minifyWhitespace: true,
    metafile: true,
    logLevel: 'silent',
  })
  for (const warning of result.warnings) {
    const where = warning.location === null ? '' : ` (${warning.location.file}:${warning.location.line})`
    // import.meta is empty in CommonJS: code relying on it (import.meta.url, dirname) would break only in the binary.
    if (warning.id === 'empty-import-meta') throw new Error(`bundle: ${warning.text}${where}`)
    log(`esbuild warning: ${warning.text}${where}`)
  }
  const packages = new Set(
    Object.keys(result.metafile.inputs).flatMap((input) => {
      const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)
      return match?.[1] === undefined ? [] : [match[1]]
    }),
  )
  // Dev-only and pretty-printing packages have no business in the binary (docs/packaging.md).
  const forbidden = ['pino-pretty', 'vitest', 'typescript', 'esbuild', 'mqtt', 'aedes', 'fast-check'].filter((p) =>
    packages.has(p),
  )
  if (forbidden.length > 0) throw new Error(`bundle contains dev-only packages: ${forbidden.join(', ')}`)
  log(`${relative(projectDir, outfile)}: ${mib(statSync(outfile).size)}, packages: ${[...packages].sort().join(' ')}`)
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: { arch: { type: 'string', multiple: true }, out: { type: 'string' } },
  })
  const chosen = (values.arch ?? [...arches]).map((arch) => {
    if (!(arches as readonly string[]).includes(arch)) throw new Error(`--arch ${arch}: one of ${arches.join(', ')}`)
    return arch as Arch
  })
  await buildBinaries({
    arches: chosen,
    outDir: resolve(values.out ?? join(projectDir, 'dist')),
    cacheDir: join(projectDir, '.cache', 'node-runtime'),
  })
}
