// The load of a soak: a fleet of persistent-session devices with link flaps for the whole run, a
// churning fleet (clean sessions, fresh client ids every round: connect, publish, disconnect), and
// faults on the upstream link through the proxy. All stop on one signal; the fleets drain first.
import { runFleet, type FleetReport } from '../../device/simulator/index.ts'
import { sumCounts, type Counts } from '../../device/simulator/report.ts'
import type { FaultProxy } from '../../test/helpers/fault-proxy.ts'
import type { SoakOptions } from './options.ts'

export const topicPrefix = 'sensors'

export interface Load {
  /** Counts so far: the main fleet's last progress plus finished churn rounds. */
  totals(): Counts
  upstreamFaults(): number
  /** Resolves when everything has stopped: the main fleet's report with every churn round's devices added. */
  readonly finished: Promise<FleetReport>
}

export function startLoad(url: string, o: SoakOptions, proxy: FaultProxy, signal: AbortSignal): Load {
  let mainTotals: Counts | undefined
  const churnReports: FleetReport[] = []
  let faults = 0

  const main = runFleet(
    {
      url,
      devices: o.devices,
      idPrefix: 'dev-',
      topicPrefix,
      ratePerSec: o.ratePerSec,
      qos: o.qos,
      persistent: true,
      flapMeanIntervalMs: o.deviceFlapEverySec * 1000,
      flapDowntimeMs: o.deviceFlapDowntimeMs,
      seed: o.seed,
      drainTimeoutMs: 60_000,
    },
    { signal, onProgress: (totals) => (mainTotals = totals), progressIntervalMs: 5000 },
  )

  const churn = (async () => {
    for (let round = 1; o.churnDevices > 0 && !signal.aborted; round++) {
      churnReports.push(
        await runFleet(
          {
            url,
            devices: o.churnDevices,
            // Fresh ids every round: each is a new session, and the devices' seqs start at 1 again.
            idPrefix: `churn${round}-`,
            topicPrefix,
            ratePerSec: o.ratePerSec,
            qos: o.qos,
            persistent: false,
            durationMs: o.churnRoundSec * 1000,
            seed: o.seed * 1000 + round,
            drainTimeoutMs: 60_000,
          },
          { signal },
        ),
      )
    }
  })()

  const upstream = (async () => {
    if (o.upstreamFlapEverySec <= 0) return
    for (;;) {
      if (!(await sleep((o.upstreamFlapEverySec - o.upstreamDowntimeSec) * 1000, signal))) return
      faults++
      // Alternate: a cut (new connections refused, open ones reset: the mirror sees errors at once) and a
      // blackhole of the responses (requests arrive and are appended, answers do not come back: the
      // mirror times out not knowing, and must reconcile without losing or doubling records).
      if (faults % 2 === 1) {
        await proxy.refuse(true)
        proxy.cutAll()
      } else {
        proxy.blackhole(true, 'responses')
      }
      await sleep(o.upstreamDowntimeSec * 1000, signal)
      proxy.blackhole(false)
      await proxy.refuse(false)
    }
  })()

  const finished = (async () => {
    const [report] = await Promise.all([main, churn, upstream])
    const devices = [...report.devices, ...churnReports.flatMap((r) => r.devices)]
    return { ...report, devices, totals: sumCounts(devices) }
  })()

  return {
    totals: () => sumCounts([...(mainTotals === undefined ? [] : [mainTotals]), ...churnReports.map((r) => r.totals)]),
    upstreamFaults: () => faults,
    finished,
  }
}

/** False when the signal cut it short. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve(false)
      return
    }
    const done = (): void => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve(!signal.aborted)
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}
