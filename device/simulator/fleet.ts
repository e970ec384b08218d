// runFleet: N simulated devices against one broker, until each has sent its messages, the duration
// is up, or the signal aborts; then every device drains and disconnects, and the report says what
// each one produced, sent, resent, and got acknowledged, per MQTT topic and sequence number.
import { SimulatedDevice } from './device.ts'
import { resolveFleetOptions, type FleetInput } from './options.ts'
import { sumCounts, summarizeLatencies, type Counts, type FleetReport } from './report.ts'
import { deviceSeed } from './rng.ts'

export interface RunFleetControl {
  /** Aborting stops producing early; the run still drains and resolves with its report. */
  signal?: AbortSignal
  /** Called every `progressIntervalMs` (default 1000) with the counts so far. */
  onProgress?: (totals: Counts) => void
  progressIntervalMs?: number
}

export async function runFleet(input: FleetInput, control: RunFleetControl = {}): Promise<FleetReport> {
  const options = resolveFleetOptions(input)
  const startedAtMs = Date.now()
  const latenciesMs: number[] = []
  const devices = Array.from(
    { length: options.devices },
    (_, index) => new SimulatedDevice(index, options, deviceSeed(options.seed, index), latenciesMs),
  )
  const stopAll = () => {
    for (const device of devices) device.stop()
  }
  const { signal, onProgress } = control
  if (signal?.aborted === true) stopAll()
  signal?.addEventListener('abort', stopAll, { once: true })
  const durationTimer = options.durationMs === undefined ? undefined : setTimeout(stopAll, options.durationMs)
  const progressTimer =
    onProgress === undefined
      ? undefined
      : setInterval(() => onProgress(sumCounts(devices.map((d) => d.report))), control.progressIntervalMs ?? 1000)
  try {
    await Promise.all(devices.map((device) => device.finished))
  } finally {
    clearTimeout(durationTimer)
    clearInterval(progressTimer)
    signal?.removeEventListener('abort', stopAll)
  }
  const reports = devices.map((device) => device.report)
  return {
    seed: options.seed,
    startedAtMs,
    endedAtMs: Date.now(),
    totals: sumCounts(reports),
    ackLatency: summarizeLatencies(latenciesMs),
    devices: reports,
  }
}
