// What a fleet run reports: for every device and MQTT topic, the sequence numbers in each outcome, so
// a test can check what arrived against what was acknowledged (not against what was merely sent).

export interface Counts {
  /** Messages the device produced (seq 1..published). */
  published: number
  /** Messages written to a connection at least once. */
  sent: number
  /** PUBLISH packets written again after a reconnect (the same seq; QoS 1/2 only). */
  resent: number
  /** QoS 1/2 messages acknowledged with success (PUBACK; for QoS 2, PUBCOMP). */
  acked: number
  /** QoS 1/2 messages the broker answered with an error reason code (MQTT 5). */
  refused: number
  /** Messages the client gave up on: QoS 0 while offline, or a client-side error. */
  dropped: number
  /** QoS 1/2 messages without an answer when the run ended (they may or may not have arrived). */
  unacked: number
  /** CONNACKs received. */
  connects: number
  /** CONNACKs with session present (a persistent session found again). */
  sessionsResumed: number
  /** Connections lost, flaps included (the final DISCONNECT is not counted). */
  disconnects: number
  /** Flaps the simulator caused (abrupt socket resets). */
  flaps: number
  /** Client errors seen (refused connections, CONNACK errors, ...). */
  errors: number
}

export interface TopicReport {
  /** In the order the acknowledgements came. */
  acked: number[]
  /** Each seq once, in first-write order. */
  sent: number[]
  refused: number[]
  dropped: number[]
  unacked: number[]
}

export interface DeviceReport extends Counts {
  deviceId: string
  clientId: string
  /** By full MQTT topic. */
  topics: Record<string, TopicReport>
  lastError: string | undefined
}

export interface LatencySummary {
  count: number
  p50Ms: number
  p90Ms: number
  p99Ms: number
  maxMs: number
}

export interface FleetReport {
  seed: number
  startedAtMs: number
  endedAtMs: number
  totals: Counts
  /** First write of a PUBLISH to its acknowledgement (includes any flap downtime in between). */
  ackLatency: LatencySummary | undefined
  devices: DeviceReport[]
}

export function zeroCounts(): Counts {
  return {
    published: 0,
    sent: 0,
    resent: 0,
    acked: 0,
    refused: 0,
    dropped: 0,
    unacked: 0,
    connects: 0,
    sessionsResumed: 0,
    disconnects: 0,
    flaps: 0,
    errors: 0,
  }
}

export function sumCounts(reports: readonly Counts[]): Counts {
  const total = zeroCounts()
  for (const report of reports) {
    for (const key of Object.keys(total) as Array<keyof Counts>) total[key] += report[key]
  }
  return total
}

export function summarizeLatencies(latenciesMs: number[]): LatencySummary | undefined {
  if (latenciesMs.length === 0) return undefined
  const sorted = Float64Array.from(latenciesMs).sort()
  const at = (q: number) => round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0)
  return { count: sorted.length, p50Ms: at(0.5), p90Ms: at(0.9), p99Ms: at(0.99), maxMs: at(1) }
}

const round = (ms: number) => Math.round(ms * 100) / 100
