// Native protocol throughput through the TypeScript client, against the raw log store rate, in one run:
//   produce: an idempotent producer (acks all, the stream durable with fsync) sends --records values
//            of 100 B and 1 KiB to a broker running as a separate process (`cairn serve`, as deployed),
//            keeping --window send calls of --per-send records in flight;
//   fetch:   a consumer assigned to the partition reads them all back from offset 0;
//   raw:     the same records appended straight to a LogStore in this process (batches of --per-send,
//            --window in flight, fsync), and read back with store.read — the ceiling the protocol
//            and the client add their cost to.
// Every cell is repeated --reps times with a fresh data dir; the median (min–max) is reported, and the
// ratio native / raw of the medians.
//
// Run: npm run bench:native -- [--records N] [--reps R] [--per-send K] [--window W] [--dir DIR]

import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { pino } from 'pino'
import { CairnClient } from '../src/client/index.ts'
import { LogStore } from '../src/log/log-store.ts'
import type { RecordInput } from '../src/log/types.ts'
import { fmtCount, fmtMB, fmtPct, fmtSpread, machine, spread, table, type Spread } from './bench-log/report.ts'

const { values: args } = parseArgs({
  options: {
    records: { type: 'string', default: '200000' },
    reps: { type: 'string', default: '3' },
    'per-send': { type: 'string', default: '100' },
    window: { type: 'string', default: '64' },
    dir: { type: 'string', default: os.tmpdir() },
    help: { type: 'boolean', default: false },
  },
})
if (args.help) {
  console.log(`usage: npm run bench:native -- [options]
  --records N    records per cell (default 200000; 1 KiB cells use a quarter)
  --reps R       repetitions; the median is reported (default 3)
  --per-send K   records per send() call / raw append batch (default 100)
  --window W     send() calls (raw: appends) in flight (default 64)
  --dir DIR      parent of the temporary data dirs (default ${os.tmpdir()})`)
  process.exit(0)
}
const records = Number(args.records)
const reps = Number(args.reps)
const perSend = Number(args['per-send'])
const window = Number(args.window)
const cli = fileURLToPath(new URL('../gateway/cli.ts', import.meta.url))

interface Broker {
  child: ChildProcess
  port: number
  dir: string
}

async function startBroker(): Promise<Broker> {
  const dir = mkdtempSync(join(args.dir, 'cairn-bench-native-'))
  const child = spawn(
    process.execPath,
    [
      cli,
      'serve',
      '--data-dir',
      dir,
      '--mqtt',
      'off',
      '--http',
      'off',
      '--native',
      '127.0.0.1:0',
      '--log-level',
      'info',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`broker exited with ${code}`)))
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const parsed = JSON.parse(line) as { msg?: string; served?: { native?: string } }
      if (parsed.msg === 'listening') resolve(Number(/:(\d+)$/.exec(parsed.served?.native ?? '')?.[1]))
    })
  })
  return { child, port, dir }
}

async function stopBroker(broker: Broker): Promise<void> {
  const exited = new Promise((resolve) => broker.child.once('exit', resolve))
  broker.child.kill('SIGTERM')
  await exited
  rmSync(broker.dir, { recursive: true, force: true })
}

function value(bytes: number, i: number): Uint8Array {
  const v = new Uint8Array(bytes)
  v.fill(97 + (i % 26))
  return v
}

/** Runs `count` calls of `call(i)` with at most `inFlight` outstanding. */
async function pipelined(count: number, inFlight: number, call: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < count) await call(next++)
  }
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, lane))
}

async function nativeCell(bytes: number, n: number): Promise<{ produce: number; fetch: number }> {
  const broker = await startBroker()
  const client = new CairnClient({ port: broker.port, clientId: 'bench' })
  try {
    await client.admin().createStream('bench', { partitions: 1 })
    const producer = client.producer({ acks: -1, lingerMs: 1, batchMaxRecords: 1000 })
    const sends = Math.ceil(n / perSend)
    const payload = Array.from({ length: perSend }, (_, i) => ({ value: value(bytes, i), partition: 0 }))
    let t = performance.now()
    await pipelined(sends, window, (i) =>
      producer.send('bench', i === sends - 1 ? payload.slice(0, n - i * perSend) : payload),
    )
    await producer.flush()
    const produceSec = (performance.now() - t) / 1000
    await producer.close()

    const consumer = client.consumer({ maxWaitMs: 0 })
    consumer.assign([{ stream: 'bench', partition: 0, offset: 0n }])
    t = performance.now()
    let read = 0
    while (read < n) read += (await consumer.poll()).length
    const fetchSec = (performance.now() - t) / 1000
    await consumer.close()
    return { produce: n / produceSec, fetch: n / fetchSec }
  } finally {
    await client.close()
    await stopBroker(broker)
  }
}

async function rawCell(bytes: number, n: number): Promise<{ produce: number; fetch: number }> {
  const dir = mkdtempSync(join(args.dir, 'cairn-bench-raw-'))
  const store = LogStore.open({ dataDir: dir, logger: pino({ level: 'silent' }) })
  try {
    store.createStream('bench', { partitions: 1 })
    const batch: RecordInput[] = Array.from({ length: perSend }, (_, i) => ({ value: value(bytes, i) }))
    const batches = Math.ceil(n / perSend)
    let t = performance.now()
    await pipelined(batches, window, (i) =>
      store.append('bench', 0, i === batches - 1 ? batch.slice(0, n - i * perSend) : batch),
    )
    const produceSec = (performance.now() - t) / 1000
    t = performance.now()
    let offset = 0n
    while (offset < BigInt(n)) offset = store.read('bench', 0, offset, { maxRecords: 500 }).nextOffset
    const fetchSec = (performance.now() - t) / 1000
    return { produce: n / produceSec, fetch: n / fetchSec }
  } finally {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

const rows: string[][] = []
for (const bytes of [100, 1024]) {
  const n = bytes === 100 ? records : Math.floor(records / 4)
  const native = { produce: [] as number[], fetch: [] as number[] }
  const raw = { produce: [] as number[], fetch: [] as number[] }
  for (let r = 0; r < reps; r++) {
    // Alternate the order so slow drift on a shared machine does not favour one side.
    const cells = r % 2 === 0 ? [rawCell, nativeCell] : [nativeCell, rawCell]
    for (const cell of cells) {
      const result = await cell(bytes, n)
      const into = cell === rawCell ? raw : native
      into.produce.push(result.produce)
      into.fetch.push(result.fetch)
    }
    process.stderr.write(`${bytes} B rep ${r + 1}/${reps} done\n`)
  }
  for (const op of ['produce', 'fetch'] as const) {
    const nat: Spread = spread(native[op])
    const rw: Spread = spread(raw[op])
    rows.push([
      `${op} ${bytes} B`,
      fmtSpread(nat),
      fmtMB((nat.median * bytes) / 1e6),
      fmtSpread(rw),
      fmtMB((rw.median * bytes) / 1e6),
      fmtPct(nat.median / rw.median),
    ])
  }
}

console.log(`\n## Native protocol vs raw store (${new Date().toISOString().slice(0, 10)})\n`)
for (const [k, v] of machine(args.dir)) console.log(`- ${k}: ${v}`)
console.log(
  `- records per cell: ${fmtCount(records)} (100 B), ${fmtCount(Math.floor(records / 4))} (1 KiB); ${perSend} per send, ${window} in flight; ${reps} reps\n`,
)
console.log(
  table(
    [
      'cell',
      'native rec/s median (min–max)',
      'native MB/s',
      'raw store rec/s median (min–max)',
      'raw MB/s',
      'native/raw',
    ],
    rows,
    [false, true, true, true, true, true],
  ),
)
