// Power-loss emulation, shared by test/integrity/power-loss.test.ts (a dozen snapshots) and
// scripts/fuzz-power-loss.ts (as many as asked). The writer is append-child.ts (the kill -9 test's
// child: two streams, `fsync` and `os`, many appends in flight, frequent checkpoints), which prints an
// ack line only after append() resolved.
//
// A snapshot is the writer's files at one instant: the writer is frozen with SIGSTOP, the acks it had
// printed are drained, cairn.db and cairn.db-wal are copied, and it continues (SIGCONT). Copying while
// it runs would not be an instant: a checkpoint can rewrite the db between the copy of the WAL and the
// copy of the db, a state no power cut leaves. The copy holds what the kernel held, so it is also
// what a process crash leaves; a power cut may lose more, only what was never fsync'd. With
// synchronous=FULL every commit (and every checkpoint, before it copies) syncs the WAL, so that is what
// lies past the last commit frame: a transaction being written, or frames left from before the WAL last
// restarted. So each snapshot also gets torn copies whose WAL is cut there, at a random frame boundary
// (header 32 bytes, frames 24 + page size) or inside a frame. The last commit frame is found by walking
// the WAL as SQLite's recovery does (salts and running checksums), since the broker holds the database
// with locking_mode=EXCLUSIVE and so keeps its WAL index in memory, not in a -shm file.
//
// Checked, per copy: the store opens it (LogStore.open: WAL mode, catalog, quick_check), PRAGMA
// integrity_check says ok, every partition is dense from offset 0 and every record is byte-for-byte the
// one the writer sent for that offset, and every record acknowledged before the snapshot is there (in
// the torn copies too: the cut only takes what follows the last commit). For the `os` stream this is more
// than durability `os` promises: its commits are not synced, and a real power cut may lose the last ones.
import { spawn } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { pino } from 'pino'
import { LogStore } from '../../src/log/log-store.ts'
import { decodeValue, expectedRecord, makeRng, partitions, recordDifference, streams } from './kill9-records.ts'

const childScript = fileURLToPath(new URL('./append-child.ts', import.meta.url))
const walHeaderBytes = 32
const frameHeaderBytes = 24

export interface PowerLossOptions {
  seed: number
  snapshots: number
  tornPerSnapshot: number
  /** Each snapshot is taken this long after the previous one (uniform, seeded). */
  delayMs: { min: number; max: number }
  log?: (line: string) => void
}

export interface PowerLossResult {
  snapshots: number
  tornCopies: number
  /** Acknowledged records found in the full copies (summed over snapshots). */
  ackedRecordsChecked: number
  /** Records read and compared, over all copies. */
  recordsChecked: number
  problems: string[]
}

type Acked = Map<string, bigint>
const partitionKey = (stream: string, partition: number): string => `${stream}/${partition}`

export async function runPowerLoss(options: PowerLossOptions): Promise<PowerLossResult> {
  const result: PowerLossResult = {
    snapshots: 0,
    tornCopies: 0,
    ackedRecordsChecked: 0,
    recordsChecked: 0,
    problems: [],
  }
  const rng = makeRng(options.seed)
  // A fresh writer every few snapshots keeps the files small, so each check stays quick.
  for (let writer = 0; result.snapshots < options.snapshots && result.problems.length === 0; writer++) {
    const count = Math.min(snapshotsPerWriter, options.snapshots - result.snapshots)
    await snapshotWriter(options, rng, options.seed + writer, count, result)
  }
  return result
}

const snapshotsPerWriter = 4

async function snapshotWriter(
  options: PowerLossOptions,
  rng: ReturnType<typeof makeRng>,
  seed: number,
  snapshots: number,
  result: PowerLossResult,
): Promise<void> {
  const log = options.log ?? (() => undefined)
  const root = mkdtempSync(join(tmpdir(), 'cairn-power-loss-'))
  const dataDir = join(root, 'live')
  mkdirSync(dataDir)
  const child = spawn(process.execPath, [childScript, dataDir, String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] })
  // Highest acknowledged offset per partition, from the ack lines seen so far.
  const acked: Acked = new Map()
  let lastDataAt = performance.now()
  let pending = ''
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    lastDataAt = performance.now()
    pending += chunk
    const lines = pending.split('\n')
    pending = lines.pop() ?? ''
    for (const line of lines) {
      const [kind, stream, partition, , lastOffset] = line.split(' ')
      if (kind !== 'ack' || stream === undefined || partition === undefined || lastOffset === undefined) continue
      const key = partitionKey(stream, Number(partition))
      const last = BigInt(lastOffset)
      if ((acked.get(key) ?? -1n) < last) acked.set(key, last)
    }
  })
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()))
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
  try {
    for (let waited = 0; acked.size === 0; waited += 10) {
      if (child.exitCode !== null) throw new Error(`writer exited: ${stderr}`)
      if (waited > 20_000) throw new Error(`writer acknowledged nothing within 20 s: ${stderr}`)
      await sleep(10)
    }
    for (let i = 0; i < snapshots; i++) {
      const n = result.snapshots
      await sleep(options.delayMs.min + rng.int(0, options.delayMs.max - options.delayMs.min))
      if (child.exitCode !== null) throw new Error(`writer exited: ${stderr}`)
      child.kill('SIGSTOP')
      // Every ack written before the stop is in the pipe: read until it has been quiet for a while.
      while (performance.now() - lastDataAt < 40) await sleep(10)
      const ackedBefore = new Map(acked)
      const copyDir = join(root, `copy-${n}`)
      mkdirSync(copyDir)
      copyFileSync(join(dataDir, 'cairn.db'), join(copyDir, 'cairn.db'))
      const wal = join(dataDir, 'cairn.db-wal')
      const hasWal = existsSync(wal)
      if (hasWal) copyFileSync(wal, join(copyDir, 'cairn.db-wal'))
      result.snapshots++

      const torn: Array<{ dir: string; bytes: number }> = []
      const walCopy = join(copyDir, 'cairn.db-wal')
      const shape = hasWal ? readWalShape(readFileSync(walCopy)) : undefined
      if (shape !== undefined) {
        // What a power cut can take: bytes past the last commit frame (a transaction not yet committed,
        // or frames left from before the WAL last restarted), cut at a frame boundary or inside a frame.
        const frameBytes = frameHeaderBytes + shape.pageBytes
        const from = walHeaderBytes + shape.committedFrames * frameBytes
        for (let t = 0; t < options.tornPerSnapshot && shape.fileBytes > from; t++) {
          const cut =
            rng.next() < 0.5
              ? from + rng.int(0, Math.floor((shape.fileBytes - from) / frameBytes)) * frameBytes
              : rng.int(from, shape.fileBytes - 1)
          const dir = join(root, `copy-${n}-torn-${t}`)
          mkdirSync(dir)
          copyFileSync(join(copyDir, 'cairn.db'), join(dir, 'cairn.db'))
          copyFileSync(walCopy, join(dir, 'cairn.db-wal'))
          truncateSync(join(dir, 'cairn.db-wal'), Math.min(cut, shape.fileBytes))
          torn.push({ dir, bytes: cut })
        }
        log(
          `snapshot ${n}: db ${statSync(join(copyDir, 'cairn.db')).size} B, WAL ${shape.fileBytes} B: ` +
            `${shape.committedFrames} committed frames of ${shape.pageBytes} B, ${shape.tailFrames} after them; ` +
            `cut at ${torn.map((t) => t.bytes).join(', ')}`,
        )
      }
      const full = await checkCopy(copyDir, seed, ackedBefore)
      result.ackedRecordsChecked += full.acked
      result.recordsChecked += full.records
      result.problems.push(...full.problems.map((p) => `snapshot ${n} (full copy): ${p}`))
      for (const { dir, bytes } of torn) {
        const checked = await checkCopy(dir, seed, ackedBefore)
        result.tornCopies++
        result.recordsChecked += checked.records
        result.problems.push(...checked.problems.map((p) => `snapshot ${n} (WAL cut to ${bytes} bytes): ${p}`))
      }
      if (result.problems.length > 0) {
        log(`kept the failing copies in ${root} (writer seed ${seed})`)
        return
      }
      for (const dir of [copyDir, ...torn.map((t) => t.dir)]) rmSync(dir, { recursive: true, force: true })
      // Continued only now: stopped, it does not grow the files while the copies are checked.
      child.kill('SIGCONT')
    }
  } finally {
    child.kill('SIGCONT')
    child.kill('SIGKILL')
    await exited
    if (result.problems.length === 0) rmSync(root, { recursive: true, force: true })
  }
}

interface WalShape {
  fileBytes: number
  pageBytes: number
  /** Frames up to and including the last commit frame of the valid chain (salts match, checksums hold). */
  committedFrames: number
  /** Whole frames after those. */
  tailFrames: number
}

/**
 * Walks the WAL as SQLite's recovery does (https://www.sqlite.org/fileformat.html#the_write_ahead_log):
 * frames count while their salts match the header's and the running checksum holds; the WAL's content
 * ends at the last commit frame (non-zero "database size after commit") among them.
 */
function readWalShape(wal: Buffer): WalShape | undefined {
  if (wal.length < walHeaderBytes) return undefined
  const magic = wal.readUInt32BE(0)
  if (magic !== 0x377f0682 && magic !== 0x377f0683) return undefined
  const bigEndian = magic === 0x377f0683
  const pageBytes = wal.readUInt32BE(8)
  const frameBytes = frameHeaderBytes + pageBytes
  const word = (at: number): number => (bigEndian ? wal.readUInt32BE(at) : wal.readUInt32LE(at))
  let s1 = 0
  let s2 = 0
  const checksum = (from: number, to: number): void => {
    for (let at = from; at < to; at += 8) {
      s1 = (s1 + word(at) + s2) >>> 0
      s2 = (s2 + word(at + 4) + s1) >>> 0
    }
  }
  checksum(0, 24)
  if (s1 !== wal.readUInt32BE(24) || s2 !== wal.readUInt32BE(28)) return undefined
  const salt1 = wal.readUInt32BE(16)
  const salt2 = wal.readUInt32BE(20)
  const whole = Math.floor((wal.length - walHeaderBytes) / frameBytes)
  let committedFrames = 0
  for (let frame = 0; frame < whole; frame++) {
    const at = walHeaderBytes + frame * frameBytes
    if (wal.readUInt32BE(at + 8) !== salt1 || wal.readUInt32BE(at + 12) !== salt2) break
    checksum(at, at + 8)
    checksum(at + frameHeaderBytes, at + frameBytes)
    if (s1 !== wal.readUInt32BE(at + 16) || s2 !== wal.readUInt32BE(at + 20)) break
    if (wal.readUInt32BE(at + 4) !== 0) committedFrames = frame + 1
  }
  return { fileBytes: wal.length, pageBytes, committedFrames, tailFrames: whole - committedFrames }
}

/** Opens a copy and checks it; with `acked`, every acknowledged offset must be there. */
async function checkCopy(
  dir: string,
  seed: number,
  acked: Acked | null,
): Promise<{ acked: number; records: number; problems: string[] }> {
  const problems: string[] = []
  let records = 0
  let ackedFound = 0
  try {
    const db = new Database(join(dir, 'cairn.db'))
    try {
      const rows = db.pragma('integrity_check') as Array<{ integrity_check: string }>
      if (rows.length !== 1 || rows[0]?.integrity_check !== 'ok')
        problems.push(`integrity_check: ${rows.map((r) => r.integrity_check).join('; ')}`)
    } finally {
      db.close()
    }
    const store = LogStore.open({ dataDir: dir, logger: pino({ level: 'silent' }) })
    try {
      for (const [streamIndex, { name }] of streams.entries()) {
        if (!store.hasStream(name)) {
          // A torn copy may end before the writer created its streams; a full copy never does.
          if (acked !== null) problems.push(`stream ${name} missing`)
          continue
        }
        for (let partition = 0; partition < partitions; partition++) {
          const start = store.earliestOffset(name, partition)
          const end = store.latestOffset(name, partition)
          if (start !== 0n) problems.push(`${name}/${partition} starts at ${start}, not 0`)
          for (let offset = start; offset < end;) {
            const { records: batch } = store.read(name, partition, offset, { maxRecords: 2000 })
            if (batch.length === 0) {
              problems.push(`${name}/${partition}: nothing at ${offset} below the end ${end}`)
              break
            }
            for (const record of batch) {
              records++
              const problem = recordProblem(record, seed, streamIndex, partition, offset)
              if (problem !== null) problems.push(`${name}/${partition} offset ${offset}: ${problem}`)
              offset++
            }
          }
          const last = acked?.get(partitionKey(name, partition))
          if (last !== undefined) {
            if (end <= last) problems.push(`${name}/${partition} ends at ${end} but offset ${last} was acknowledged`)
            else ackedFound += Number(last) + 1
          }
        }
      }
    } finally {
      await store.close()
    }
  } catch (error) {
    problems.push(`cannot open: ${error instanceof Error ? error.message : String(error)}`)
  }
  return { acked: ackedFound, records, problems: problems.slice(0, 20) }
}

function recordProblem(
  record: Parameters<typeof recordDifference>[0],
  seed: number,
  streamIndex: number,
  partition: number,
  offset: bigint,
): string | null {
  if (record.offset !== offset) return `found offset ${record.offset} (the log is not dense)`
  const decoded = decodeValue(record.value)
  if (typeof decoded === 'string') return decoded
  if (!decoded.checksumOk) return 'value checksum is wrong'
  // A fresh data dir: a partition's sequence number is its offset.
  if (decoded.stream !== streamIndex || decoded.partition !== partition || BigInt(decoded.seq) !== offset)
    return `holds ${decoded.stream}/${decoded.partition} seq ${decoded.seq}`
  return recordDifference(record, expectedRecord(seed, streamIndex, partition, decoded.seq))
}
