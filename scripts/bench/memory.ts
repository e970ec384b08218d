// Side-by-side memory and connection cost:
//   (d) --conns connections each publishing 1 msg/s (QoS 1, 100 B) for --d-seconds, one `bench/#` subscriber:
//       broker CPU and RSS (after the first 5 s, at the end, the largest), and the growth in between;
//   (e) idle RSS with 0 and --conns connected clients, and the runtime floor: bare Node with better-sqlite3
//       loaded and one database open (what a Node broker with SQLite cannot go below), measured in the same rep.
//
// Run: npm run bench:memory -- [--reps 3] [--d-seconds 30] [--conns 1000] [--scenarios d,e] [--markdown FILE]

import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import os from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { fmtSpread, spread, table } from '../bench-log/report.ts'
import { isCairn, rssBytes, type BrokerName } from './brokers.ts'
import { emit, environmentLines, metricSpread, sideBySide } from './harness.ts'
import { runLoad } from './loadgen.ts'

const { values: args } = parseArgs({
  options: {
    reps: { type: 'string', default: '3' },
    'd-seconds': { type: 'string', default: '30' },
    conns: { type: 'string', default: '1000' },
    scenarios: { type: 'string', default: 'd,e' },
    brokers: { type: 'string', default: 'cairn-fsync,cairn-os,mosquitto,aedes' },
    dir: { type: 'string', default: os.tmpdir() },
    markdown: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
})
if (args.help) {
  console.log(`usage: npm run bench:memory -- [options]
  --reps R          runs per broker (default 3)
  --d-seconds S     length of (d) (default 30)
  --conns N         connections in (d) and (e) (default 1000)
  --scenarios LIST  d, e (default d,e)
  --brokers LIST    (default cairn-fsync,cairn-os,mosquitto,aedes)
  --dir DIR         parent of the brokers' temporary dirs (default ${os.tmpdir()})
  --markdown FILE   also write the report to FILE`)
  process.exit(0)
}
const reps = Number(args.reps)
const dSeconds = Number(args['d-seconds'])
const conns = Number(args.conns)
const scenarios = new Set(args.scenarios.split(','))
const brokers = args.brokers.split(',') as BrokerName[]
const settleMs = 1500
const MB = 2 ** 20
const started = Date.now()

/**
 * RSS of bare Node 24 with better-sqlite3 loaded and an open database, after the same settle time. With `typescript`
 * the same code runs from a .ts file, so Node's type stripping is loaded too, as it is for Cairn run from sources.
 */
async function runtimeFloor(typescript: boolean): Promise<number> {
  const repo = fileURLToPath(new URL('../..', import.meta.url))
  const code = [
    `import { createRequire } from 'node:module'`,
    `const require = createRequire(${JSON.stringify(join(repo, 'package.json'))})`,
    `const Database = require('better-sqlite3')`,
    `const db${typescript ? ': { prepare(sql: string): { get(): unknown } }' : ''} = new Database(':memory:')`,
    `db.prepare('select 1').get()`,
    `setInterval(() => {}, 1000)`,
  ].join('\n')
  const dir = mkdtempSync(join(args.dir, 'cairn-bench-floor-'))
  const file = join(dir, typescript ? 'floor.ts' : 'floor.mjs')
  writeFileSync(file, code)
  const child = spawn(process.execPath, [file], { stdio: 'ignore' })
  try {
    await sleep(settleMs)
    return rssBytes(child.pid ?? 0)
  } finally {
    child.kill('SIGTERM')
    rmSync(dir, { recursive: true, force: true })
  }
}

const out: string[] = [
  `### Memory and connections side by side (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC)`,
  '',
  ...environmentLines(args.dir),
  `- command: npm run bench:memory -- ${process.argv.slice(2).join(' ')}`.trimEnd(),
  '',
]

if (scenarios.has('e')) {
  const floors: number[] = []
  const tsFloors: number[] = []
  const runs = await sideBySide(brokers, reps, 'e idle', { parentDir: args.dir }, async (broker) => {
    floors.push(await runtimeFloor(false))
    tsFloors.push(await runtimeFloor(true))
    await sleep(settleMs)
    const idle0 = rssBytes(broker.pid)
    let idleN = NaN
    const load = runLoad({
      port: broker.port,
      publishers: conns,
      qos: 0,
      payloadBytes: 100,
      durationMs: settleMs + 1000,
      ratePerSec: -1,
      window: 1,
      subscribe: null,
      onGo: () => {
        setTimeout(() => {
          idleN = rssBytes(broker.pid)
        }, settleMs)
      },
    })
    const result = await load
    return {
      idle0Mb: idle0 / MB,
      idleNMb: idleN / MB,
      perConnKb: (idleN - idle0) / conns / 1024,
      connectErrors: result.publishers.connectErrors,
      brokerCpuPct: NaN,
    }
  })
  const floor = spread(floors.map((f) => f / MB))
  const tsFloor = spread(tsFloors.map((f) => f / MB))
  const rows = brokers.map((b) => {
    const idle0 = metricSpread(runs.get(b), 'idle0Mb')
    const perConn = metricSpread(runs.get(b), 'perConnKb')
    const overFloor = idle0.median / floor.median - 1
    const verdict = !isCairn(b)
      ? '—'
      : `${overFloor <= 0.15 ? 'met' : 'MISSED'} ≤15% over floor, ${perConn.median <= 20 ? 'met' : 'MISSED'} ≤20 KB/conn`
    return [
      b,
      fmtSpread(idle0, (n) => n.toFixed(1)),
      `${Math.round(overFloor * 100)}%`,
      `${Math.round((idle0.median / tsFloor.median - 1) * 100)}%`,
      fmtSpread(metricSpread(runs.get(b), 'idleNMb'), (n) => n.toFixed(1)),
      fmtSpread(perConn, (n) => n.toFixed(1)),
      String(metricSpread(runs.get(b), 'connectErrors').max),
      verdict,
    ]
  })
  out.push(
    `(e) idle RSS, ${settleMs} ms after start / after the last CONNACK. Runtime floor (bare Node + better-sqlite3, ` +
      `same rep): ${fmtSpread(floor, (n) => n.toFixed(1))} MB; the same run from a .ts file (Node's type stripping ` +
      `loaded, as for Cairn from sources): ${fmtSpread(tsFloor, (n) => n.toFixed(1))} MB.`,
    '',
    table(
      [
        'broker',
        'idle RSS MB, 0 conns',
        'over floor',
        'over .ts floor',
        `idle RSS MB, ${conns} conns`,
        'KB per idle conn',
        'connect errors',
        'target',
      ],
      rows,
      [false, true, true, true, true, true, true, false],
    ),
    '',
  )
}

if (scenarios.has('d')) {
  const runs = await sideBySide(brokers, reps, `d ${conns}×1/s`, { parentDir: args.dir }, async (broker) => {
    const samples: Array<{ atSec: number; rss: number }> = []
    let sampler: NodeJS.Timeout | null = null
    const t0 = performance.now()
    const result = await runLoad({
      port: broker.port,
      publishers: conns,
      qos: 1,
      payloadBytes: 100,
      durationMs: dSeconds * 1000,
      ratePerSec: conns,
      window: 10,
      subscribe: 'bench/#',
      subscriberQos: 1,
      onGo: () => {
        sampler = setInterval(
          () => samples.push({ atSec: (performance.now() - t0) / 1000, rss: rssBytes(broker.pid) }),
          1000,
        )
      },
    })
    if (sampler !== null) clearInterval(sampler)
    const afterWarmup = samples.find((s) => s.atSec >= 5) ?? samples[0]
    const last = samples.at(-1)
    const sub = result.subscriber
    return {
      acked: result.publishers.acked,
      received: sub?.received ?? NaN,
      rss5sMb: (afterWarmup?.rss ?? NaN) / MB,
      rssEndMb: (last?.rss ?? NaN) / MB,
      rssMaxMb: Math.max(...samples.map((s) => s.rss)) / MB,
      growthMb: ((last?.rss ?? NaN) - (afterWarmup?.rss ?? NaN)) / MB,
    }
  })
  const mb = (n: number): string => n.toFixed(1)
  const rows = brokers.map((b) => {
    const growth = metricSpread(runs.get(b), 'growthMb')
    return [
      b,
      fmtSpread(metricSpread(runs.get(b), 'brokerCpuPct'), (n) => n.toFixed(1)),
      fmtSpread(metricSpread(runs.get(b), 'rss5sMb'), mb),
      fmtSpread(metricSpread(runs.get(b), 'rssEndMb'), mb),
      fmtSpread(metricSpread(runs.get(b), 'rssMaxMb'), mb),
      fmtSpread(growth, mb),
      `${metricSpread(runs.get(b), 'acked').min} / ${metricSpread(runs.get(b), 'received').min}`,
      // Growth within the sampling noise (1 MB) counts as none.
      isCairn(b) ? (growth.median <= 1 ? 'met (no growth)' : 'MISSED (grows)') : '—',
    ]
  })
  out.push(
    `(d) ${conns} connections × 1 msg/s (QoS 1, 100 B) for ${dSeconds} s, one bench/# subscriber; RSS sampled every second; ` +
      `growth = end − after 5 s. CPU % of one core over the whole run (connect, load, drain).`,
    '',
    table(
      [
        'broker',
        'broker CPU %',
        'RSS MB after 5 s',
        'RSS MB at end',
        'RSS MB max',
        'growth MB',
        'acked / received (min)',
        'target',
      ],
      rows,
      [false, true, true, true, true, true, true, false],
    ),
    '',
  )
}

out.push(`- total run time ${((Date.now() - started) / 60000).toFixed(1)} min`)
emit(out, args.markdown)
