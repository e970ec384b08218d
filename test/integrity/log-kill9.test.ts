// Delivery integrity under kill -9: a child process appends to the log store with many appends in
// flight and prints each acknowledgement; the test SIGKILLs it at a random moment, again and again on
// the same data dir, and after every kill checks that the file is sound and that every acknowledged
// record is still there, at its acknowledged offset, byte for byte, with the log dense and in order.
// Both durabilities must pass: `fsync` and `os` each promise to survive a process crash.
//
// Reproduce a failure with the seed it prints: CAIRN_TEST_SEED=<seed> npx vitest run test/integrity
// (the same seed replays the same choices; where exactly each kill lands still varies).
import { spawn, type ChildProcess } from 'node:child_process'
import { randomInt } from 'node:crypto'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { test } from 'vitest'
import { LogStore } from '../../src/log/log-store.ts'
import { encodeHeaders, encodeMeta } from '../../src/log/record-codec.ts'
import {
  decodeValue,
  expectedRecord,
  makeRng,
  maxBatchRecords,
  partitions,
  recordDifference,
  streams,
  type ExpectedRecord,
} from './kill9-records.ts'

/** At least minKills kills; more, up to maxKills, while the test has run for less than extraKillsBeforeMs. */
const minKills = 8
const maxKills = 10
const extraKillsBeforeMs = 25_000
/** Each kill lands this long after the child's first acknowledgement (uniform, seeded). */
const killDelayMs = { min: 100, max: 700 }
/** The child must open the store and acknowledge something within this (store open includes quick_check). */
const firstAckTimeoutMs = 20_000
const maxReportedProblems = 30

const seed = parseSeed(process.env.CAIRN_TEST_SEED)
const childScript = fileURLToPath(new URL('./append-child.ts', import.meta.url))

function parseSeed(text: string | undefined): number {
  if (text === undefined || text === '') return randomInt(2 ** 31)
  if (!/^\d+$/.test(text) || Number(text) >= 2 ** 32) throw new Error(`CAIRN_TEST_SEED must be an integer, got ${text}`)
  return Number(text)
}

interface Ack {
  run: number
  baseOffset: bigint
  lastOffset: bigint
  firstSeq: number
}

/** What the test knows about one partition across all runs. */
interface PartitionState {
  stream: string
  streamIndex: number
  partition: number
  acks: Ack[]
  /** One past the highest acknowledged offset. */
  ackedEnd: bigint
  /** logEndOffset found by the last verification: it may only grow. */
  foundEnd: bigint
}

interface ChildRun {
  signal: NodeJS.Signals | null
  code: number | null
  stderr: string
  /** `next` lines: where the child continued each partition's sequence. */
  next: Map<string, number>
  acks: Array<Ack & { key: string }>
  problems: string[]
}

const stateKey = (stream: string, partition: number) => `${stream}/${partition}`

/** Spawns the child, SIGKILLs it `delayMs` after its first ack, and resolves once its output is all read. */
function runChild(
  dataDir: string,
  run: number,
  delayMs: number,
  track: (child: ChildProcess) => void,
): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [childScript, dataDir, String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] })
    track(child)
    const result: ChildRun = { signal: null, code: null, stderr: '', next: new Map(), acks: [], problems: [] }
    let killTimer: NodeJS.Timeout | undefined
    const noAckTimer = setTimeout(() => {
      result.problems.push(`run ${run}: no acknowledgement within ${firstAckTimeoutMs} ms`)
      child.kill('SIGKILL')
    }, firstAckTimeoutMs)
    let pending = ''
    const onLine = (line: string): void => {
      const ack = /^ack (\S+) (\d+) (\d+) (\d+) (\d+)$/.exec(line)
      if (ack !== null) {
        const [stream = '', partition = '', base = '', last = '', firstSeq = ''] = ack.slice(1)
        result.acks.push({
          key: stateKey(stream, Number(partition)),
          run,
          baseOffset: BigInt(base),
          lastOffset: BigInt(last),
          firstSeq: Number(firstSeq),
        })
        if (killTimer === undefined) {
          clearTimeout(noAckTimer)
          killTimer = setTimeout(() => child.kill('SIGKILL'), delayMs)
        }
        return
      }
      const next = /^next (\S+) (\d+) (\d+)$/.exec(line)
      if (next !== null) result.next.set(stateKey(next[1] as string, Number(next[2])), Number(next[3]))
      else result.problems.push(`run ${run}: unexpected child output ${JSON.stringify(line)}`)
    }
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk: string) => {
      const lines = (pending + chunk).split('\n')
      pending = lines.pop() ?? ''
      for (const line of lines) onLine(line)
    })
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (chunk: string) => (result.stderr += chunk))
    child.on('error', reject)
    // 'close' comes after the exit and after both pipes are drained: every printed ack has been seen.
    child.on('close', (code, signal) => {
      clearTimeout(noAckTimer)
      clearTimeout(killTimer)
      // Lines are written whole (far below PIPE_BUF), so a partial line means a broken child.
      if (pending !== '') result.problems.push(`run ${run}: partial last line ${JSON.stringify(pending)}`)
      result.code = code
      result.signal = signal
      resolve(result)
    })
  })
}

function recordBytes(expected: ExpectedRecord): number {
  const headers = encodeHeaders(expected.headers)
  const meta = encodeMeta(expected.meta)
  return (expected.key?.length ?? 0) + expected.value.length + (headers?.length ?? 0) + (meta?.length ?? 0)
}

/** Checks one partition record by record; returns its logEndOffset. */
function verifyPartition(store: LogStore, state: PartitionState, problems: string[]): bigint {
  const { stream, streamIndex, partition } = state
  const where = `${stream} partition ${partition}`
  if (!store.hasStream(stream)) {
    // Only a child killed before it created its streams leaves none; then nothing was acknowledged either.
    if (state.acks.length > 0 || state.foundEnd > 0n) problems.push(`${where}: the stream is gone`)
    return 0n
  }
  const info = store.describeStream(stream).partitions[partition]
  if (info === undefined) {
    problems.push(`${where}: missing from the catalog`)
    return 0n
  }
  const end = info.logEndOffset
  if (info.logStartOffset !== 0n) problems.push(`${where}: logStartOffset is ${info.logStartOffset}, expected 0`)
  let expectedOffset = 0n
  let bytes = 0
  let intact = true
  let from = info.logStartOffset
  scan: while (from < end) {
    const { records, nextOffset } = store.read(stream, partition, from, { maxRecords: 2000, maxBytes: 16 << 20 })
    if (records.length === 0) {
      problems.push(`${where}: a read at offset ${from} returned nothing, but logEndOffset is ${end}`)
      intact = false
      break
    }
    for (const record of records) {
      if (record.offset !== expectedOffset) {
        problems.push(
          `${where}: offsets not dense: expected offset ${expectedOffset} (seq ${expectedOffset}), next record is at offset ${record.offset}`,
        )
        intact = false
        break scan
      }
      // The child continues each partition's sequence from its last record, so seq == offset throughout.
      const offset = Number(record.offset)
      const decoded = decodeValue(record.value)
      if (typeof decoded === 'string') {
        problems.push(`${where} offset ${offset} (expected seq ${offset}): ${decoded}`)
        intact = false
      } else if (decoded.stream !== streamIndex || decoded.partition !== partition) {
        const other = streams[decoded.stream]?.name ?? `stream #${decoded.stream}`
        problems.push(
          `${where} offset ${offset}: holds seq ${decoded.seq} of ${other} partition ${decoded.partition}, expected seq ${offset}`,
        )
        intact = false
      } else if (decoded.seq !== offset) {
        const kind = decoded.seq < offset ? 'duplicated or reordered' : 'skipped or reordered'
        problems.push(
          `${where} offset ${offset}: seq ${decoded.seq}, expected seq ${offset} (one past seq ${offset - 1} at the offset before): ${kind}`,
        )
        intact = false
      } else {
        const expected = expectedRecord(seed, streamIndex, partition, offset)
        const difference = recordDifference(record, expected)
        if (difference !== null) {
          const checksum = decoded.checksumOk ? 'value checksum still matches' : 'value checksum broken'
          problems.push(`${where} offset ${offset} seq ${offset}: ${difference} (${checksum})`)
          intact = false
        }
        bytes += recordBytes(expected)
      }
      expectedOffset++
      if (problems.length >= maxReportedProblems) break scan
    }
    if (nextOffset !== expectedOffset) {
      problems.push(`${where}: read from ${from} returned nextOffset ${nextOffset}, expected ${expectedOffset}`)
      intact = false
      break
    }
    from = nextOffset
  }
  if (intact && info.records !== Number(end))
    problems.push(`${where}: catalog counts ${info.records} records, the log holds ${end}`)
  if (intact && info.bytes !== bytes)
    problems.push(`${where}: catalog counts ${info.bytes} bytes, the records hold ${bytes}`)

  for (const ack of state.acks) {
    const seqs = `seq ${ack.firstSeq}..${ack.firstSeq + Number(ack.lastOffset - ack.baseOffset)}`
    const acked = `offsets ${ack.baseOffset}..${ack.lastOffset} (${seqs}, acknowledged in run ${ack.run})`
    if (ack.lastOffset >= end) problems.push(`${where}: acknowledged ${acked} lost: logEndOffset is ${end}`)
    else if (BigInt(ack.firstSeq) !== ack.baseOffset)
      problems.push(`${where}: acknowledged ${acked}, but the log holds seq ${ack.baseOffset} at ${ack.baseOffset}`)
    if (problems.length >= maxReportedProblems) break
  }
  if (end < state.foundEnd)
    problems.push(`${where}: logEndOffset went back from ${state.foundEnd} to ${end}: records seen before vanished`)
  return end
}

interface Verification {
  problems: string[]
  records: number
  /** Records new since the last verification and past every acknowledgement: committed but never acked. */
  unacknowledged: number
}

/** PRAGMA integrity_check on its own read-only connection, then the store's own open and reads. */
async function verify(dataDir: string, states: PartitionState[]): Promise<Verification> {
  const result: Verification = { problems: [], records: 0, unacknowledged: 0 }
  if (!existsSync(join(dataDir, 'cairn.db'))) {
    // Only a child killed before it opened the store leaves no file; then nothing was acknowledged either.
    if (states.some((s) => s.acks.length > 0 || s.foundEnd > 0n)) result.problems.push('the database file is gone')
    return result
  }
  let raw: Database.Database | undefined
  try {
    raw = new Database(join(dataDir, 'cairn.db'), { readonly: true, fileMustExist: true })
    const rows = raw.pragma('integrity_check') as Array<{ integrity_check: string }>
    const outcome = rows.map((row) => row.integrity_check).join('; ')
    if (outcome !== 'ok') result.problems.push(`PRAGMA integrity_check: ${outcome}`)
  } catch (error) {
    // A damaged header or schema page makes SQLite refuse before integrity_check can list anything.
    result.problems.push(`PRAGMA integrity_check failed: ${String(error)}`)
  } finally {
    raw?.close()
  }
  let store: LogStore
  try {
    store = LogStore.open({ dataDir, checkOnOpen: 'always' })
  } catch (error) {
    result.problems.push(`the store does not open: ${String(error)}`)
    return result
  }
  try {
    for (const state of states) {
      const end = verifyPartition(store, state, result.problems)
      result.records += Number(end)
      const known = state.ackedEnd > state.foundEnd ? state.ackedEnd : state.foundEnd
      if (end > known) result.unacknowledged += Number(end - known)
      state.foundEnd = end
      if (result.problems.length >= maxReportedProblems) break
    }
  } finally {
    await store.close()
  }
  return result
}

/** Copies the crashed files (not the -shm) so verifying never changes what the next child recovers from. */
function copyOfDataDir(dataDir: string, to: string): string {
  mkdirSync(to)
  for (const file of ['cairn.db', 'cairn.db-wal']) {
    if (existsSync(join(dataDir, file))) copyFileSync(join(dataDir, file), join(to, file))
  }
  return to
}

test('log store - acknowledged appends survive repeated kill -9 intact, dense and in order', async () => {
  const started = performance.now()
  const label = `[log-kill9] seed ${seed}`
  console.log(`${label} (reproduce: CAIRN_TEST_SEED=${seed} npx vitest run test/integrity)`)
  const root = mkdtempSync(join(tmpdir(), 'cairn-kill9-'))
  const dataDir = join(root, 'data')
  const rng = makeRng(seed)
  const states: PartitionState[] = streams.flatMap(({ name }, streamIndex) =>
    Array.from({ length: partitions }, (_, partition) => ({
      stream: name,
      streamIndex,
      partition,
      acks: [],
      ackedEnd: 0n,
      foundEnd: 0n,
    })),
  )
  const byKey = new Map(states.map((s) => [stateKey(s.stream, s.partition), s]))
  let child: ChildProcess | undefined
  let passed = false
  let ackedRecords = 0
  let ackedBatches = 0
  let kills = 0
  /** Each child continues past what the last one left, so these never get acknowledged later. */
  let survivors = 0
  let last: Verification = { problems: [], records: 0, unacknowledged: 0 }

  const fail = (when: string, problems: string[], extra = ''): never => {
    throw new Error(
      `${when}: ${problems.length} integrity violation(s) (seed ${seed}; reproduce with CAIRN_TEST_SEED=${seed}; ` +
        `data kept in ${root})\n  ${problems.slice(0, maxReportedProblems).join('\n  ')}${extra}`,
    )
  }

  try {
    for (let run = 1; run <= maxKills; run++) {
      // Every verification reads the whole log, so late kills cost the most: a slow machine stops at minKills.
      if (run > minKills && performance.now() - started > extraKillsBeforeMs) break
      kills = run
      const delayMs = rng.int(killDelayMs.min, killDelayMs.max)
      const outcome = await runChild(dataDir, run, delayMs, (c) => (child = c))
      const stderr = outcome.stderr.trim() === '' ? '' : `\nchild stderr:\n${outcome.stderr.trim()}`
      if (outcome.signal !== 'SIGKILL')
        fail(`run ${run}`, [`the child exited by itself (code ${outcome.code}, signal ${outcome.signal})`], stderr)
      const problems = [...outcome.problems]
      for (const state of states) {
        const key = stateKey(state.stream, state.partition)
        const next = outcome.next.get(key)
        if (next === undefined) problems.push(`run ${run}: the child did not say where ${key} continues`)
        else if (BigInt(next) !== state.foundEnd)
          problems.push(
            `run ${run}: the child continued ${key} at seq ${next}, but the log verified before ends at ${state.foundEnd}`,
          )
      }
      let runRecords = 0
      for (const { key, ...ack } of outcome.acks) {
        const state = byKey.get(key)
        const count = ack.lastOffset - ack.baseOffset + 1n
        if (state === undefined || count < 1n || count > BigInt(maxBatchRecords)) {
          problems.push(`run ${run}: nonsensical ack for ${key}: offsets ${ack.baseOffset}..${ack.lastOffset}`)
          continue
        }
        state.acks.push(ack)
        if (ack.lastOffset + 1n > state.ackedEnd) state.ackedEnd = ack.lastOffset + 1n
        runRecords += Number(count)
      }
      if (problems.length > 0) fail(`run ${run}`, problems, stderr)
      ackedRecords += runRecords
      ackedBatches += outcome.acks.length

      last = await verify(copyOfDataDir(dataDir, join(root, `verify-${run}`)), states)
      if (last.problems.length > 0) fail(`after kill ${run}`, last.problems)
      rmSync(join(root, `verify-${run}`), { recursive: true })
      survivors += last.unacknowledged
      console.log(
        `${label} kill ${run} ${delayMs} ms after the first ack: ${runRecords} records acked in ` +
          `${outcome.acks.length} appends; the log holds ${last.records} (${last.unacknowledged} more never acked)`,
      )
    }
    // At the end, on the real data dir: once as the last kill left it, once more after a clean close.
    for (const when of ['at the end (crashed)', 'at the end (after a clean close)']) {
      last = await verify(dataDir, states)
      if (last.problems.length > 0) fail(when, last.problems)
    }
    const durable = states.filter((s) => s.streamIndex === 0).reduce((sum, s) => sum + Number(s.foundEnd), 0)
    console.log(
      `${label}: ${kills} kills, ${ackedRecords} acked records in ${ackedBatches} appends, ${last.records} records ` +
        `found (${durable} durable, ${last.records - durable} fast; ${survivors} present but never acked), ` +
        `all intact, in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    )
    passed = true
  } finally {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    if (passed) rmSync(root, { recursive: true, force: true })
  }
}, 120_000)
