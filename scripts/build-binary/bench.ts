// Start-up and idle memory of the single executable against the same gateway run from the sources, in one run
// (BENCHMARKS.md, "Single binary"). Each run starts `serve` with a fresh data directory and ports chosen by the
// OS, and measures from spawn to the "listening" log line, with the CPU time (user + system) the process had
// used by then, which a busy shared machine disturbs less than the wall time; idle RSS is read from /proc 2 s
// later. Kinds are interleaved so a busy moment of the machine does not land on one of them only.
//
// Run: node scripts/build-binary/bench.ts [--runs N]   (needs dist/cairn-linux-x64: npm run build:binary)

import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const projectDir = fileURLToPath(new URL('../..', import.meta.url))
const { values } = parseArgs({ options: { runs: { type: 'string', default: '7' } } })
const runs = Number(values.runs)
const binary = join(projectDir, 'dist', 'cairn-linux-x64')
const ports = ['--mqtt', '127.0.0.1:0', '--native', '127.0.0.1:0', '--http', '127.0.0.1:0']

interface Kind {
  name: string
  command: (dataDir: string, scratch: string) => [string, string[]]
}

const kinds: Kind[] = [
  {
    name: 'single binary, addon already extracted',
    command: (dataDir, scratch) => [binary, ['serve', '--data-dir', dataDir, '--cache-dir', join(scratch, 'cache')]],
  },
  {
    name: 'single binary, first start (extracts the addon)',
    command: (dataDir) => [binary, ['serve', '--data-dir', dataDir]],
  },
  {
    name: 'node gateway/cli.ts serve (sources, Node 24)',
    command: (dataDir) => [process.execPath, [join(projectDir, 'gateway/cli.ts'), 'serve', '--data-dir', dataDir]],
  },
]

/** utime + stime of a process in ms (/proc/PID/stat fields 14 and 15, in clock ticks of 10 ms on Linux). */
function cpuMs(pid: number | undefined): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

async function measure(kind: Kind, scratch: string): Promise<{ startMs: number; cpuMs: number; rssMiB: number }> {
  const dataDir = mkdtempSync(join(scratch, 'data-'))
  const [command, args] = kind.command(dataDir, scratch)
  const began = performance.now()
  const child = spawn(command, [...args, ...ports], { cwd: scratch, stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve))
  let startCpuMs = 0
  const startMs = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (text) => {
      if ((JSON.parse(text) as { msg?: string }).msg !== 'listening') return
      startCpuMs = cpuMs(child.pid)
      resolve(performance.now() - began)
    })
    void exited.then((code) => reject(new Error(`${kind.name} exited with ${code}`)))
  })
  await new Promise((resolve) => setTimeout(resolve, 2000))
  const rssKiB = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1])
  child.kill('SIGTERM')
  const code = await exited
  if (code !== 0) throw new Error(`${kind.name}: exit code ${code}`)
  rmSync(dataDir, { recursive: true, force: true })
  return { startMs, cpuMs: startCpuMs, rssMiB: rssKiB / 1024 }
}

const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? NaN
}
const range = (xs: number[], digits: number) =>
  `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`

const scratch = mkdtempSync(join(os.tmpdir(), 'cairn-bench-binary-'))
try {
  const results = new Map(
    kinds.map((kind) => [kind.name, { startMs: [] as number[], cpuMs: [] as number[], rssMiB: [] as number[] }]),
  )
  for (let run = 0; run < runs; run++) {
    for (const kind of run % 2 === 0 ? kinds : [...kinds].reverse()) {
      const { startMs, cpuMs, rssMiB } = await measure(kind, scratch)
      const result = results.get(kind.name)
      result?.startMs.push(startMs)
      result?.cpuMs.push(cpuMs)
      result?.rssMiB.push(rssMiB)
    }
  }
  const cpus = os.cpus()
  console.log(`machine: ${cpus[0]?.model ?? 'unknown'} × ${cpus.length}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`)
  console.log(
    `load average at end: ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}; node ${process.version}`,
  )
  console.log(`binary: ${(statSync(binary).size / 2 ** 20).toFixed(1)} MiB; runs per kind: ${runs}`)
  console.log('| how | start-up to "listening", ms | CPU time until then, ms | idle RSS, MiB |')
  console.log('|---|---|---|---|')
  for (const [name, result] of results) {
    console.log(`| ${name} | ${range(result.startMs, 0)} | ${range(result.cpuMs, 0)} | ${range(result.rssMiB, 1)} |`)
  }
} finally {
  rmSync(scratch, { recursive: true, force: true })
}
