// Soak (issue 7): the gateway under device churn, device link flaps and upstream link faults for a
// configurable time, sampled for RSS, fds, WAL and DB size, MQTT clients and mirror lag; at the end no
// loss (local log against the fleet's acknowledgements, upstream against the local log) and no growth
// trend. Usage and how to read the output: docs/soak.md. `npm run soak -- --help`.
import { writeFileSync } from 'node:fs'
import os from 'node:os'
import { checkArrivals, type Arrival } from '../device/simulator/index.ts'
import { machine, table } from './bench-log/report.ts'
import { readLocalPartition, type LocalPartition } from './soak/local-log.ts'
import { startLoad, topicPrefix } from './soak/load.ts'
import { parseSoakArgs, usage, type SoakOptions } from './soak/options.ts'
import { mirrorStatus, takeSample, type MirrorLinkStatus, type Sample } from './soak/sampler.ts'
import { startStack, type Stack } from './soak/stack.ts'
import { fitTrends, type Trend } from './soak/trend.ts'
import { UpstreamFollower, type UpstreamPartitionResult } from './soak/upstream.ts'

const log = (line: string): void => void process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`)
const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1)
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
/** Below this many samples in the second half a slope means nothing. */
const minTrendSamples = 6

async function main(): Promise<number> {
  let options: SoakOptions | 'help'
  try {
    options = parseSoakArgs(process.argv.slice(2))
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${usage}`)
    return 2
  }
  if (options === 'help') {
    process.stdout.write(usage)
    return 0
  }
  const o = options
  const gatewayId = `soak-${Date.now().toString(36)}`
  const stack = await startStack({ gatewayId, requestTimeoutMs: 5000, recoveryGraceMs: 5000 })
  try {
    return await soak(o, stack)
  } finally {
    await stack.close(o.keepData)
    if (o.keepData) log(`data kept in ${stack.dataDir}`)
  }
}

async function soak(o: SoakOptions, stack: Stack): Promise<number> {
  const { gateway, proxy, mock } = stack
  const startedAtMs = Date.now()
  log(
    `gateway pid ${gateway.pid} ${gateway.mqttUrl} ${gateway.httpBase}, mock ${mock.bootstrap} via proxy ${proxy.address}, ` +
      `data ${stack.dataDir}; ${o.devices} devices + ${o.churnDevices} churning at ${o.ratePerSec}/s, QoS ${o.qos}, ${o.minutes} min`,
  )
  const stopLoad = new AbortController()
  const load = startLoad(gateway.mqttUrl, o, proxy, stopLoad.signal)
  const follower = new UpstreamFollower(mock.bootstrap, stack.gatewayId)
  const samples: Sample[] = []
  const hiccups: string[] = []
  const endAtMs = startedAtMs + o.minutes * 60_000

  // Sample until the load ends; the upstream follower reads at the same pace (the mock trims at 5 MiB).
  while (Date.now() < endAtMs) {
    await sleep(Math.min(o.sampleEverySec * 1000, Math.max(0, endAtMs - Date.now())))
    try {
      const sample = await takeSample(gateway.pid, gateway.httpBase, startedAtMs)
      samples.push(sample)
      for (const p of (await mirrorStatus(gateway.httpBase)).flatMap((l) => l.partitions)) follower.follow(p)
      await follower.poll()
      const t = load.totals()
      log(
        `${(sample.atMs / 60_000).toFixed(1)} min: RSS ${mib(sample.rssBytes)} MiB, fds ${sample.openFds}, ` +
          `WAL ${mib(sample.walBytes)} MiB, DB ${mib(sample.dbFileBytes)} MiB, clients ${sample.mqttClients}, ` +
          `lag ${sample.mirrorLagRecords}, acked ${t.acked}, flaps ${t.flaps}, upstream faults ${load.upstreamFaults()}, ` +
          `read upstream ${follower.upstreamRecords}`,
      )
    } catch (error) {
      hiccups.push(`${new Date().toISOString()}: ${(error as Error).message}`)
      log(`sample failed: ${(error as Error).message}`)
    }
  }

  log('stopping the load (the fleets drain their last acknowledgements)')
  stopLoad.abort()
  const report = await load.finished
  await proxy.refuse(false)
  proxy.blackhole(false)

  log('waiting for the mirror to drain')
  const drainStartMs = Date.now()
  let status: MirrorLinkStatus[]
  for (;;) {
    status = await mirrorStatus(gateway.httpBase).catch(() => [])
    const partitions = status.flatMap((l) => l.partitions)
    for (const p of partitions) follower.follow(p)
    await follower.poll().catch((error: unknown) => hiccups.push(`poll: ${(error as Error).message}`))
    if (partitions.length > 0 && partitions.every((p) => p.lagRecords === 0)) break
    if (Date.now() - drainStartMs > o.drainTimeoutSec * 1000) break
    await sleep(2000)
  }
  const drainMs = Date.now() - drainStartMs
  const drained = status.flatMap((l) => l.partitions).every((p) => p.lagRecords === 0)
  await follower.poll()

  log('reading the local log back')
  const locals: Array<{ stream: string; partition: number; local: LocalPartition }> = []
  const mirrored = status.flatMap((l) => l.partitions)
  for (const p of mirrored) {
    locals.push({ ...p, local: await readLocalPartition(gateway.httpBase, p.stream, p.partition, `${topicPrefix}/`) })
  }
  const arrivals: Arrival[] = locals.filter((l) => l.stream === 'mqtt').flatMap((l) => l.local.arrivals)
  const arrivalCheck = checkArrivals(report, arrivals, { duplicatesAllowed: o.qos === 1 })
  const upstream: UpstreamPartitionResult[] = locals.map((l) => follower.compare(l.local, l.stream, l.partition))

  const exitCode = await gateway.stop()
  const trends = fitTrends(samples, {
    rssMiBPerHour: o.maxRssGrowthMiBPerHour,
    fdsPerHour: o.maxFdGrowthPerHour,
    walMiBPerHour: o.maxWalGrowthMiBPerHour,
  })
  const secondHalf = samples.length - Math.floor(samples.length / 2)

  // Verdict.
  const failures: string[] = []
  if (!arrivalCheck.ok) {
    failures.push(
      `local log: ${arrivalCheck.missing.length} acknowledged missing, ${arrivalCheck.outOfOrder.length} out of order, ` +
        `${arrivalCheck.unexpected.length} unexpected` +
        (o.qos === 2 ? `, ${arrivalCheck.duplicates.length} duplicates at QoS 2` : ''),
    )
  }
  if (!drained) failures.push(`the mirror did not drain within ${o.drainTimeoutSec} s`)
  if (mirrored.length === 0) failures.push('the mirror reported no partitions')
  failures.push(...follower.problems.map((p) => `upstream: ${p}`))
  for (const t of trends) {
    if (t.growing) failures.push(`${t.series} grows ${t.slopePerHour.toFixed(1)} ${t.unit}/h (limit ${t.limitPerHour})`)
  }
  if (secondHalf < minTrendSamples) failures.push(`only ${secondHalf} samples in the second half: run longer`)
  if (exitCode !== 0) failures.push(`the gateway exited with ${exitCode} at SIGTERM`)
  if (report.totals.acked === 0) failures.push('nothing was acknowledged')

  const t = report.totals
  const out: string[] = []
  out.push(`## Soak: ${o.minutes} min, ${new Date(startedAtMs).toISOString()}`, '')
  out.push(
    table(
      ['machine', ''],
      [
        ...machine(stack.dataDir),
        [
          'load average at end',
          os
            .loadavg()
            .map((l) => l.toFixed(1))
            .join(' '),
        ],
      ],
      [false, false],
    ),
    '',
  )
  out.push(
    `Load: ${o.devices} persistent devices + ${o.churnDevices} churning (${o.churnRoundSec} s rounds), ${o.ratePerSec} msg/s each, ` +
      `QoS ${o.qos}, device flaps every ~${o.deviceFlapEverySec} s (${o.deviceFlapDowntimeMs.join('–')} ms down), ` +
      `upstream fault every ${o.upstreamFlapEverySec} s for ${o.upstreamDowntimeSec} s; ${samples.length} samples every ${o.sampleEverySec} s.`,
    '',
  )
  out.push(
    table(
      [
        'published',
        'acked',
        'resent',
        'unacked',
        'connects',
        'sessions resumed',
        'device flaps',
        'upstream faults',
        'ack p50/p99 ms',
      ],
      [
        [
          `${t.published}`,
          `${t.acked}`,
          `${t.resent}`,
          `${t.unacked}`,
          `${t.connects}`,
          `${t.sessionsResumed}`,
          `${t.flaps}`,
          `${load.upstreamFaults()}`,
          report.ackLatency === undefined ? '—' : `${report.ackLatency.p50Ms} / ${report.ackLatency.p99Ms}`,
        ],
      ],
      [true, true, true, true, true, true, true, true, true],
    ),
    '',
  )
  out.push(seriesTable(samples), '', trendTable(trends), '')
  out.push(
    `Local log: ${arrivalCheck.arrived} fleet records read back; ${arrivalCheck.missing.length} acknowledged missing, ` +
      `${arrivalCheck.duplicates.length} stored twice (PUBACK lost in a flap, resent), ${arrivalCheck.outOfOrder.length} out of order, ` +
      `${arrivalCheck.unexpected.length} unexpected.`,
  )
  for (const u of upstream) {
    out.push(
      `Upstream ${u.upstreamTopic}[${u.upstreamPartition}] (local ${u.stream}/${u.partition}): ${u.localRecords} local records, ` +
        `${u.mirrored} upstream with equal bytes and provenance, ${u.missing} missing, ${u.mismatched} differing, ` +
        `${u.duplicates} further copies (${u.redelivered} marked em.redelivered), ${u.unread} trimmed by the mock before read.`,
    )
  }
  out.push(`Mirror drained in ${(drainMs / 1000).toFixed(1)} s after the load stopped; gateway exit code ${exitCode}.`)
  const warnings = [...gateway.warnings].sort((a, b) => b[1] - a[1])
  if (warnings.length > 0) out.push(`Gateway warnings: ${warnings.map(([m, n]) => `${n}× "${m}"`).join(', ')}.`)
  if (hiccups.length > 0) out.push(`Harness hiccups (${hiccups.length}): ${hiccups.slice(0, 5).join('; ')}`)
  out.push('', failures.length === 0 ? '**Verdict: PASS**' : `**Verdict: FAIL**\n\n- ${failures.join('\n- ')}`)
  process.stdout.write(`${out.join('\n')}\n`)
  if (o.json !== undefined) {
    writeFileSync(
      o.json,
      JSON.stringify(
        { options: o, samples, trends, totals: t, arrivalCheck: summary(arrivalCheck), upstream, failures },
        null,
        2,
      ),
    )
  }
  return failures.length === 0 ? 0 : 1
}

function summary(check: ReturnType<typeof checkArrivals>) {
  return {
    ok: check.ok,
    arrived: check.arrived,
    missing: check.missing.slice(0, 20),
    missingCount: check.missing.length,
    duplicates: check.duplicates.length,
    outOfOrder: check.outOfOrder.slice(0, 20),
    unexpected: check.unexpected.slice(0, 20),
  }
}

/** About a dozen samples spread over the run, first and last included. */
function seriesTable(samples: readonly Sample[]): string {
  const rows = 12
  const picked =
    samples.length <= rows
      ? samples
      : Array.from({ length: rows }, (_, i) => samples[Math.round((i * (samples.length - 1)) / (rows - 1))] as Sample)
  return table(
    [
      'min',
      'RSS MiB',
      'heap used / total MiB',
      'fds',
      'WAL MiB',
      'DB MiB',
      'clients',
      'sessions',
      'records',
      'mirror lag',
      'link up',
    ],
    picked.map((s) => [
      (s.atMs / 60_000).toFixed(1),
      mib(s.rssBytes),
      `${mib(s.heapUsedBytes)} / ${mib(s.heapTotalBytes)}`,
      `${s.openFds}`,
      mib(s.walBytes),
      mib(s.dbFileBytes),
      `${s.mqttClients}`,
      `${s.mqttSessions}`,
      `${s.appendedRecords}`,
      `${s.mirrorLagRecords}`,
      `${s.mirrorLinkUp}`,
    ]),
    [true, true, true, true, true, true, true, true, true, true, true],
  )
}

function trendTable(trends: readonly Trend[]): string {
  const n = (v: number): string => (Number.isFinite(v) ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1)) : '—')
  return table(
    ['series', 'unit', 'first', 'median', 'max', 'last', 'slope/h (2nd half)', 'limit/h', ''],
    trends.map((t) => [
      t.series,
      t.unit,
      n(t.first),
      n(t.median),
      n(t.max),
      n(t.last),
      n(t.slopePerHour),
      Number.isFinite(t.limitPerHour) ? n(t.limitPerHour) : 'not judged',
      t.growing ? 'GROWTH' : Number.isFinite(t.limitPerHour) ? 'ok' : '',
    ]),
    [false, false, true, true, true, true, true, true, false],
  )
}

const code = await main().catch((error: unknown) => {
  process.stderr.write(`soak: ${(error as Error).stack ?? String(error)}\n`)
  return 1
})
// MQTT.js and fetch may keep sockets alive a while after the run: the verdict is in, so leave now.
process.exit(code)
