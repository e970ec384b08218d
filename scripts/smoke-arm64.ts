// Smoke test of dist/cairn-linux-arm64 on an x64 machine, under Debian's qemu-user-static with Debian's arm64
// cross libc (libc6-arm64-cross, libstdc++6-arm64-cross) as its sysroot: --version, then serve from an empty
// directory, one MQTT publish (mosquitto_pub, QoS 1) read back over HTTP, SIGTERM, exit code 0.
// Everything runs emulated, so it is slow (tens of seconds); times are printed, not asserted.
//
// Run: npm run smoke:arm64 [-- --build] [--out DIR]
//   DIR/cairn-linux-arm64 (default dist/) is built when missing; --build rebuilds it first.

import { execFile, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs, promisify } from 'node:util'
import { buildBinaries } from './build-binary.ts'

const run = promisify(execFile)
const projectDir = fileURLToPath(new URL('..', import.meta.url))
const qemu = 'qemu-aarch64-static'
const sysroot = '/usr/aarch64-linux-gnu'
/** Emulated start-up takes seconds on an idle machine; a loaded CI runner gets plenty more. */
const startTimeoutMs = 180_000

const { values } = parseArgs({ options: { build: { type: 'boolean', default: false }, out: { type: 'string' } } })
const outDir = resolve(values.out ?? join(projectDir, 'dist'))
const binary = join(outDir, 'cairn-linux-arm64')

function step(what: string, since: number): void {
  process.stderr.write(`smoke:arm64: ${what} (${((performance.now() - since) / 1000).toFixed(1)} s)\n`)
}

async function main(): Promise<void> {
  const begin = performance.now()
  if (!existsSync(sysroot))
    throw new Error(`${sysroot} missing: apt-get install libc6-arm64-cross libstdc++6-arm64-cross`)
  if (values.build || !existsSync(binary)) {
    await buildBinaries({
      arches: ['arm64'],
      outDir,
      cacheDir: join(projectDir, '.cache', 'node-runtime'),
    })
    step('built', begin)
  }

  let since = performance.now()
  const { stdout } = await run(qemu, ['-L', sysroot, binary, '--version'])
  if (!/^cairn \d+\.\d+\.\d+/.test(stdout)) throw new Error(`--version printed ${JSON.stringify(stdout)}`)
  step(`--version: ${stdout.trim()}`, since)

  const dir = mkdtempSync(join(tmpdir(), 'cairn-arm64-'))
  try {
    since = performance.now()
    const args = ['-L', sysroot, binary, 'serve', '--data-dir', './data']
    args.push('--mqtt', '127.0.0.1:0', '--native', '127.0.0.1:0', '--http', '127.0.0.1:0')
    const child = spawn(qemu, args, { cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } })
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
    const lines = createInterface({ input: child.stdout })
    const served = await new Promise<Record<string, string>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "listening" line in ${startTimeoutMs} ms`)), startTimeoutMs)
      lines.on('line', (text) => {
        const line = JSON.parse(text) as { msg?: string; served?: Record<string, string> }
        if (line.msg !== 'listening' || line.served === undefined) return
        clearTimeout(timer)
        resolve(line.served)
      })
      void exited.then((code) => reject(new Error(`exited with ${code} before listening; stderr: ${stderr}`)))
    })
    const port = (name: string): string => /:(\d+)$/.exec(served[name] ?? '')?.[1] ?? '0'
    step('serve: listening', since)

    since = performance.now()
    await run('mosquitto_pub', ['-p', port('mqtt'), '-q', '1', '-t', 'smoke/arm64', '-m', 'hello from arm64'])
    const url = `http://127.0.0.1:${port('http')}/api/v1/topics/mqtt/partitions/0/messages?offset=0`
    const body = (await (await fetch(url)).json()) as { messages: { key: string; value: string }[] }
    const values = body.messages.map((m) => Buffer.from(m.value, 'base64').toString())
    if (values.join() !== 'hello from arm64') throw new Error(`read back ${JSON.stringify(values)}`)
    step('MQTT publish read back over HTTP', since)

    since = performance.now()
    child.kill('SIGTERM')
    const code = await exited
    if (code !== 0) throw new Error(`exit code ${code} after SIGTERM; stderr: ${stderr}`)
    step('SIGTERM: exit code 0', since)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  step('passed', begin)
}

await main()
