// `npm run soak -- ...`: the options, their defaults and --help.
import { parseArgs } from 'node:util'

export interface SoakOptions {
  minutes: number
  devices: number
  ratePerSec: number
  qos: 1 | 2
  deviceFlapEverySec: number
  deviceFlapDowntimeMs: [number, number]
  churnDevices: number
  churnRoundSec: number
  upstreamFlapEverySec: number
  upstreamDowntimeSec: number
  sampleEverySec: number
  drainTimeoutSec: number
  maxRssGrowthMiBPerHour: number
  maxFdGrowthPerHour: number
  maxWalGrowthMiBPerHour: number
  seed: number
  json: string | undefined
  keepData: boolean
}

export const usage = `Usage: npm run soak -- [options]

Runs the gateway (cairn serve, fresh temp data dir) mirroring to the librdkafka mock through a fault
proxy, drives the device simulator against it with connection churn and link flaps, flaps the upstream
link, and samples the gateway's RSS, open fds, WAL and DB size, MQTT clients and mirror lag. At the end:
every acknowledged message in the local log (at least once at QoS 1), every local record upstream once
(read with kcat), and no growth trend in RSS, fds or WAL over the second half. Exit 0 pass, 1 fail, 2 usage.

  --minutes N                   how long the load runs (default 60)
  --devices N                   persistent-session devices (default 100)
  --rate N                      messages per second per device, main and churn fleets (default 2)
  --qos 1|2                     (default 1)
  --device-flap-every-sec N     mean interval between one device's link flaps; 0 = none (default 60)
  --device-flap-downtime-ms A-B how long a device's link stays down (default 100-3000)
  --churn-devices N             clean-session devices that connect, publish and disconnect in rounds,
                                new client ids every round; 0 = none (default 20)
  --churn-round-sec N           length of one churn round (default 30)
  --upstream-flap-every-sec N   upstream link faults, alternating a cut (refused + reset) and a
                                blackhole of the responses; 0 = none (default 120)
  --upstream-downtime-sec N     how long each upstream fault lasts (default 15)
  --sample-every-sec N          (default 10)
  --drain-timeout-sec N         wait for the mirror to catch up at the end (default 600)
  --max-rss-growth-mib-per-hour N   RSS slope over the second half that fails the run (default 32)
  --max-fd-growth-per-hour N        open-fd slope that fails the run (default 20)
  --max-wal-growth-mib-per-hour N   WAL slope that fails the run (default 32)
  --seed N                      (default 1)
  --json FILE                   write every sample and the result as JSON
  --keep-data                   keep the temp data dir (its path is printed)
  --help
`

export class UsageError extends Error {}

export function parseSoakArgs(argv: string[]): SoakOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      minutes: { type: 'string', default: '60' },
      devices: { type: 'string', default: '100' },
      rate: { type: 'string', default: '2' },
      qos: { type: 'string', default: '1' },
      'device-flap-every-sec': { type: 'string', default: '60' },
      'device-flap-downtime-ms': { type: 'string', default: '100-3000' },
      'churn-devices': { type: 'string', default: '20' },
      'churn-round-sec': { type: 'string', default: '30' },
      'upstream-flap-every-sec': { type: 'string', default: '120' },
      'upstream-downtime-sec': { type: 'string', default: '15' },
      'sample-every-sec': { type: 'string', default: '10' },
      'drain-timeout-sec': { type: 'string', default: '600' },
      'max-rss-growth-mib-per-hour': { type: 'string', default: '32' },
      'max-fd-growth-per-hour': { type: 'string', default: '20' },
      'max-wal-growth-mib-per-hour': { type: 'string', default: '32' },
      seed: { type: 'string', default: '1' },
      json: { type: 'string' },
      'keep-data': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  })
  if (values.help) return 'help'
  const problems: string[] = []
  const number = (name: keyof typeof values, min: number, integer = false): number => {
    const text = String(values[name])
    const n = Number(text)
    if (text === '' || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
      problems.push(`--${name} must be ${integer ? 'an integer' : 'a number'} ≥ ${min}, got ${text}`)
    }
    return n
  }
  const downtime = /^(\d+)-(\d+)$/.exec(values['device-flap-downtime-ms'])
  if (downtime === null || Number(downtime[1]) > Number(downtime[2])) {
    problems.push(`--device-flap-downtime-ms must be MIN-MAX in ms, got ${values['device-flap-downtime-ms']}`)
  }
  const qos = number('qos', 1, true)
  if (qos !== 1 && qos !== 2) problems.push(`--qos must be 1 or 2, got ${values.qos}`)
  const options: SoakOptions = {
    minutes: number('minutes', 0.5),
    devices: number('devices', 1, true),
    ratePerSec: number('rate', 0.01),
    qos: qos === 2 ? 2 : 1,
    deviceFlapEverySec: number('device-flap-every-sec', 0),
    deviceFlapDowntimeMs: [Number(downtime?.[1] ?? 0), Number(downtime?.[2] ?? 0)],
    churnDevices: number('churn-devices', 0, true),
    churnRoundSec: number('churn-round-sec', 5),
    upstreamFlapEverySec: number('upstream-flap-every-sec', 0),
    upstreamDowntimeSec: number('upstream-downtime-sec', 0),
    sampleEverySec: number('sample-every-sec', 1),
    drainTimeoutSec: number('drain-timeout-sec', 1),
    maxRssGrowthMiBPerHour: number('max-rss-growth-mib-per-hour', 0),
    maxFdGrowthPerHour: number('max-fd-growth-per-hour', 0),
    maxWalGrowthMiBPerHour: number('max-wal-growth-mib-per-hour', 0),
    seed: number('seed', 0, true),
    json: values.json,
    keepData: values['keep-data'],
  }
  if (options.upstreamFlapEverySec > 0 && options.upstreamDowntimeSec >= options.upstreamFlapEverySec) {
    problems.push('--upstream-downtime-sec must be shorter than --upstream-flap-every-sec')
  }
  if (problems.length > 0) throw new UsageError(problems.join('\n'))
  return options
}
