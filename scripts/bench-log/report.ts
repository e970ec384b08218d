// Statistics, formatting and the machine description for scripts/bench-log.ts.

import { closeSync, openSync, readFileSync, realpathSync, statfsSync, fdatasyncSync, writeSync } from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import Database from 'better-sqlite3'

export interface Spread {
  median: number
  min: number
  max: number
}

export function spread(values: readonly number[]): Spread {
  if (values.length === 0) return { median: NaN, min: NaN, max: NaN }
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  const median =
    sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
  return { median, min: sorted[0] as number, max: sorted.at(-1) as number }
}

/** Nearest-rank percentile of an already sorted array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank] as number
}

export function fmtCount(n: number): string {
  if (!Number.isFinite(n)) return '—'
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`
  if (n >= 1e3) return `${(n / 1e3).toFixed(2)}k`
  return n.toFixed(n >= 100 ? 0 : 1)
}

export function fmtSpread(s: Spread, fmt: (n: number) => string = fmtCount): string {
  return `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`
}

export const fmtMB = (n: number): string => (Number.isFinite(n) ? n.toFixed(n >= 100 ? 0 : 1) : '—')
export const fmtPct = (n: number): string => (Number.isFinite(n) ? `${Math.round(n * 100)}%` : '—')

export function fmtDuration(ms: number): string {
  const s = ms / 1000
  if (s < 60) return `${s.toFixed(1)} s`
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`
}

/** A markdown table whose columns are padded, so it reads the same in a terminal and in BENCHMARKS.md. */
export function table(
  header: readonly string[],
  rows: ReadonlyArray<readonly string[]>,
  right: readonly boolean[],
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const pad = (cell: string, i: number): string =>
    right[i] === true ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => pad(c, i)).join(' | ')} |`
  const rule = `|${widths.map((w, i) => (right[i] === true ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`
  return [line(header), rule, ...rows.map((r) => line(r))].join('\n')
}

function mountOf(dir: string): string {
  try {
    const real = realpathSync(dir)
    let best = { point: '', text: 'unknown' }
    for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const [device, point, type] = line.split(' ')
      if (device === undefined || point === undefined || type === undefined) continue
      const inside = real === point || real.startsWith(point.endsWith('/') ? point : `${point}/`)
      if (inside && point.length >= best.point.length) best = { point, text: `${device} on ${point} (${type})` }
    }
    return best.text
  } catch {
    return 'unknown'
  }
}

/** Median latency of a 4 KiB write + fdatasync on the benchmark's disk: the floor under every fsync commit. */
function fsyncProbeUs(dir: string): number {
  const file = join(dir, 'fsync-probe')
  const fd = openSync(file, 'w')
  const block = Buffer.alloc(4096, 7)
  const samples: number[] = []
  try {
    for (let i = 0; i < 40; i++) {
      const start = performance.now()
      writeSync(fd, block, 0, block.length, (i % 8) * 4096)
      fdatasyncSync(fd)
      if (i >= 5) samples.push((performance.now() - start) * 1000)
    }
  } finally {
    closeSync(fd)
  }
  return spread(samples).median
}

export function machine(dir: string): Array<[string, string]> {
  const cpus = os.cpus()
  const fs = statfsSync(dir)
  const require = createRequire(import.meta.url)
  const bs3Pkg = JSON.parse(
    readFileSync(join(dirname(require.resolve('better-sqlite3')), '..', 'package.json'), 'utf8'),
  ) as {
    version: string
  }
  const mem = new Database(':memory:')
  const sqliteVersion = mem.prepare('SELECT sqlite_version()').pluck().get() as string
  mem.close()
  const gib = (n: number): string => `${(n / 2 ** 30).toFixed(1)} GiB`
  return [
    ['cpu', `${cpus[0]?.model ?? 'unknown'} × ${cpus.length} (available parallelism ${os.availableParallelism()})`],
    ['memory', `${gib(os.totalmem())} total, ${gib(os.freemem())} free at start`],
    ['kernel', `${os.type()} ${os.release()} ${os.arch()}`],
    ['disk', `${mountOf(dir)}, ${gib(fs.bavail * fs.bsize)} free of ${gib(fs.blocks * fs.bsize)}`],
    ['disk fsync', `4 KiB write + fdatasync p50 ${fsyncProbeUs(dir).toFixed(0)} µs`],
    ['node', process.version],
    ['sqlite', sqliteVersion],
    ['better-sqlite3', bs3Pkg.version],
  ]
}
