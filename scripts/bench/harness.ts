// What every side-by-side script shares: flags, the rep loop (a fresh broker per run, the order of the brokers
// rotated each rep so drift on the shared machine favours none), latency percentiles, and the report.

import { writeFileSync } from 'node:fs'
import os from 'node:os'
import { percentile, spread, type Spread } from '../bench-log/report.ts'
import { machine } from '../bench-log/report.ts'
import {
  cpuSec,
  startBroker,
  stopBroker,
  versions,
  type Broker,
  type BrokerName,
  type StartOptions,
} from './brokers.ts'

export type Metrics = Record<string, number>

/** Runs `measure` against each broker `reps` times; returns every rep's metrics per broker. */
export async function sideBySide(
  brokers: readonly BrokerName[],
  reps: number,
  label: string,
  start: Omit<StartOptions, 'nodeFlags'> & { nodeFlags?: (name: BrokerName) => readonly string[] },
  measure: (broker: Broker) => Promise<Metrics>,
): Promise<Map<BrokerName, Metrics[]>> {
  const results = new Map<BrokerName, Metrics[]>(brokers.map((b) => [b, []]))
  for (let r = 0; r < reps; r++) {
    const order = brokers.map((_, i) => brokers[(i + r) % brokers.length] as BrokerName)
    for (const name of order) {
      const { nodeFlags: flagsFor, ...rest } = start
      const nodeFlags = flagsFor?.(name)
      const broker = await startBroker(name, { ...rest, ...(nodeFlags === undefined ? {} : { nodeFlags }) })
      try {
        const cpuBefore = cpuSec(broker.pid)
        const t = performance.now()
        const metrics = await measure(broker)
        const wallSec = (performance.now() - t) / 1000
        metrics.brokerCpuSec ??= cpuSec(broker.pid) - cpuBefore
        metrics.brokerCpuPct ??= (metrics.brokerCpuSec / wallSec) * 100
        results.get(name)?.push(metrics)
        process.stderr.write(`${label} ${name} rep ${r + 1}/${reps}: ${summarize(metrics)}\n`)
      } finally {
        await stopBroker(broker)
      }
    }
  }
  return results
}

function summarize(m: Metrics): string {
  return Object.entries(m)
    .map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toFixed(2)}`)
    .join(' ')
}

export function metricSpread(runs: readonly Metrics[] | undefined, key: string): Spread {
  return spread((runs ?? []).map((m) => m[key]).filter((v): v is number => v !== undefined && Number.isFinite(v)))
}

export function latencyMetrics(prefix: string, samples: Float64Array): Metrics {
  const sorted = Array.from(samples).sort((a, b) => a - b)
  return {
    [`${prefix}P50`]: percentile(sorted, 50),
    [`${prefix}P99`]: percentile(sorted, 99),
    [`${prefix}Max`]: sorted.at(-1) ?? NaN,
  }
}

/** CPU time of this process (harness + generator threads) in seconds. */
export function generatorCpuSec(): number {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1e6
}

export function environmentLines(dir: string): string[] {
  const load = (): string =>
    os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')
  return [
    ...machine(dir).map(([k, v]) => `- ${k}: ${v}`),
    ...versions().map(([k, v]) => `- ${k}: ${v}`),
    `- load average at start: ${load()} (1/5/15 min)`,
  ]
}

/** Prints the report and, with --markdown FILE, writes it there too. */
export function emit(lines: readonly string[], markdownFile: string | undefined): void {
  const text = `${lines.join('\n')}\n`
  process.stdout.write(text)
  if (markdownFile !== undefined && markdownFile !== '') writeFileSync(markdownFile, text)
}

export const fmtMs = (n: number): string => (Number.isFinite(n) ? (n >= 100 ? n.toFixed(0) : n.toFixed(2)) : '—')
export const fmtRatio = (n: number): string => (Number.isFinite(n) ? `${n.toFixed(2)}×` : '—')
