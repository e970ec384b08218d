// Mirror drain rate against kcat, into the same librdkafka mock cluster (hosted by kcat, mirror.md A5), in one run:
//   mirror: a LogStore pre-filled with a backlog of --records values (100 B; 1 KiB: --records-1k), then a Mirror
//           with one link (KafkajsSink) is started and timed until status() shows lag 0 on every partition;
//   kcat:   `kcat -P` produces the same values (byte for byte, keys null) from a file to its own topic of the same
//           mock, timed from spawn to exit (it flushes on EOF and exits after the last ack);
//   kcat + headers: the same, each record carrying 7 static headers of the size of the mirror's provenance
//           headers (the mirror sends them with every record; plain kcat does not).
// First a sweep of the link's batch limits (batchMaxRecords × batchMaxBytes) on a smaller backlog picks the
// best; the full backlogs run with it. A 4-partition variant (100 B) follows, then one profiled drain.
// Every cell is repeated --reps times (order alternated); median (min–max); ratio mirror/kcat of the medians.
//
// Run: npm run bench:mirror -- [--records N] [--records-1k N] [--reps R] [--sweep-records N] [--dir DIR] ...

import { spawn } from 'node:child_process'
import { closeSync, openSync, rmSync, mkdtempSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { KafkajsSink } from '../src/mirror/kafkajs-sink.ts'
import { defaultLinkSettings, Mirror } from '../src/mirror/mirror.ts'
import { kcat, startKafkaMock, type KafkaMock } from '../test/helpers/kafka-mock.ts'
import { profiled, summarize } from './bench-mirror/cpu-profile.ts'
import { filledStore, makeWorkload, writeKcatInput, type FilledStore, type Workload } from './bench-mirror/workload.ts'
import { fmtCount, fmtDuration, fmtMB, fmtPct, fmtSpread, machine, spread, table } from './bench-log/report.ts'

const { values: args } = parseArgs({
  options: {
    records: { type: 'string', default: '1000000' },
    'records-1k': { type: 'string', default: '250000' },
    'sweep-records': { type: 'string', default: '100000' },
    reps: { type: 'string', default: '3' },
    sizes: { type: 'string', default: '100,1024' },
    batch: { type: 'string' },
    'four-partitions': { type: 'string', default: 'on' },
    'profile-records': { type: 'string', default: '200000' },
    'profile-size': { type: 'string', default: '100' },
    dir: { type: 'string', default: os.tmpdir() },
    help: { type: 'boolean', default: false },
  },
})
if (args.help) {
  console.log(`usage: npm run bench:mirror -- [options]
  --records N          backlog of 100 B values (default 1000000)
  --records-1k N       backlog of 1 KiB values (default 250000)
  --sweep-records N    backlog of the batch-limit sweep at 100 B; 1 KiB uses a quarter (default 100000)
  --batch R:B          skip the sweep, use batchMaxRecords R and batchMaxBytes B
  --reps R             repetitions of every cell; the median is reported (default 3)
  --sizes LIST         value sizes in bytes (default 100,1024)
  --four-partitions on|off   the 4-partition variant at 100 B (default on)
  --profile-records N  records of the profiled drain; 0 = no profile (default 200000)
  --profile-size B     value size of the profiled drain (default 100)
  --dir DIR            parent of the temporary stores and kcat input files (default ${os.tmpdir()})`)
  process.exit(0)
}
const reps = Number(args.reps)
const sizes = args.sizes.split(',').map(Number)
const sweepRecords = Number(args['sweep-records'])
const profileRecords = Number(args['profile-records'])
const backlogOf = (bytes: number): number => Number(bytes === 100 ? args.records : args['records-1k'])
const sweepOf = (bytes: number): number => (bytes === 100 ? sweepRecords : Math.floor(sweepRecords / 4))

interface BatchLimits {
  records: number
  bytes: number
}
const defaults: BatchLimits = { records: defaultLinkSettings.batchMaxRecords, bytes: defaultLinkSettings.batchMaxBytes }
const grid: BatchLimits[] = [500, 2000, 5000].flatMap((records) =>
  [256 * 1024, 1024 * 1024].map((bytes) => ({ records, bytes })),
)
const limitsLabel = (l: BatchLimits): string =>
  `${l.records} rec / ${l.bytes >= 1024 * 1024 ? `${l.bytes / (1024 * 1024)} MiB` : `${l.bytes / 1024} KiB`}`
const sizeLabel = (bytes: number): string => (bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} B`)
const isDefault = (l: BatchLimits): boolean => l.records === defaults.records && l.bytes === defaults.bytes

// librdkafka settings of `kcat -P` (stated in the output). acks=all for parity with the mirror's sink.
const kcatSettings = ['acks=all', 'linger.ms=5', 'batch.num.messages=10000']
// Static headers the size of the mirror's provenance headers (replication-policy.ts) for a 7-digit offset.
const kcatHeaders = [
  'em.v=1',
  'em.src=bench1',
  'em.src.topic=bench',
  'em.src.part=0',
  'em.src.off=1234567',
  `em.src.ts=${Date.now()}`,
  'em.src.epoch=0',
]

const log = (line: string): void => void process.stderr.write(`${line}\n`)
const started = performance.now()
const loadStart = os.loadavg()
let seq = 0

/** Records in `topic` upstream (sum of the high watermarks), read after each run (not timed). */
async function upstreamRecords(topic: string): Promise<bigint> {
  const partitions = await verifier.partitionCount(topic)
  let total = 0n
  for (let p = 0; p < partitions; p++) total += (await verifier.offsets(topic, p)).latest
  return total
}

interface DrainResult {
  seconds: number
  /** CPU time of this process per record (user + system), µs. */
  cpuUsPerRecord: number
}

/** Mirrors `filled` through a new link (its own cursor and upstream topic) until lag 0; timed from start. */
async function drainMirror(mock: KafkaMock, filled: FilledStore, limits: BatchLimits): Promise<DrainResult> {
  const name = `bench${++seq}`
  const mirror = new Mirror({
    store: filled.store,
    links: [
      {
        ...defaultLinkSettings,
        name,
        gatewayAlias: name,
        recoveryGraceMs: 0,
        batchMaxRecords: limits.records,
        batchMaxBytes: limits.bytes,
      },
    ],
    sinkFor: () => new KafkajsSink({ brokers: [mock.bootstrap], clientId: 'bench' }),
  })
  const cpu = process.cpuUsage()
  const t = performance.now()
  let seconds: number
  try {
    mirror.prepare()
    mirror.start()
    let lastProgress = performance.now()
    let lastConfirmed = -1
    let reported = ''
    for (;;) {
      const status = mirror.status()[0]
      if (status === undefined) throw new Error('no link status')
      const parts = status.partitions
      if (parts.length === filled.partitions && parts.every((p) => p.lagRecords === 0n)) break
      const confirmed = parts.reduce((sum, p) => sum + p.confirmedRecords, 0)
      if (confirmed !== lastConfirmed) {
        lastConfirmed = confirmed
        lastProgress = performance.now()
      }
      if (status.lastError !== null && status.lastError.message !== reported) {
        reported = status.lastError.message
        log(`  mirror link error (${status.state}): ${status.lastError.code} ${reported}`)
      }
      if (performance.now() - lastProgress > 60_000) throw new Error(`mirror made no progress for 60 s: ${reported}`)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    seconds = (performance.now() - t) / 1000
  } finally {
    await mirror.close()
  }
  const used = process.cpuUsage(cpu)
  const upstream = await upstreamRecords(`${name}.${filled.stream}`)
  if (upstream !== BigInt(filled.records))
    throw new Error(`mirror: ${upstream} records upstream, ${filled.records} expected`)
  return { seconds, cpuUsPerRecord: (used.user + used.system) / filled.records }
}

/** `kcat -P` of `records` lines of `file` to a new topic; partition null = librdkafka's partitioner (4 partitions). */
async function runKcat(
  mock: KafkaMock,
  file: string,
  records: number,
  partition: number | null,
  headers: boolean,
): Promise<number> {
  const topic = `kcat${++seq}`
  const argv = ['-P', '-b', mock.bootstrap, '-t', topic]
  if (partition !== null) argv.push('-p', String(partition))
  for (const setting of kcatSettings) argv.push('-X', setting)
  if (headers) for (const h of kcatHeaders) argv.push('-H', h)
  const input = openSync(file, 'r')
  let stderr = ''
  const t = performance.now()
  try {
    const child = spawn(kcat.require(), argv, { stdio: [input, 'ignore', 'pipe'] })
    child.stderr?.setEncoding('utf8')
    child.stderr?.on('data', (chunk: string) => (stderr += chunk))
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject)
      child.once('exit', resolve)
    })
    if (code !== 0) throw new Error(`kcat ${argv.join(' ')} exited with ${code}: ${stderr}`)
  } finally {
    closeSync(input)
  }
  const seconds = (performance.now() - t) / 1000
  if (stderr.trim() !== '') log(`  kcat stderr: ${stderr.trim().slice(0, 500)}`)
  const upstream = await upstreamRecords(topic)
  if (upstream !== BigInt(records)) throw new Error(`kcat: ${upstream} records upstream, ${records} expected`)
  return seconds
}

async function kcatVersion(): Promise<string> {
  const child = spawn(kcat.require(), ['-V'], { stdio: ['ignore', 'pipe', 'ignore'] })
  let out = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => (out += chunk))
  await new Promise((resolve) => child.once('close', resolve))
  const version = /Version (\S+)/.exec(out)?.[1] ?? '?'
  const librdkafka = /librdkafka (\S+)/.exec(out)?.[1] ?? '?'
  return `kcat ${version}, librdkafka ${librdkafka}`
}

// ---- the run ----

const mock = await startKafkaMock({ brokers: 1 })
const workDir = mkdtempSync(join(args.dir, 'cairn-bench-mirror-files-'))
const verifier = new KafkajsSink({ brokers: [mock.bootstrap], clientId: 'bench-verify' })
await verifier.connect()
const versions = await kcatVersion()
const machineInfo = machine(args.dir)

interface Sweep {
  bytes: number
  records: number
  rates: Map<BatchLimits, number[]>
}
interface Cell {
  label: string
  bytes: number
  records: number
  partitions: number
  limits: BatchLimits
  mirror: number[]
  mirrorCpu: number[]
  kcat: number[]
  kcatHeaders: number[]
}
const sweeps: Sweep[] = []
const cells: Cell[] = []
let profileText = ''

try {
  for (const bytes of sizes) {
    const records = backlogOf(bytes)
    const workload: Workload = makeWorkload(bytes, records)

    // Sweep of the batch limits on a smaller backlog (rates are per record; the full backlog uses the best).
    let best: BatchLimits
    if (args.batch !== undefined) {
      const [r, b] = args.batch.split(':').map(Number)
      best = { records: r ?? defaults.records, bytes: b ?? defaults.bytes }
    } else {
      const sweepN = Math.min(records, sweepOf(bytes))
      const filled = await filledStore(workload, args.dir, sweepN, 1)
      const sweep: Sweep = { bytes, records: sweepN, rates: new Map(grid.map((l) => [l, []])) }
      try {
        for (let r = 0; r < reps; r++) {
          // Rotate the order each repetition so drift on a shared machine does not favour one setting.
          const order = grid.map((_, i) => grid[(i + r) % grid.length] as BatchLimits)
          for (const limits of order) {
            const result = await drainMirror(mock, filled, limits)
            sweep.rates.get(limits)?.push(sweepN / result.seconds)
          }
          log(`${bytes} B sweep rep ${r + 1}/${reps} done`)
        }
      } finally {
        await filled.close()
      }
      sweeps.push(sweep)
      best = [...sweep.rates].reduce((a, b) => (spread(b[1]).median > spread(a[1]).median ? b : a))[0]
    }

    const variants: Array<{ partitions: number; kcatPartition: number | null }> = [{ partitions: 1, kcatPartition: 0 }]
    if (bytes === 100 && args['four-partitions'] === 'on') variants.push({ partitions: 4, kcatPartition: null })
    const file = writeKcatInput(workload, workDir)
    for (const variant of variants) {
      const filled = await filledStore(workload, args.dir, records, variant.partitions)
      const cell: Cell = {
        label: `${sizeLabel(bytes)} × ${fmtCount(records)}, ${variant.partitions} partition${variant.partitions > 1 ? 's' : ''}`,
        bytes,
        records,
        partitions: variant.partitions,
        limits: best,
        mirror: [],
        mirrorCpu: [],
        kcat: [],
        kcatHeaders: [],
      }
      try {
        for (let r = 0; r < reps; r++) {
          const steps = [
            async () => {
              const result = await drainMirror(mock, filled, best)
              cell.mirror.push(records / result.seconds)
              cell.mirrorCpu.push(result.cpuUsPerRecord)
            },
            async () => cell.kcat.push(records / (await runKcat(mock, file, records, variant.kcatPartition, false))),
            async () =>
              cell.kcatHeaders.push(records / (await runKcat(mock, file, records, variant.kcatPartition, true))),
          ]
          if (r % 2 === 1) steps.reverse()
          for (const step of steps) await step()
          log(`${cell.label} rep ${r + 1}/${reps} done`)
        }
      } finally {
        await filled.close()
      }
      cells.push(cell)
    }
    rmSync(file, { force: true })
  }

  if (profileRecords > 0) {
    const bytes = Number(args['profile-size'])
    const limits = cells.find((c) => c.bytes === bytes)?.limits ?? defaults
    const filled = await filledStore(makeWorkload(bytes, profileRecords), args.dir, profileRecords, 1)
    try {
      const { result, profile } = await profiled(() => drainMirror(mock, filled, limits))
      const file = join(args.dir, `bench-mirror-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`)
      writeFileSync(file, JSON.stringify(profile))
      const summary = summarize(profile)
      const us = (ms: number): string => ((ms * 1000) / profileRecords).toFixed(2)
      profileText = [
        `Profiled drain: ${fmtCount(profileRecords)} records of ${bytes} B, 1 partition, ${limitsLabel(limits)}, ` +
          `${fmtCount(profileRecords / result.seconds)} rec/s under the profiler (1 ms sampling); ` +
          `${summary.totalMs.toFixed(0)} ms sampled = ${us(summary.totalMs)} µs per record. Profile: ${file}`,
        '',
        table(
          ['stage (first match on the stack)', 'ms', 'µs/record', 'share'],
          summary.stages.map((s) => [s.stage, s.ms.toFixed(0), us(s.ms), fmtPct(s.share)]),
          [false, true, true, true],
        ),
        '',
        table(
          ['top self time', 'ms', 'share'],
          summary.top.map((t) => [t.name, t.selfMs.toFixed(0), fmtPct(t.share)]),
          [false, true, true],
        ),
      ].join('\n')
    } finally {
      await filled.close()
    }
  }
} finally {
  await verifier.close()
  await mock.stop()
  rmSync(workDir, { recursive: true, force: true })
}

// ---- report ----

console.log(`\n## Mirror drain vs kcat -P (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC)\n`)
for (const [k, v] of machineInfo) console.log(`- ${k}: ${v}`)
console.log(`- upstream: librdkafka mock cluster, 1 broker, hosted by ${versions} (test/helpers/kafka-mock.ts)`)
console.log(`- kcat -P settings: ${kcatSettings.map((s) => `-X ${s}`).join(' ')} (others librdkafka defaults)`)
console.log(
  `- load average: ${loadStart.map((l) => l.toFixed(2)).join(' ')} at start, ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')} at end`,
)
console.log(`- ${reps} reps per cell; total run time ${fmtDuration(performance.now() - started)}\n`)

if (sweeps.length > 0) {
  console.log('Batch limits (mirror only; rec/s median (min–max)):\n')
  console.log(
    table(
      ['batchMaxRecords / batchMaxBytes', ...sweeps.map((s) => `${sizeLabel(s.bytes)} × ${fmtCount(s.records)}`)],
      grid.map((l) => [
        `${limitsLabel(l)}${isDefault(l) ? ' (default)' : ''}`,
        ...sweeps.map((s) => fmtSpread(spread(s.rates.get(l) ?? []))),
      ]),
      [false, ...sweeps.map(() => true)],
    ),
  )
  console.log('')
}

const mb = (rate: number, bytes: number): string => fmtMB((rate * bytes) / 1e6)
console.log(
  table(
    [
      'backlog',
      'batch limits',
      'mirror rec/s (min–max)',
      'MB/s',
      'kcat rec/s (min–max)',
      'MB/s',
      'mirror/kcat',
      '≥50%',
      'kcat+headers rec/s',
      'mirror CPU µs/rec',
    ],
    cells.map((c) => {
      const m = spread(c.mirror)
      const k = spread(c.kcat)
      const kh = spread(c.kcatHeaders)
      const ratio = m.median / k.median
      return [
        c.label,
        limitsLabel(c.limits),
        fmtSpread(m),
        mb(m.median, c.bytes),
        fmtSpread(k),
        mb(k.median, c.bytes),
        fmtPct(ratio),
        ratio >= 0.5 ? 'PASS' : 'MISS',
        fmtSpread(kh),
        spread(c.mirrorCpu).median.toFixed(1),
      ]
    }),
    [false, false, true, true, true, true, true, false, true, true],
  ),
)
console.log(
  '\nMB/s = value bytes (10^6) per second. mirror/kcat = ratio of the medians. kcat+headers = kcat -P with 7 static\n' +
    'headers per record the size of the mirror provenance headers. The mock keeps at most 5 MiB / 100 000 message sets\n' +
    'per partition (older ones are dropped): irrelevant to the rates; the upstream high watermark is checked after each run.',
)
if (profileText !== '') console.log(`\n${profileText}`)
