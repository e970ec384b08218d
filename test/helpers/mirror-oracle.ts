// The mirror's delivery oracle (mirror.md §B12.1) and the harness of the fault-scenario tests
// (test/integration/mirror/faults-*.test.ts): an in-process Mirror on a LogStore whose KafkajsSink
// reaches the librdkafka mock only through a fault proxy, and, once the mirror has caught up, an
// independent read of upstream with kcat checked against the local log and the mirror's own state.
import { pino, type Logger } from 'pino'
import { onTestFinished } from 'vitest'
import type { LogStore } from '../../src/log/log-store.ts'
import type { LogRecord } from '../../src/log/types.ts'
import { KafkajsSink } from '../../src/mirror/kafkajs-sink.ts'
import { defaultLinkSettings, Mirror, type MirrorLinkConfig, type MirrorStreamRule } from '../../src/mirror/mirror.ts'
import { parseProvenance, type Provenance } from '../../src/mirror/replication-policy.ts'
import { startFaultProxy, type FaultProxy } from './fault-proxy.ts'
import { kcatRead, startKafkaMock, type KafkaMock, type KcatRecord } from './kafka-mock.ts'

// -------------------------------------------------------------------------------------------------
// Harness

/** The mirror's log lines, parsed: what the tests look at to see reconciliations and link errors. */
export interface LogCapture {
  readonly logger: Logger
  entries(): Array<Record<string, unknown>>
  /** Entries whose msg is `msg`. */
  find(msg: string): Array<Record<string, unknown>>
}

export function captureLogs(level: pino.LevelWithSilent = 'info'): LogCapture {
  const lines: string[] = []
  const logger = pino({ level }, { write: (line: string) => void lines.push(line) })
  const entries = (): Array<Record<string, unknown>> => lines.map((line) => JSON.parse(line) as Record<string, unknown>)
  return { logger, entries, find: (msg) => entries().filter((e) => e['msg'] === msg) }
}

export interface FaultMirrorOptions {
  store: LogStore
  /** Unique per test: the mock has no DeleteTopics, so upstream topics (`<alias>.<stream>`) must be new. */
  gatewayAlias: string
  streams?: MirrorStreamRule[]
  link?: Partial<MirrorLinkConfig>
  /** Mock to use; a new one (stopped at close) when absent. */
  mock?: KafkaMock
  requestTimeoutMs?: number
  connectionTimeoutMs?: number
}

export interface FaultMirror {
  readonly mock: KafkaMock
  readonly proxy: FaultProxy
  readonly mirror: Mirror
  readonly logs: LogCapture
  readonly gatewayAlias: string
  readonly linkName: string
  /** Heals the proxy (accepting, nothing held). */
  heal(): Promise<void>
  /** The link goes down: new connections refused, existing ones reset. */
  down(): Promise<void>
  /** Waits until every mirrored partition is resolved up to its log end, with no open intent. */
  caughtUp(timeoutMs: number): Promise<void>
  /** Idempotent; also runs when the test finishes. */
  close(): Promise<void>
}

const linkName = 'central'

/**
 * Starts (unless given) a mock, a fault proxy in front of its broker, and a Mirror on `store` whose
 * sink reaches the broker only through the proxy (bootstrap and every advertised address map to
 * it). The mirror runs on real time: kafkajs needs it. Short timeouts, 200 ms recovery grace, fast
 * backoff.
 */
export async function startFaultMirror(o: FaultMirrorOptions): Promise<FaultMirror> {
  const ownMock = o.mock === undefined
  const mock = o.mock ?? (await startKafkaMock())
  const [host, port] = mock.bootstrap.split(',')[0]?.split(':') ?? []
  const proxy = await startFaultProxy({ host: host ?? '127.0.0.1', port: Number(port) })
  const logs = captureLogs()
  const config: MirrorLinkConfig = {
    ...defaultLinkSettings,
    name: linkName,
    gatewayAlias: o.gatewayAlias,
    streams: o.streams ?? [],
    recoveryGraceMs: 200,
    backoff: { baseMs: 50, capMs: 1000, authCapMs: 1000, stableAfterMs: 2000 },
    ...o.link,
  }
  const mirror = new Mirror({
    store: o.store,
    links: [config],
    sinkFor: () =>
      new KafkajsSink({
        brokers: [proxy.address],
        clientId: `cairn-${o.gatewayAlias}`,
        requestTimeoutMs: o.requestTimeoutMs ?? 2000,
        connectionTimeoutMs: o.connectionTimeoutMs ?? 1000,
        brokerAddressMap: { [mock.bootstrap]: proxy.address },
      }),
    logger: logs.logger,
  })
  mirror.prepare()
  mirror.start()
  let closing: Promise<void> | undefined
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      try {
        await mirror.close()
      } finally {
        await proxy.close()
        if (ownMock) await mock.stop()
      }
    })())
  onTestFinished(close)
  return {
    mock,
    proxy,
    mirror,
    logs,
    gatewayAlias: o.gatewayAlias,
    linkName,
    heal: async () => {
      proxy.blackhole(false)
      await proxy.refuse(false)
    },
    down: async () => {
      await proxy.refuse(true)
      proxy.cutAll()
    },
    caughtUp: (timeoutMs) => waitCaughtUp(o.store, mirror, timeoutMs),
    close,
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export function openIntents(store: LogStore): number {
  return store.database.prepare('SELECT COUNT(*) FROM mirror_inflight').pluck().get() as number
}

export async function waitCaughtUp(store: LogStore, mirror: Mirror, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    // status() can throw while a partition's cursor is below its log start (see faults-evict.test.ts).
    let status: ReturnType<Mirror['status']> | Error
    try {
      status = mirror.status()
    } catch (error) {
      status = error as Error
    }
    const partitions = status instanceof Error ? [] : status.flatMap((l) => l.partitions)
    if (partitions.length > 0 && partitions.every((p) => p.lagRecords === 0n) && openIntents(store) === 0) return
    if (Date.now() > deadline) {
      const shown = status instanceof Error ? `status() threw ${status.message}` : json(status)
      throw new Error(`the mirror did not catch up within ${timeoutMs} ms: ${shown}`)
    }
    await sleep(100)
  }
}

export function json(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) => (typeof v === 'bigint' ? `${v}` : v))
}

// -------------------------------------------------------------------------------------------------
// What the tests write

/**
 * Appends numbered records (a user header, an explicit timestamp, a value of `valueBytes` bytes) and
 * remembers each by its offset, so the oracle can compare the bytes of records that local retention
 * deleted after they were mirrored.
 */
export class Ledger {
  readonly #records = new Map<string, ExpectedRecord>()
  #seq = 0

  async append(store: LogStore, stream: string, partition: number, count: number, valueBytes = 48): Promise<void> {
    const inputs = Array.from({ length: count }, () => this.#record(stream, partition, valueBytes))
    const result = await store.append(stream, partition, inputs)
    inputs.forEach((r, i) => this.#records.set(`${stream}/${partition}/${result.baseOffset + BigInt(i)}`, r))
  }

  get count(): number {
    return this.#records.size
  }

  get(stream: string, partition: number, offset: bigint): ExpectedRecord | undefined {
    return this.#records.get(`${stream}/${partition}/${offset}`)
  }

  readonly produced = (stream: string, partition: number, offset: bigint): ExpectedRecord | undefined =>
    this.get(stream, partition, offset)

  #record(stream: string, partition: number, valueBytes: number): ExpectedRecord {
    const seq = this.#seq++
    const head = Buffer.from(`${stream}/${partition}#${seq}|`)
    const value = new Uint8Array(Math.max(valueBytes, head.length))
    value.set(head)
    for (let i = head.length; i < value.length; i++) value[i] = (seq * 31 + i * 7) & 0xff
    return {
      key: Buffer.from(`k${seq % 97}`),
      value,
      headers: [{ key: 'trace', value: Buffer.from(`t${seq}`) }],
      timestamp: 1_700_000_000_000 + seq,
    }
  }
}

// -------------------------------------------------------------------------------------------------
// Oracle

export interface OracleOptions {
  store: LogStore
  mirror: Mirror
  /** The mock's own bootstrap (not the proxy): kcat reads upstream directly. */
  bootstrap: string
  gatewayAlias: string
  link?: string
  /**
   * What the test wrote, for mirrored records that local retention has deleted since (policy evict,
   * or retention after mirroring): their bytes are compared with this. Records gone locally without
   * it are checked for provenance and order only.
   */
  produced?: (stream: string, partition: number, offset: bigint) => ExpectedRecord | undefined
}

export interface ExpectedRecord {
  key: Uint8Array | null
  value: Uint8Array | null
  headers: ReadonlyArray<{ key: string; value: Uint8Array }>
  timestamp: number
}

export interface PartitionReport {
  stream: string
  partition: number
  upstreamTopic: string
  upstreamPartition: number
  logEnd: bigint
  /** Distinct local records found upstream. */
  mirrored: number
  /** Upstream copies beyond the first (all marked em.redelivered, or the oracle fails). */
  duplicates: number
  /** Upstream records marked em.redelivered. */
  redelivered: number
  gaps: Array<{ start: bigint; end: bigint; reason: string }>
  gapRecords: number
  /** Records whose bytes were compared (still local, or known through `produced`). */
  compared: number
  runs: number
}

interface GapRow {
  local_start: number
  local_end: number
  reason: string
}

interface RunRow {
  local_start: bigint
  upstream_start: bigint
  len: bigint
}

const bytesEqual = (a: Uint8Array | null, b: Uint8Array | null): boolean =>
  a === null || b === null ? a === b : Buffer.from(a).equals(Buffer.from(b))

const show = (b: Uint8Array | null): string => {
  if (b === null) return 'null'
  const text = Buffer.from(b.subarray(0, 40)).toString('latin1')
  return JSON.stringify(b.length > 40 ? `${text}…(${b.length} B)` : text)
}

/**
 * Checks every partition the mirror mirrors (call it once the mirror has caught up):
 * - upstream (read with kcat) holds every local offset in [0, log end) that is not a recorded gap,
 *   exactly once, in local order, with provenance naming this gateway, stream, partition and offset,
 *   byte-equal to the local record (key, value, user headers, timestamp); a further copy is allowed
 *   only if it carries em.redelivered (the at-least-once fallback), and is then byte-equal too;
 * - em.gap.before of the first record after a gap equals the records skipped just before it (and is
 *   absent elsewhere);
 * - gaps: none overlaps a mirrored record; their total equals status().gapRecords;
 * - the offset map: every run's first and last offset and every contiguous mirrored range's ends
 *   translate (record, to-upstream and back) to where kcat found those records; the runs cover
 *   exactly the mirrored records;
 * - the cursor: nextLocal = log end, lastUpstream = kcat's offset of our last record, no open intent.
 * Throws an Error listing (the first) problems; returns a report per partition.
 */
export async function checkMirror(o: OracleOptions): Promise<PartitionReport[]> {
  const linkStatus = o.mirror.status().find((l) => o.link === undefined || l.link === o.link)
  if (linkStatus === undefined) throw new Error(`oracle: no mirror link ${o.link ?? ''}`)
  const link = linkStatus.link
  const db = o.store.database
  const problems: string[] = []
  const reports: PartitionReport[] = []
  if (openIntents(o.store) !== 0) problems.push(`${openIntents(o.store)} intent(s) still open`)

  for (const ps of linkStatus.partitions) {
    const { stream, partition, upstreamTopic, upstreamPartition } = ps
    const where = `${stream}/${partition} → ${upstreamTopic}[${upstreamPartition}]`
    const fail = (message: string): void => {
      if (problems.length < 60) problems.push(`${where}: ${message}`)
    }
    const logEnd = o.store.latestOffset(stream, partition)
    const logStart = o.store.earliestOffset(stream, partition)
    const upstream = await kcatRead(o.bootstrap, upstreamTopic, upstreamPartition, 0)

    // Local records still present, by offset.
    const local = new Map<bigint, LogRecord>()
    for (let at = logStart; at < logEnd;) {
      const read = o.store.read(stream, partition, at, { maxRecords: 5000, maxBytes: 64 * 1024 * 1024 })
      for (const r of read.records) local.set(r.offset, r)
      if (read.nextOffset <= at) break
      at = read.nextOffset
    }

    // Upstream: ours, in order, once (or marked as redelivered).
    const firstCopy = new Map<bigint, { record: KcatRecord; provenance: Provenance }>()
    let duplicates = 0
    let redelivered = 0
    let previous = -1n
    let compared = 0
    for (const record of upstream) {
      const provenance = parseProvenance(record.headers.filter((h): h is [string, Uint8Array] => h[1] !== null))
      if (provenance === undefined) {
        fail(`upstream offset ${record.offset} has no (valid) provenance headers`)
        continue
      }
      const p = provenance
      if (p.gatewayAlias !== o.gatewayAlias || p.stream !== stream || p.partition !== partition) {
        fail(`upstream offset ${record.offset} names ${p.gatewayAlias} ${p.stream}/${p.partition}`)
        continue
      }
      if (p.redelivered) redelivered++
      if (firstCopy.has(p.offset)) {
        duplicates++
        if (!p.redelivered)
          fail(`local offset ${p.offset} is upstream again at ${record.offset} without em.redelivered`)
      } else {
        if (p.offset <= previous) fail(`local offset ${p.offset} at upstream ${record.offset} comes after ${previous}`)
        firstCopy.set(p.offset, { record, provenance: p })
        previous = p.offset > previous ? p.offset : previous
      }
      if (p.offset >= logEnd)
        fail(`upstream offset ${record.offset} claims local offset ${p.offset} ≥ log end ${logEnd}`)
      // Bytes: against the local record, or what the test says it wrote.
      const l = local.get(p.offset)
      const expected: ExpectedRecord | undefined =
        l === undefined ? o.produced?.(stream, partition, p.offset) : { ...l, headers: l.headers }
      if (expected !== undefined) {
        compared++
        if (!bytesEqual(record.key, expected.key)) {
          fail(`offset ${p.offset}: key ${show(record.key)} upstream, ${show(expected.key)} local`)
        }
        if (!bytesEqual(record.value, expected.value)) {
          fail(`offset ${p.offset}: value ${show(record.value)} upstream, ${show(expected.value)} local`)
        }
        const userHeaders = record.headers.filter(([name]) => !name.startsWith('em.'))
        const sameHeaders =
          userHeaders.length === expected.headers.length &&
          userHeaders.every(
            ([name, value], i) => name === expected.headers[i]?.key && bytesEqual(value, expected.headers[i].value),
          )
        if (!sameHeaders) fail(`offset ${p.offset}: user headers differ`)
        if (record.timestamp !== expected.timestamp) {
          fail(`offset ${p.offset}: timestamp ${record.timestamp} upstream, ${expected.timestamp} local`)
        }
        if (p.timestampMs !== expected.timestamp) fail(`offset ${p.offset}: em.src.ts ${p.timestampMs}`)
      }
    }

    // Gaps, coverage and em.gap.before.
    const gapRows = db
      .prepare(
        'SELECT local_start, local_end, reason FROM mirror_gap WHERE link_id = ? AND stream = ? AND partition = ? ORDER BY local_start',
      )
      .all(link, stream, partition) as GapRow[]
    const gaps = gapRows.map((g) => ({ start: BigInt(g.local_start), end: BigInt(g.local_end), reason: g.reason }))
    const inGap = (offset: bigint): boolean => gaps.some((g) => g.start <= offset && offset <= g.end)
    const gapRecords = gaps.reduce((sum, g) => sum + Number(g.end - g.start + 1n), 0)
    if (ps.gapRecords !== gapRecords) fail(`status gapRecords ${ps.gapRecords}, mirror_gap rows total ${gapRecords}`)
    let missing = 0
    let lastMirrored = -1n
    for (let offset = 0n; offset < logEnd; offset++) {
      const copy = firstCopy.get(offset)
      if (copy === undefined) {
        if (!inGap(offset) && missing++ < 5) fail(`local offset ${offset} is neither upstream nor a recorded gap`)
        continue
      }
      if (inGap(offset)) fail(`local offset ${offset} is upstream (at ${copy.record.offset}) and in a gap`)
      const skipped = offset - lastMirrored - 1n
      if (copy.provenance.gapBefore !== skipped) {
        fail(
          `local offset ${offset} (upstream ${copy.record.offset}) carries em.gap.before=${copy.provenance.gapBefore}, ` +
            `but ${skipped} record(s) before it were not mirrored`,
        )
      }
      lastMirrored = offset
    }
    if (missing > 5) fail(`… ${missing} local offsets missing in all`)

    // Offset map: runs and contiguous ranges against kcat; translation both ways.
    const cursor = db
      .prepare('SELECT map_epoch FROM mirror_partition WHERE link_id = ? AND stream = ? AND partition = ?')
      .get(link, stream, partition) as { map_epoch: number } | undefined
    const runs = db
      .prepare(
        `SELECT local_start, upstream_start, len FROM mirror_offset_run
         WHERE link_id = ? AND stream = ? AND partition = ? AND map_epoch = ? ORDER BY local_start`,
      )
      .safeIntegers(true)
      .all(link, stream, partition, cursor?.map_epoch ?? 0) as RunRow[]
    const upstreamOf = (offset: bigint): bigint | undefined => firstCopy.get(offset)?.record.offset
    const checkEnd = (offset: bigint, what: string): void => {
      const expected = upstreamOf(offset)
      if (expected === undefined) {
        fail(`${what}: local offset ${offset} is not upstream`)
        return
      }
      try {
        const to = o.mirror.translate({ link, stream, partition, kind: 'record', direction: 'to-upstream', offset })
        if (to.to !== expected) fail(`${what}: translate(${offset}) = ${to.to}, kcat found it at ${expected}`)
        const back = o.mirror.translate({
          link,
          stream,
          partition,
          kind: 'record',
          direction: 'to-local',
          offset: expected,
        })
        if (back.to !== offset) fail(`${what}: translate back(${expected}) = ${back.to}, not ${offset}`)
      } catch (error) {
        fail(`${what}: translate(${offset}) threw ${(error as Error).message}`)
      }
    }
    let runTotal = 0n
    for (const run of runs) {
      runTotal += run.len
      const last = run.local_start + run.len - 1n
      if (upstreamOf(run.local_start) !== run.upstream_start) {
        fail(`run (${run.local_start}, ${run.upstream_start}, ${run.len}) starts where kcat has no such record`)
      }
      if (upstreamOf(last) !== run.upstream_start + run.len - 1n) {
        fail(`run (${run.local_start}, ${run.upstream_start}, ${run.len}) ends where kcat has no such record`)
      }
      checkEnd(run.local_start, 'run start')
      checkEnd(last, 'run end')
    }
    if (runTotal !== BigInt(firstCopy.size)) fail(`runs cover ${runTotal} records, ${firstCopy.size} are upstream`)
    const ordered = [...firstCopy.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    for (let i = 0; i < ordered.length; i++) {
      const [offset, { record }] = ordered[i] as [bigint, { record: KcatRecord }]
      const before = ordered[i - 1]
      const after = ordered[i + 1]
      const startsRange =
        before === undefined || before[0] !== offset - 1n || before[1].record.offset !== record.offset - 1n
      const endsRange = after === undefined || after[0] !== offset + 1n || after[1].record.offset !== record.offset + 1n
      if (startsRange) checkEnd(offset, 'range start')
      if (endsRange && !startsRange) checkEnd(offset, 'range end')
    }

    // Cursor.
    if (ps.nextLocal !== logEnd) fail(`cursor ${ps.nextLocal}, log end ${logEnd}`)
    const lastOurs = ordered.at(-1)?.[1].record.offset ?? -1n
    if (duplicates === 0 && ps.lastUpstream !== lastOurs) fail(`lastUpstream ${ps.lastUpstream}, kcat ${lastOurs}`)
    if (ps.state !== 'active') fail(`state ${ps.state}`)

    reports.push({
      stream,
      partition,
      upstreamTopic,
      upstreamPartition,
      logEnd,
      mirrored: firstCopy.size,
      duplicates,
      redelivered,
      gaps,
      gapRecords,
      compared,
      runs: runs.length,
    })
  }
  if (problems.length > 0) throw new Error(`mirror oracle: ${problems.length} problem(s):\n  ${problems.join('\n  ')}`)
  return reports
}
