// The durable log store against plain better-sqlite3 on the same disk, in one run:
//   1. append throughput: 100 B and 1 KiB values × durability fsync/os × records per commit 1/64/512/4096
//      (store: sequential `await store.append(batch)`, each its own group commit; plus a "group" row of
//      many single-record appends in flight at once), against raw INSERTs of the same batch in one
//      transaction each, same table shape, pragmas and checkpoint cadence. Target: store ≥ 80 % of raw
//      for batches ≥ 64.
//   2. read throughput: store.read front to back in chunks of 500 (and the same SELECT, raw).
//   3. offset-for-timestamp latency on a partition of --records records (default 10 M).
// Every measurement is repeated --reps times (store and raw interleaved, order rotated per repetition)
// and reported as median (min–max): the machine is shared and noisy.
//
// Run: npm run bench:log -- [--dir DIR] [--records N] [--seconds S] [--reps R] [--in-flight K]

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { LogStore } from '../src/log/log-store.ts'
import type { Durability, RecordInput } from '../src/log/types.ts'
import { openRawReader, openRawWriter, type CheckpointCadence } from './bench-log/raw.ts'
import {
  fmtCount,
  fmtDuration,
  fmtMB,
  fmtPct,
  fmtSpread,
  machine,
  percentile,
  spread,
  table,
  type Spread,
} from './bench-log/report.ts'

// ---- options ----

const { values: args } = parseArgs({
  options: {
    dir: { type: 'string', default: os.tmpdir() },
    records: { type: 'string', default: '10000000' },
    seconds: { type: 'string', default: '2' },
    reps: { type: 'string', default: '3' },
    'in-flight': { type: 'string', default: '512' },
    filter: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
})
if (args.help) {
  console.log(`usage: npm run bench:log -- [options]
  --dir DIR        parent of the temporary data dir (default ${os.tmpdir()}); measures that disk
  --records N      records in the offset-for-timestamp partition (default 10000000)
  --seconds S      length of one append/read measurement (default 2)
  --reps R         repetitions of every measurement; the median is reported (default 3)
  --in-flight K    concurrent single-record appends in the group-commit row (default 512)
  --filter REGEX   run only the parts whose label matches, e.g. 'append 100 B os batch (64|512)', 'lookup|read'
                   (labels: 'append <100|1024> B <fsync|os> batch <n>', 'lookup', 'read <100|1024> B')`)
  process.exit(0)
}
function positive(name: string, text: string, integer: boolean): number {
  const n = Number(text)
  if (!(n > 0) || (integer && !Number.isSafeInteger(n))) {
    console.error(`--${name} must be a positive ${integer ? 'integer' : 'number'} (got ${text})`)
    process.exit(2)
  }
  return n
}
const lookupRecords = positive('records', args.records, true)
const measureMs = positive('seconds', args.seconds, false) * 1000
const reps = positive('reps', args.reps, true)
const inFlight = positive('in-flight', args['in-flight'], true)
const warmupMs = Math.min(300, measureMs / 4)
const valueSizes = [100, 1024] as const
const durabilityModes: readonly Durability[] = ['fsync', 'os']
const batchSizes = [1, 64, 512, 4096] as const
/** The group-commit row runs in the cell of this batch size and is compared with its raw rate. */
const groupBatch = 512
/** Bounds the disk one measurement can fill on a fast machine. */
const maxRecordsPerMeasurement = 4_000_000
const readChunk = 500
const readRecords1k = Math.min(lookupRecords, 500_000)
const lookups = 1000
const buildBatch = 4096
const timestampJitterMs = 64

// The store's default checkpoint policy (checkpointer.ts), passed explicitly to both sides so the
// cadence is the same by construction.
const cadence: CheckpointCadence = {
  intervalMs: 1_000,
  passiveAfterBytes: 4 * 1024 * 1024,
  truncateAboveBytes: 64 * 1024 * 1024,
}

// ---- temp dir ----

const startedAt = performance.now()
mkdirSync(args.dir, { recursive: true })
const root = mkdtempSync(join(args.dir, 'cairn-bench-log-'))
let cleaned = false
function cleanup(): void {
  if (cleaned) return
  cleaned = true
  rmSync(root, { recursive: true, force: true })
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    cleanup()
    process.exit(130)
  })
}
let dirCounter = 0
const freshDir = (): string => join(root, `m${dirCounter++}`)

// ---- workload ----

function mulberry32(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
const random = mulberry32(0xca1e)

function valueOf(size: number): Uint8Array {
  const v = new Uint8Array(size)
  for (let i = 0; i < size; i++) v[i] = Math.floor(random() * 256)
  return v
}
const values = new Map(valueSizes.map((size) => [size, valueOf(size)]))
const valueFor = (size: number): Uint8Array => values.get(size as 100 | 1024) as Uint8Array

/** `n` records with the same value, no key, headers or meta; the store stamps them with its clock. */
const batchOf = (n: number, value: Uint8Array): RecordInput[] => Array.from({ length: n }, () => ({ value }))

// ---- append measurements ----

interface AppendSample {
  recordsPerSec: number
  mbPerSec: number
  recordsPerCommit: number
}

type StoreMode = { kind: 'sequential'; batch: number } | { kind: 'group'; inFlight: number }

async function sequentialFor(store: LogStore, batch: RecordInput[], ms: number): Promise<[number, number]> {
  const start = performance.now()
  const end = start + ms
  let records = 0
  let now = start
  while (now < end && records < maxRecordsPerMeasurement) {
    await store.append('bench', 0, batch)
    records += batch.length
    now = performance.now()
  }
  return [records, (now - start) / 1000]
}

async function groupFor(
  store: LogStore,
  value: Uint8Array,
  concurrency: number,
  ms: number,
): Promise<[number, number]> {
  const one = batchOf(1, value)
  const start = performance.now()
  const end = start + ms
  let records = 0
  const worker = async (): Promise<void> => {
    while (performance.now() < end && records < maxRecordsPerMeasurement) {
      await store.append('bench', 0, one)
      records++
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return [records, (performance.now() - start) / 1000]
}

async function storeAppend(valueSize: number, durability: Durability, mode: StoreMode): Promise<AppendSample> {
  const dir = freshDir()
  const value = valueFor(valueSize)
  const store = LogStore.open({ dataDir: dir, checkpoint: cadence })
  try {
    store.createStream('bench', { durability, retentionMs: null })
    const run = (ms: number): Promise<[number, number]> =>
      mode.kind === 'sequential'
        ? sequentialFor(store, batchOf(mode.batch, value), ms)
        : groupFor(store, value, mode.inFlight, ms)
    await run(warmupMs)
    const commitsBefore = store.stats().commits
    const [records, seconds] = await run(measureMs)
    const commits = store.stats().commits - commitsBefore
    return {
      recordsPerSec: records / seconds,
      mbPerSec: (records * valueSize) / seconds / 1e6,
      recordsPerCommit: records / commits,
    }
  } finally {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

function rawAppend(valueSize: number, durability: Durability, batch: number): AppendSample {
  const dir = freshDir()
  mkdirSync(dir)
  const writer = openRawWriter(join(dir, 'raw.db'), durability, batch, valueFor(valueSize), cadence)
  try {
    writer.insertFor(warmupMs, maxRecordsPerMeasurement)
    const { records, seconds } = writer.insertFor(measureMs, maxRecordsPerMeasurement)
    return {
      recordsPerSec: records / seconds,
      mbPerSec: (records * valueSize) / seconds / 1e6,
      recordsPerCommit: batch,
    }
  } finally {
    writer.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

interface AppendCell {
  valueSize: number
  durability: Durability
  batch: number
  store: AppendSample[]
  raw: AppendSample[]
  group: AppendSample[]
}

const appendLabel = (valueSize: number, durability: Durability, batch: number): string =>
  `append ${valueSize} B ${durability} batch ${batch}`

async function appendCell(valueSize: number, durability: Durability, batch: number): Promise<AppendCell> {
  const cell: AppendCell = { valueSize, durability, batch, store: [], raw: [], group: [] }
  const label = appendLabel(valueSize, durability, batch)
  for (let rep = 0; rep < reps; rep++) {
    const runs: Array<() => Promise<void>> = [
      async () => void cell.store.push(await storeAppend(valueSize, durability, { kind: 'sequential', batch })),
      () => Promise.resolve(void cell.raw.push(rawAppend(valueSize, durability, batch))),
    ]
    if (batch === groupBatch)
      runs.push(async () => void cell.group.push(await storeAppend(valueSize, durability, { kind: 'group', inFlight })))
    // Rotate the order each repetition so that drift (a neighbour's burst, a warming disk) hits every side.
    for (let i = 0; i < runs.length; i++) await (runs[(i + rep) % runs.length] as () => Promise<void>)()
    const last = (samples: AppendSample[]): string => fmtCount(samples.at(-1)?.recordsPerSec ?? NaN)
    const group = batch === groupBatch ? `, group ${last(cell.group)}` : ''
    console.log(`  ${label} rep ${rep + 1}/${reps}: store ${last(cell.store)}, raw ${last(cell.raw)}${group} rec/s`)
  }
  return cell
}

// ---- the big partition: build, lookups, reads ----

interface BuildResult {
  records: number
  seconds: number
  firstTs: number
}

async function buildTimestamped(store: LogStore, stream: string, records: number): Promise<BuildResult> {
  const value = valueFor(100)
  const firstTs = Date.now() - records - 86_400_000
  const batch = Array.from({ length: buildBatch }, () => ({ value, timestamp: 0 }))
  const start = performance.now()
  let nextReport = records / 10
  for (let base = 0; base < records; base += buildBatch) {
    const n = Math.min(buildBatch, records - base)
    for (let i = 0; i < n; i++) {
      // About one record per millisecond, each up to ±jitter/2 off: timestamps are increasing, not sorted.
      const record = batch[i] as { timestamp: number }
      record.timestamp = firstTs + base + i + Math.floor(random() * timestampJitterMs) - timestampJitterMs / 2
    }
    await store.append(stream, 0, n === buildBatch ? batch : batch.slice(0, n))
    if (base + n >= nextReport) {
      const elapsed = (performance.now() - start) / 1000
      console.log(`  build ${stream}: ${fmtCount(base + n)} records, ${elapsed.toFixed(1)} s`)
      nextReport += records / 10
    }
  }
  return { records, seconds: (performance.now() - start) / 1000, firstTs }
}

async function buildPlain(store: LogStore, stream: string, valueSize: number, records: number): Promise<void> {
  const batch = batchOf(buildBatch, valueFor(valueSize))
  for (let base = 0; base < records; base += buildBatch)
    await store.append(stream, 0, base + buildBatch <= records ? batch : batch.slice(0, records - base))
}

interface LookupRep {
  p50: number
  p99: number
  max: number
}

function lookupRep(store: LogStore, stream: string, build: BuildResult): LookupRep {
  const span = build.records
  const once = (): number => {
    const target = build.firstTs + Math.floor(random() * span)
    const started = performance.now()
    const found = store.offsetForTimestamp(stream, 0, target)
    const us = (performance.now() - started) * 1000
    // Record i has ts in [firstTs + i - jitter/2, firstTs + i + jitter/2): the answer lies in a known window.
    const expected = target - build.firstTs
    const offset = found === null ? NaN : Number(found.offset)
    if (found === null || found.timestamp < target || Math.abs(offset - expected) > timestampJitterMs)
      throw new Error(`offsetForTimestamp(${target}) = ${JSON.stringify(found, (_k, v: unknown) => String(v))}`)
    return us
  }
  for (let i = 0; i < 100; i++) once()
  const samples = Array.from({ length: lookups }, once).sort((a, b) => a - b)
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), max: samples.at(-1) as number }
}

interface ReadSample {
  recordsPerSec: number
  mbPerSec: number
  recordsPerPass: number
}

function storeReadFor(store: LogStore, stream: string, ms: number): ReadSample {
  const endOffset = store.latestOffset(stream, 0)
  const start = performance.now()
  const end = start + ms
  let offset = 0n
  let records = 0
  let bytes = 0
  let now = start
  while (now < end && offset < endOffset) {
    const result = store.read(stream, 0, offset, { maxRecords: readChunk })
    for (const r of result.records) bytes += r.value?.length ?? 0
    records += result.records.length
    offset = result.nextOffset
    now = performance.now()
  }
  const seconds = (now - start) / 1000
  return { recordsPerSec: records / seconds, mbPerSec: bytes / seconds / 1e6, recordsPerPass: records }
}

interface ReadCell {
  valueSize: number
  records: number
  store: ReadSample[]
  raw: ReadSample[]
}

function readCell(store: LogStore, stream: string, valueSize: number): ReadCell {
  const endOffset = Number(store.latestOffset(stream, 0))
  const cell: ReadCell = { valueSize, records: endOffset, store: [], raw: [] }
  const raw = openRawReader(store.file, stream, 0, readChunk)
  try {
    const rawFor = (ms: number): ReadSample => {
      const r = raw.readFor(ms, endOffset)
      return { recordsPerSec: r.records / r.seconds, mbPerSec: r.bytes / r.seconds / 1e6, recordsPerPass: r.records }
    }
    storeReadFor(store, stream, warmupMs)
    rawFor(warmupMs)
    for (let rep = 0; rep < reps; rep++) {
      const runs = [
        () => cell.store.push(storeReadFor(store, stream, measureMs)),
        () => cell.raw.push(rawFor(measureMs)),
      ]
      for (let i = 0; i < runs.length; i++) (runs[(i + rep) % runs.length] as () => void)()
      const s = cell.store.at(-1) as ReadSample
      const r = cell.raw.at(-1) as ReadSample
      console.log(
        `  read ${valueSize} B rep ${rep + 1}/${reps}: store ${fmtCount(s.recordsPerSec)}, raw ${fmtCount(r.recordsPerSec)} rec/s`,
      )
    }
  } finally {
    raw.close()
  }
  return cell
}

// ---- report ----

const ratioSpread = (store: readonly { recordsPerSec: number }[], raw: readonly { recordsPerSec: number }[]): Spread =>
  spread(store.map((s, i) => s.recordsPerSec / (raw[i]?.recordsPerSec ?? NaN)))
const fmtRatio = (r: Spread): string => `${fmtPct(r.median)} (${fmtPct(r.min)}–${fmtPct(r.max)})`
const rates = (samples: readonly { recordsPerSec: number }[]): Spread => spread(samples.map((s) => s.recordsPerSec))
const mbs = (samples: readonly { mbPerSec: number }[]): string => fmtMB(spread(samples.map((s) => s.mbPerSec)).median)

function report(
  appendCells: readonly AppendCell[],
  readCells: readonly ReadCell[],
  build: BuildResult | undefined,
  lookup: readonly LookupRep[],
  machineRows: ReadonlyArray<[string, string]>,
): string {
  const rows: string[][] = []
  for (const c of appendCells) {
    const ratio = ratioSpread(c.store, c.raw)
    const target = c.batch >= 64 ? (ratio.median >= 0.8 ? 'PASS' : 'MISS') : '—'
    const common = [`${c.valueSize} B`, c.durability]
    rows.push([
      'append',
      ...common,
      String(c.batch),
      fmtSpread(rates(c.store)),
      mbs(c.store),
      fmtSpread(rates(c.raw)),
      mbs(c.raw),
      fmtRatio(ratio),
      target,
      '',
    ])
    if (c.group.length > 0) {
      const gRatio = ratioSpread(c.group, c.raw)
      const batch1 = appendCells.find(
        (b) => b.valueSize === c.valueSize && b.durability === c.durability && b.batch === 1,
      )
      const speedup =
        batch1 === undefined
          ? ''
          : `; ×${(rates(c.group).median / rates(batch1.store).median).toFixed(0)} vs store batch 1`
      const perCommit = spread(c.group.map((s) => s.recordsPerCommit)).median
      rows.push([
        'append group',
        ...common,
        `1 ×${inFlight}`,
        fmtSpread(rates(c.group)),
        mbs(c.group),
        fmtSpread(rates(c.raw)),
        mbs(c.raw),
        fmtRatio(gRatio),
        gRatio.median >= 0.8 ? 'PASS' : 'MISS',
        `raw = batch ${c.batch}; ≈${Math.round(perCommit)} rec/commit${speedup}`,
      ])
    }
  }
  for (const c of readCells) {
    const perPass = spread(c.store.map((s) => s.recordsPerPass)).median
    rows.push([
      'read',
      `${c.valueSize} B`,
      'os',
      String(readChunk),
      fmtSpread(rates(c.store)),
      mbs(c.store),
      fmtSpread(rates(c.raw)),
      mbs(c.raw),
      fmtRatio(ratioSpread(c.store, c.raw)),
      '—',
      `${fmtCount(c.records)}-record partition, ${perPass >= c.records ? 'all' : fmtCount(perPass)} read per pass`,
    ])
  }
  const header = [
    'test',
    'value',
    'durability',
    'batch',
    'store rec/s (min–max)',
    'store MB/s',
    'raw rec/s (min–max)',
    'raw MB/s',
    'store/raw (min–max)',
    '≥80%',
    'note',
  ]
  const right = [false, true, false, true, true, true, true, true, true, false, false]
  const out: string[] = []
  if (rows.length > 0) {
    out.push(table(header, rows, right), '')
    out.push(
      'MB/s = value bytes (10^6) per second. store/raw = median of the per-repetition ratios (store and raw run back to back).',
      'raw = one INSERT per record in one transaction per batch, same table shape, pragmas and checkpoint cadence; it skips',
      'what the store adds per commit (the partition-row UPDATE, a segment_index row every 1024 records, the group-commit',
      'queue: a setImmediate turn and a promise per append) and per record (encoding, the result objects).',
      '',
    )
  }
  if (build !== undefined) {
    if (lookup.length > 0) {
      const stat = (pick: (r: LookupRep) => number): string =>
        fmtSpread(spread(lookup.map(pick)), (n) => n.toFixed(n < 100 ? 1 : 0))
      const lookupRow = [
        'random ts, 100 B values',
        fmtCount(build.records),
        `${lookup.length} × ${lookups}`,
        stat((r) => r.p50),
        stat((r) => r.p99),
        stat((r) => r.max),
      ]
      const lookupHeader = [
        'offset-for-timestamp',
        'records',
        'lookups',
        'p50 µs (min–max)',
        'p99 µs (min–max)',
        'max µs (min–max)',
      ]
      out.push(table(lookupHeader, [lookupRow], [false, true, true, true, true, true]))
      out.push(
        `Timestamps rise ~1 ms per record with ±${timestampJitterMs / 2} ms jitter; a segment_index entry every 1024 records bounds each lookup's scan.`,
        '',
      )
    }
    const rate = fmtCount(build.records / build.seconds)
    out.push(
      `build: ${fmtCount(build.records)} records of 100 B (durability os, batches of ${buildBatch}) in ${build.seconds.toFixed(1)} s = ${rate} rec/s`,
      '',
    )
  }
  out.push('machine:', ...machineRows.map(([k, v]) => `  ${`${k}:`.padEnd(16)}${v}`))
  return out.join('\n')
}

// ---- main ----

const loadAverage = (): string =>
  os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(' ')

async function main(): Promise<void> {
  const filterText = args.filter === undefined ? '' : ` --filter '${args.filter}'`
  const command = `npm run bench:log -- --dir ${args.dir} --records ${lookupRecords} --seconds ${measureMs / 1000} --reps ${reps} --in-flight ${inFlight}${filterText}`
  const filter = args.filter === undefined ? undefined : new RegExp(args.filter)
  const wanted = (label: string): boolean => filter === undefined || filter.test(label)
  console.log(`cairn log store benchmark: ${command}`)
  console.log(`data dir ${root}`)
  const machineRows = machine(root)
  const loadAtStart = loadAverage()

  const appendCells: AppendCell[] = []
  for (const valueSize of valueSizes)
    for (const durability of durabilityModes)
      for (const batch of batchSizes)
        if (wanted(appendLabel(valueSize, durability, batch)))
          appendCells.push(await appendCell(valueSize, durability, batch))

  let build: BuildResult | undefined
  const lookup: LookupRep[] = []
  const readCells: ReadCell[] = []
  if (wanted('lookup') || wanted('read 100 B') || wanted('read 1024 B')) {
    const store = LogStore.open({ dataDir: join(root, 'big'), checkpoint: cadence })
    try {
      if (wanted('lookup') || wanted('read 100 B')) {
        store.createStream('ts-100', { durability: 'os', retentionMs: null })
        build = await buildTimestamped(store, 'ts-100', lookupRecords)
        console.log(`  built ${fmtCount(build.records)} records in ${build.seconds.toFixed(1)} s`)
        for (let rep = 0; rep < reps && wanted('lookup'); rep++) {
          const r = lookupRep(store, 'ts-100', build)
          lookup.push(r)
          console.log(
            `  lookup rep ${rep + 1}/${reps}: p50 ${r.p50.toFixed(1)} µs, p99 ${r.p99.toFixed(1)} µs, max ${r.max.toFixed(0)} µs`,
          )
        }
        if (wanted('read 100 B')) readCells.push(readCell(store, 'ts-100', 100))
      }
      if (wanted('read 1024 B')) {
        store.createStream('read-1k', { durability: 'os', retentionMs: null })
        await buildPlain(store, 'read-1k', 1024, readRecords1k)
        readCells.push(readCell(store, 'read-1k', 1024))
      }
    } finally {
      await store.close()
    }
  }

  console.log('')
  console.log(report(appendCells, readCells, build, lookup, machineRows))
  console.log(`  ${'load average:'.padEnd(16)}${loadAtStart} at start, ${loadAverage()} at end (1/5/15 min)`)
  console.log('')
  console.log(`command: ${command}`)
  console.log(`total run time: ${fmtDuration(performance.now() - startedAt)}`)
}

try {
  await main()
} finally {
  cleanup()
}
