// The process that log-kill9.test.ts kills: it opens the store in <dataDir>, continues every
// partition's sequence where the log ends, and appends forever with many appends in flight.
//   node test/integrity/append-child.ts <dataDir> <seed>
// stdout, one line each:
//   next <stream> <partition> <seq>                           once per partition, after opening
//   ack <stream> <partition> <baseOffset> <lastOffset> <firstSeq>   only after append() resolved
// Any failure is printed to stderr and exits with status 2; only SIGKILL should ever stop it.
import { LogStore } from '../../src/log/log-store.ts'
import {
  decodeValue,
  expectedRecord,
  hash32,
  makeRng,
  maxBatchRecords,
  partitions,
  streams,
  toInput,
} from './kill9-records.ts'

const appendsInFlight = 50
/** The stream mix changes every this many appends: fsync-only, os-only or mixed group commits. */
const appendsPerPhase = 100

function fail(message: string): never {
  process.stderr.write(`append-child: ${message}\n`)
  process.exit(2)
}

const [dataDir, seedArg] = process.argv.slice(2)
if (dataDir === undefined || seedArg === undefined || !/^\d+$/.test(seedArg)) fail('usage: <dataDir> <seed>')
const seed = Number(seedArg)

// Frequent checkpoints (PASSIVE and TRUNCATE) and segment-index entries, so that kills land in them too.
const store = LogStore.open({
  dataDir,
  checkpoint: { intervalMs: 50, passiveAfterBytes: 256 * 1024, truncateAboveBytes: 2 * 1024 * 1024 },
  segment: { segmentRecords: 100, segmentBytes: 64 * 1024 },
})

for (const { name, durability } of streams) {
  if (!store.hasStream(name)) store.createStream(name, { partitions, durability })
  const config = store.describeStream(name).config
  if (config.partitions !== partitions || config.durability !== durability)
    fail(`stream ${name} has ${config.partitions} partitions and durability ${config.durability}`)
}

/** nextSeq[stream][partition]: one past the sequence number of the partition's last record. */
const nextSeq = streams.map(({ name }, streamIndex) =>
  Array.from({ length: partitions }, (_, partition) => {
    const end = store.latestOffset(name, partition)
    if (end === 0n) return 0
    const last = store.read(name, partition, end - 1n, { maxRecords: 1 }).records[0]
    if (last === undefined || last.offset !== end - 1n) fail(`${name}/${partition}: no record at ${end - 1n}`)
    const decoded = decodeValue(last.value)
    if (typeof decoded === 'string') fail(`${name}/${partition} offset ${end - 1n}: ${decoded}`)
    if (decoded.stream !== streamIndex || decoded.partition !== partition)
      fail(`${name}/${partition} offset ${end - 1n} holds a record of ${decoded.stream}/${decoded.partition}`)
    return decoded.seq + 1
  }),
)
for (const [streamIndex, { name }] of streams.entries()) {
  for (let partition = 0; partition < partitions; partition++)
    process.stdout.write(`next ${name} ${partition} ${nextSeq[streamIndex]?.[partition]}\n`)
}

// Seeded by the log's size, so every restart on the same data dir makes different choices.
const rng = makeRng(
  hash32(
    seed,
    nextSeq.flat().reduce((a, b) => a + b, 0),
  ),
)
let inFlight = 0
let launched = 0
let phase = 2

function launch(): void {
  if (launched++ % appendsPerPhase === 0) phase = rng.int(0, 2)
  const streamIndex = phase === 2 ? rng.int(0, streams.length - 1) : phase
  const { name } = streams[streamIndex] as (typeof streams)[number]
  const partition = rng.int(0, partitions - 1)
  const count = rng.int(1, maxBatchRecords)
  const seqs = nextSeq[streamIndex] as number[]
  const firstSeq = seqs[partition] as number
  seqs[partition] = firstSeq + count
  const records = Array.from({ length: count }, (_, i) =>
    toInput(expectedRecord(seed, streamIndex, partition, firstSeq + i)),
  )
  inFlight++
  store.append(name, partition, records).then(
    (result) => {
      // Printed only now that the group commit holding this batch has returned.
      process.stdout.write(`ack ${name} ${partition} ${result.baseOffset} ${result.lastOffset} ${firstSeq}\n`)
      inFlight--
      fill()
    },
    (error: unknown) => fail(`append ${name}/${partition} seq ${firstSeq} failed: ${String(error)}`),
  )
}

function fill(): void {
  while (inFlight < appendsInFlight) launch()
}

fill()
