// (f) Replay: read --records stored records back from Cairn
//   - through the native client (a consumer assigned to stream `mqtt` partition 0 from offset 0),
//   - through an MQTT replay subscription (`$replay/earliest/bench/#`, MQTT 3.1.1), QoS 0 and QoS 1,
// against the ceiling: LogStore.read in-process on the same data (batches of 500).
// The log is pre-filled (not timed) by appending MQTT-shaped records (key = topic, value = the generator's
// payload, meta {q: 1}) straight into the data dir before the broker starts, with the same sources as the broker.
// The broker runs with durability `os` (reads do not depend on it).
//
// Run: npm run bench:replay -- [--records 1000000] [--reps 3] [--markdown FILE]

import os from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { pino } from 'pino'
import { fmtCount, fmtPct, fmtSpread, table } from '../bench-log/report.ts'
import { cairnRoot } from './brokers.ts'
import { emit, environmentLines, metricSpread, sideBySide } from './harness.ts'
import { subscribeOnly } from './loadgen.ts'
import { nowMs, PublishTemplate } from './wire.ts'
import type * as ClientModule from '../../src/client/index.ts'
import type * as LogStoreModule from '../../src/log/log-store.ts'

const { values: args } = parseArgs({
  options: {
    records: { type: 'string', default: '1000000' },
    reps: { type: 'string', default: '3' },
    bytes: { type: 'string', default: '100' },
    dir: { type: 'string', default: os.tmpdir() },
    markdown: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
})
if (args.help) {
  console.log(`usage: npm run bench:replay -- [options]
  --records N      records in the log (default 1000000)
  --reps R         runs (default 3)
  --bytes B        payload bytes (default 100)
  --dir DIR        parent of the temporary dirs (default ${os.tmpdir()})
  --markdown FILE  also write the report to FILE`)
  process.exit(0)
}
const records = Number(args.records)
const reps = Number(args.reps)
const bytes = Number(args.bytes)
const publishers = 10
const started = Date.now()

// The broker's own sources (CAIRN_BENCH_ROOT), so the pre-filled file and the client match the broker.
const { LogStore } = (await import(
  pathToFileURL(join(cairnRoot, 'src/log/log-store.ts')).href
)) as typeof LogStoreModule
const { CairnClient } = (await import(
  pathToFileURL(join(cairnRoot, 'src/client/index.ts')).href
)) as typeof ClientModule

let rawReadPerSec = NaN

/** Fills the session stream like `publishers` MQTT publishers on bench/<i> would, then times a raw read. */
async function prefill(dataDir: string): Promise<void> {
  const store = LogStore.open({ dataDir, logger: pino({ level: 'silent' }) })
  try {
    store.createStream('mqtt', { partitions: 1, durability: 'os', subjects: ['#'] })
    const templates = Array.from({ length: publishers }, (_, i) => new PublishTemplate(`bench/${i}`, 0, bytes))
    const keys = templates.map((_, i) => new TextEncoder().encode(`bench/${i}`))
    const batchSize = 4096
    const seqs = new Array<number>(publishers).fill(0)
    for (let done = 0; done < records;) {
      const n = Math.min(batchSize, records - done)
      const batch = Array.from({ length: n }, (_, j) => {
        const p = (done + j) % publishers
        const packet = (templates[p] as PublishTemplate).fill(p, seqs[p] ?? 0, 1)
        seqs[p] = (seqs[p] ?? 0) + 1
        return { key: keys[p] as Uint8Array, value: packet.subarray(packet.length - bytes), meta: { q: 1 } }
      })
      await store.append('mqtt', 0, batch)
      done += n
    }
    const t = nowMs()
    let offset = 0n
    while (offset < BigInt(records)) offset = store.read('mqtt', 0, offset, { maxRecords: 500 }).nextOffset
    rawReadPerSec = records / ((nowMs() - t) / 1000)
  } finally {
    await store.close()
  }
}

const runs = await sideBySide(
  ['cairn-os'],
  reps,
  `f ${fmtCount(records)}`,
  { parentDir: args.dir, prepare: prefill },
  async (broker) => {
    const client = new CairnClient({ port: broker.nativePort, clientId: 'bench-replay' })
    let nativePerSec: number
    try {
      const consumer = client.consumer({ maxWaitMs: 0 })
      consumer.assign([{ stream: 'mqtt', partition: 0, offset: 0n }])
      const t = nowMs()
      let read = 0
      while (read < records) read += (await consumer.poll()).length
      nativePerSec = read / ((nowMs() - t) / 1000)
      await consumer.close()
    } finally {
      await client.close()
    }
    const mqtt = async (qos: 0 | 1): Promise<{ perSec: number; received: number; outOfOrder: number }> => {
      const { result, subackAt } = await subscribeOnly(broker.port, '$replay/earliest/bench/#', qos, records, 5000)
      return {
        perSec: result.received / ((result.lastAt - subackAt) / 1000),
        received: result.received,
        outOfOrder: result.outOfOrder,
      }
    }
    const q0 = await mqtt(0)
    const q1 = await mqtt(1)
    return {
      raw: rawReadPerSec,
      native: nativePerSec,
      mqttQos0: q0.perSec,
      mqttQos0Received: q0.received,
      mqttQos1: q1.perSec,
      mqttQos1Received: q1.received,
      outOfOrder: q0.outOfOrder + q1.outOfOrder,
    }
  },
)

const r = runs.get('cairn-os')
const raw = metricSpread(r, 'raw')
const row = (path: string, key: string, receivedKey?: string): string[] => {
  const s = metricSpread(r, key)
  return [
    path,
    fmtSpread(s),
    fmtPct(s.median / raw.median),
    receivedKey === undefined ? String(records) : String(metricSpread(r, receivedKey).min),
  ]
}
emit(
  [
    `### Replay side by side (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC)`,
    '',
    ...environmentLines(args.dir),
    `- command: npm run bench:replay -- ${process.argv.slice(2).join(' ')}`.trimEnd(),
    `- ${fmtCount(records)} records of ${bytes} B in stream mqtt (1 partition, key bench/0..9), ${reps} reps`,
    '',
    table(
      ['(f) read path', 'records/s (min–max)', 'of raw', 'records received (min)'],
      [
        row('LogStore.read in-process, 500 per call (ceiling)', 'raw'),
        row('native client, consumer poll (maxWaitMs 0)', 'native'),
        row('MQTT $replay/earliest/bench/#, QoS 0', 'mqttQos0', 'mqttQos0Received'),
        row('MQTT $replay/earliest/bench/#, QoS 1 (100 in flight)', 'mqttQos1', 'mqttQos1Received'),
      ],
      [false, true, true, true],
    ),
    '',
    `- reordered deliveries (MQTT, all reps): ${metricSpread(r, 'outOfOrder').max}; total run time ${((Date.now() - started) / 60000).toFixed(1)} min`,
  ],
  args.markdown,
)
