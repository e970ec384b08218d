// `npm run simulate -- [options]`: a sensor fleet against a broker, with a summary at the end (and
// progress on stderr). Ctrl-C stops producing and drains; a second Ctrl-C exits at once.
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { runFleet } from './fleet.ts'
import { defaultFleetOptions, type FleetInput } from './options.ts'
import type { Counts, FleetReport } from './report.ts'

const d = defaultFleetOptions
const usage = `usage: npm run simulate -- [options]

A fleet of simulated MQTT sensors. Each device has a fixed client id (${d.idPrefix}0001, ...), publishes
readings with a per-device sequence number and timestamp to <topic-prefix>/<device>/<topic>, and keeps
at most --inflight QoS 1/2 messages unacknowledged. Stops after --messages per device, --duration-sec,
or Ctrl-C; then waits for the last acknowledgements and disconnects.

  --url URL                 broker (default mqtt://127.0.0.1:1883; mqtts://, ws://host:port/mqtt)
  --devices N               devices (default ${d.devices})
  --id-prefix P             client id prefix (default ${d.idPrefix})
  --topic-prefix P          topic prefix (default ${d.topicPrefix})
  --topics A,B              topics per device, published round-robin (default ${d.topics.join(',')})
  --rate R                  messages per second per device (default ${d.ratePerSec})
  --messages N              stop each device after N messages
  --duration-sec S          stop after S seconds
  --qos 0|1|2               (default ${d.qos})
  --format json|text|binary payload format (default ${d.format})
  --payload-bytes B         pad payloads to B bytes (default ${d.payloadBytes})
  --mqtt-version 3.1.1|5    (default 3.1.1)
  --clean                   clean sessions (default: persistent sessions)
  --session-expiry-sec S    MQTT 5 session expiry of persistent sessions (default ${d.sessionExpirySec})
  --keepalive-sec S         (default ${d.keepaliveSec})
  --inflight N              unacknowledged QoS 1/2 messages per device (default ${d.inflight})
  --reconnect-ms MS         wait before reconnecting after a lost connection (default ${d.reconnectMs})
  --flap-every-ms MS        mean time between link flaps per device; 0 = none (default ${d.flapMeanIntervalMs})
  --flap-downtime-ms A-B    link down for A to B ms after a flap (default ${d.flapDowntimeMs.join('-')})
  --seed N                  random seed (default ${d.seed})
  --drain-timeout-ms MS     how long to wait for the last acknowledgements (default ${d.drainTimeoutMs})
  --username U, --password P
  --report FILE             write the full report (every seq per device and topic) as JSON
  --quiet                   no progress lines
  -h, --help

Prints a JSON summary (totals, acknowledgement latency) on stdout. Exit status 0 when every device
connected and every QoS 1/2 message was acknowledged, 1 when not, 2 on bad usage.`

function main(): number | Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      strict: true,
      options: {
        url: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
        devices: { type: 'string' },
        'id-prefix': { type: 'string' },
        'topic-prefix': { type: 'string' },
        topics: { type: 'string' },
        rate: { type: 'string' },
        messages: { type: 'string' },
        'duration-sec': { type: 'string' },
        qos: { type: 'string' },
        format: { type: 'string' },
        'payload-bytes': { type: 'string' },
        'mqtt-version': { type: 'string' },
        clean: { type: 'boolean' },
        'session-expiry-sec': { type: 'string' },
        'keepalive-sec': { type: 'string' },
        inflight: { type: 'string' },
        'reconnect-ms': { type: 'string' },
        'flap-every-ms': { type: 'string' },
        'flap-downtime-ms': { type: 'string' },
        seed: { type: 'string' },
        'drain-timeout-ms': { type: 'string' },
        username: { type: 'string' },
        password: { type: 'string' },
        report: { type: 'string' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    })
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${usage}`)
    return 2
  }
  const a = parsed.values
  if (a.help === true) {
    console.log(usage)
    return 0
  }
  const num = (text: string | undefined) => (text === undefined ? undefined : Number(text))
  const version = a['mqtt-version']
  if (version !== undefined && version !== '3.1.1' && version !== '5') {
    console.error(`--mqtt-version must be 3.1.1 or 5, got ${version}`)
    return 2
  }
  const downtime = a['flap-downtime-ms']?.split('-').map(Number)
  const duration = num(a['duration-sec'])
  const input: FleetInput = {
    url: a.url,
    devices: num(a.devices),
    idPrefix: a['id-prefix'],
    topicPrefix: a['topic-prefix'],
    topics: a.topics?.split(','),
    ratePerSec: num(a.rate),
    messagesPerDevice: num(a.messages),
    durationMs: duration === undefined ? undefined : duration * 1000,
    qos: num(a.qos) as FleetInput['qos'],
    format: a.format as FleetInput['format'],
    payloadBytes: num(a['payload-bytes']),
    protocolVersion: version === undefined ? undefined : version === '5' ? 5 : 4,
    persistent: a.clean === true ? false : undefined,
    sessionExpirySec: num(a['session-expiry-sec']),
    keepaliveSec: num(a['keepalive-sec']),
    inflight: num(a.inflight),
    reconnectMs: num(a['reconnect-ms']),
    flapMeanIntervalMs: num(a['flap-every-ms']),
    flapDowntimeMs: downtime === undefined ? undefined : [downtime[0] ?? Number.NaN, downtime[1] ?? downtime[0] ?? 0],
    seed: num(a.seed),
    drainTimeoutMs: num(a['drain-timeout-ms']),
    username: a.username,
    password: a.password,
  }
  return run(input, a.report, a.quiet === true)
}

async function run(input: FleetInput, reportFile: string | undefined, quiet: boolean): Promise<number> {
  const abort = new AbortController()
  process.on('SIGINT', () => {
    if (abort.signal.aborted) process.exit(130)
    console.error('stopping: draining the last acknowledgements (Ctrl-C again to exit now)')
    abort.abort()
  })
  let report: FleetReport
  try {
    report = await runFleet(input, {
      signal: abort.signal,
      ...(quiet ? {} : { onProgress: (totals: Counts) => console.error(progressLine(totals)) }),
    })
  } catch (error) {
    if (!(error instanceof RangeError)) throw error
    console.error(error.message)
    return 2
  }
  if (reportFile !== undefined) writeFileSync(reportFile, JSON.stringify(report))
  const seconds = (report.endedAtMs - report.startedAtMs) / 1000
  console.log(
    JSON.stringify(
      {
        seconds,
        devices: report.devices.length,
        publishedPerSec: Math.round(report.totals.published / seconds),
        ...report.totals,
        ackLatency: report.ackLatency,
      },
      null,
      2,
    ),
  )
  const neverConnected = report.devices.filter((d) => d.connects === 0)
  if (neverConnected.length > 0) {
    const first = neverConnected[0]
    console.error(
      `${neverConnected.length} device(s) never connected; ${first?.deviceId}: ${first?.lastError ?? 'no answer'}`,
    )
  }
  return report.totals.unacked > 0 || report.totals.refused > 0 || neverConnected.length > 0 ? 1 : 0
}

function progressLine(t: Counts): string {
  return (
    `published ${t.published} sent ${t.sent} acked ${t.acked} resent ${t.resent} unanswered ` +
    `${t.published - t.acked - t.refused - t.dropped} connects ${t.connects} disconnects ${t.disconnects} flaps ${t.flaps}`
  )
}

process.exitCode = await main()
