// Side-by-side MQTT throughput and latency: Cairn (durability fsync and os) against mosquitto and aedes.
//   (a) QoS 0 ingest: --publishers publishers flat out, 100 B and 1 KiB, one `bench/#` subscriber (QoS 0);
//   (b) QoS 1 ingest: the same with QoS 1, --window unacknowledged publishes per publisher, subscriber QoS 1;
//   (c) QoS 1 latency: --rate msg/s in total, PUBACK and end-to-end p50/p99/max.
// Every run gets a fresh broker; the order of the brokers rotates each rep. Median (min–max) of --reps runs and
// the ratio Cairn/anchor of the medians.
//
// Run: npm run bench:mqtt -- [--reps 3] [--seconds 5] [--scenarios a,b,c] [--brokers ...] [--markdown FILE]

import os from 'node:os'
import { parseArgs } from 'node:util'
import { fmtCount, fmtSpread, spread, table } from '../bench-log/report.ts'
import { allBrokers, isCairn, type BrokerName } from './brokers.ts'
import {
  emit,
  environmentLines,
  fmtMs,
  fmtRatio,
  generatorCpuSec,
  latencyMetrics,
  metricSpread,
  sideBySide,
  type Metrics,
} from './harness.ts'
import { runLoad } from './loadgen.ts'

const { values: args } = parseArgs({
  options: {
    reps: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '5' },
    scenarios: { type: 'string', default: 'a,b,c' },
    sizes: { type: 'string', default: '100,1024' },
    brokers: { type: 'string', default: allBrokers.join(',') },
    publishers: { type: 'string', default: '10' },
    window: { type: 'string', default: '100' },
    rate: { type: 'string', default: '10000' },
    'publisher-threads': { type: 'string', default: '1' },
    dir: { type: 'string', default: os.tmpdir() },
    markdown: { type: 'string' },
    'cpu-prof': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
})
if (args.help) {
  console.log(`usage: npm run bench:mqtt -- [options]
  --reps R               runs per broker and cell; median (min–max) reported (default 3)
  --seconds S            publishing time per run (default 5)
  --scenarios LIST       a (QoS 0 ingest), b (QoS 1 ingest), c (QoS 1 latency at --rate) (default a,b,c)
  --sizes LIST           payload bytes for a and b (default 100,1024; c uses the first)
  --brokers LIST         of ${allBrokers.join(', ')} (default all)
  --publishers N         publisher connections (default 10)
  --window W             QoS 1 publishes in flight per publisher (default 100)
  --rate N               total msg/s for c (default 10000)
  --publisher-threads N  worker threads the publishers are spread over (default 1)
  --dir DIR              parent of the brokers' temporary dirs (default ${os.tmpdir()})
  --markdown FILE        also write the report to FILE
  --cpu-prof DIR         run Cairn under node --cpu-prof, profiles written to DIR (summarize them with
                         scripts/bench/profile-summary.ts)`)
  process.exit(0)
}
const reps = Number(args.reps)
const durationMs = Number(args.seconds) * 1000
const scenarios = new Set(args.scenarios.split(','))
const sizes = args.sizes.split(',').map(Number)
const brokers = args.brokers.split(',') as BrokerName[]
const publishers = Number(args.publishers)
const window = Number(args.window)
const rate = Number(args.rate)
const publisherThreads = Number(args['publisher-threads'])
const started = Date.now()
const profileDir = args['cpu-prof']
const startOptions = {
  parentDir: args.dir,
  ...(profileDir === undefined
    ? {}
    : { nodeFlags: (b: BrokerName) => (isCairn(b) ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []) }),
}
const out: string[] = [
  `### MQTT side by side (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC)`,
  '',
  ...environmentLines(args.dir),
  `- command: npm run bench:mqtt -- ${process.argv.slice(2).join(' ')}`.trimEnd(),
  `- ${publishers} publishers (${publisherThreads} worker thread), ${args.seconds} s of publishing per run, ${reps} reps, a fresh broker per run`,
  '',
]

async function throughput(qos: 0 | 1, bytes: number): Promise<Map<BrokerName, Metrics[]>> {
  return sideBySide(brokers, reps, `${qos === 0 ? 'a' : 'b'} ${bytes} B`, startOptions, async (broker) => {
    const cpu0 = generatorCpuSec()
    const result = await runLoad({
      port: broker.port,
      publishers,
      publisherThreads,
      qos,
      payloadBytes: bytes,
      durationMs,
      ratePerSec: 0,
      window,
      subscribe: 'bench/#',
      subscriberQos: qos,
    })
    const sub = result.subscriber
    const sent = result.publishers.sent
    return {
      received: sub?.received ?? 0,
      delivered: result.deliveredPerSec,
      ingest: result.ingestPerSec,
      lossPct: sub === null ? NaN : (100 * (sent - sub.received)) / sent,
      outOfOrder: sub?.outOfOrder ?? NaN,
      genCpuUsPerMsg: ((generatorCpuSec() - cpu0) * 1e6) / Math.max(1, sent + (sub?.received ?? 0)),
    }
  })
}

async function latency(bytes: number): Promise<Map<BrokerName, Metrics[]>> {
  return sideBySide(brokers, reps, `c ${rate}/s`, startOptions, async (broker) => {
    const result = await runLoad({
      port: broker.port,
      publishers,
      publisherThreads,
      qos: 1,
      payloadBytes: bytes,
      durationMs,
      ratePerSec: rate,
      window,
      subscribe: 'bench/#',
      subscriberQos: 1,
      collectLatency: true,
    })
    const sub = result.subscriber
    return {
      achieved: result.ingestPerSec,
      ...latencyMetrics('puback', result.publishers.pubackMs),
      ...latencyMetrics('e2e', sub?.e2eMs ?? new Float64Array()),
      lossPct: sub === null ? NaN : (100 * (result.publishers.sent - sub.received)) / result.publishers.sent,
    }
  })
}

/** Rows: one per broker; the metric median (min–max) and, for Cairn, its ratio to each anchor. */
function throughputRows(
  cell: string,
  runs: Map<BrokerName, Metrics[]>,
  target: { mosquitto: number; aedes: number } | null,
): string[][] {
  const med = (b: BrokerName, k: string): number => metricSpread(runs.get(b), k).median
  return brokers.map((b) => {
    const vsMosq = med(b, 'delivered') / med('mosquitto', 'delivered')
    const vsAedes = med(b, 'delivered') / med('aedes', 'delivered')
    const verdict =
      target === null || !isCairn(b)
        ? '—'
        : `${vsMosq >= target.mosquitto ? 'met' : 'MISSED'} ≥${target.mosquitto}× mosq, ${vsAedes >= target.aedes ? 'met' : 'MISSED'} ≥${target.aedes}× aedes`
    return [
      cell,
      b,
      fmtSpread(metricSpread(runs.get(b), 'delivered')),
      fmtSpread(metricSpread(runs.get(b), 'ingest')),
      metricSpread(runs.get(b), 'lossPct').max.toFixed(1),
      String(metricSpread(runs.get(b), 'outOfOrder').max),
      metricSpread(runs.get(b), 'brokerCpuPct').median.toFixed(0),
      spread((runs.get(b) ?? []).map((m) => ((m.brokerCpuSec ?? NaN) * 1e6) / (m.received ?? NaN))).median.toFixed(1),
      metricSpread(runs.get(b), 'genCpuUsPerMsg').median.toFixed(2),
      isCairn(b) ? fmtRatio(vsMosq) : '—',
      isCairn(b) ? fmtRatio(vsAedes) : '—',
      verdict,
    ]
  })
}

const throughputHeader = [
  'scenario',
  'broker',
  'delivered msg/s (min–max)',
  'ingest msg/s (min–max)',
  'max loss %',
  'reordered',
  'broker CPU %',
  'broker CPU µs/msg',
  'generator CPU µs/msg',
  '×mosquitto',
  '×aedes',
  'target',
]
const throughputRight = [false, false, true, true, true, true, true, true, true, true, true, false]

for (const qos of [0, 1] as const) {
  if (!scenarios.has(qos === 0 ? 'a' : 'b')) continue
  const rows: string[][] = []
  for (const bytes of sizes) {
    const runs = await throughput(qos, bytes)
    const target = bytes !== 100 ? null : qos === 0 ? { mosquitto: 0.6, aedes: 2.5 } : { mosquitto: 1.0, aedes: 1.3 }
    rows.push(...throughputRows(`(${qos === 0 ? 'a' : 'b'}) QoS ${qos} ${bytes} B`, runs, target))
  }
  out.push(table(throughputHeader, rows, throughputRight), '')
}

if (scenarios.has('c')) {
  const bytes = sizes[0] ?? 100
  const runs = await latency(bytes)
  const rows = brokers.map((b) => {
    const s = (k: string): string => fmtSpread(metricSpread(runs.get(b), k), fmtMs)
    const p99 = (k: string): number => metricSpread(runs.get(b), k).median
    const verdict = !isCairn(b)
      ? '—'
      : `${p99('pubackP99') <= 2 ? 'met' : 'MISSED'} PUBACK ≤2, ${p99('e2eP99') <= 5 ? 'met' : 'MISSED'} e2e ≤5`
    return [
      `(c) QoS 1 ${bytes} B @ ${fmtCount(rate)}/s`,
      b,
      fmtCount(metricSpread(runs.get(b), 'achieved').median),
      s('pubackP50'),
      s('pubackP99'),
      s('pubackMax'),
      s('e2eP50'),
      s('e2eP99'),
      s('e2eMax'),
      metricSpread(runs.get(b), 'brokerCpuPct').median.toFixed(0),
      verdict,
    ]
  })
  out.push(
    table(
      [
        'scenario',
        'broker',
        'acked msg/s',
        'PUBACK p50 ms',
        'PUBACK p99 ms',
        'PUBACK max ms',
        'e2e p50 ms',
        'e2e p99 ms',
        'e2e max ms',
        'broker CPU %',
        'target',
      ],
      rows,
      [false, false, true, true, true, true, true, true, true, true, false],
    ),
    '',
  )
}

out.push(
  `- load average at end: ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}; total run time ${((Date.now() - started) / 60000).toFixed(1)} min`,
)
emit(out, args.markdown)
