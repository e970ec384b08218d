// The real gateway process for the device tests, and the stream `mqtt` read back over its HTTP API:
// the log itself, in offset order, so a test sees exactly what Cairn stored and in what order.
import { servedPorts, startCairn, tempDir } from '../gateway/cairn-process.ts'
import type { Arrival, FleetReport } from '../../device/simulator/index.ts'
import { zeroCounts } from '../../device/simulator/report.ts'

export interface Gateway {
  mqttUrl: string
  mqttPort: number
  httpPort: number
}

/** The gateway on a fresh data dir; MQTT on `mqttPort` (default: any free port). Killed when the test ends. */
export async function startGateway(mqttPort = 0): Promise<Gateway> {
  const dir = tempDir()
  const cairn = startCairn([
    ...['serve', '--data-dir', dir],
    ...['--mqtt', `127.0.0.1:${mqttPort}`, '--native', '127.0.0.1:0', '--http', '127.0.0.1:0'],
  ])
  const ports = await servedPorts(cairn)
  const port = ports.mqtt ?? 0
  return { mqttUrl: `mqtt://127.0.0.1:${port}`, mqttPort: port, httpPort: ports.http ?? 0 }
}

interface HttpMessage {
  offset: number
  key: string | null
  value: string | null
}

/** Every record of stream `mqtt` (one partition by default) whose key (the MQTT topic) starts with `topicPrefix`. */
export async function readStored(gateway: Gateway, topicPrefix: string): Promise<Arrival[]> {
  const arrivals: Arrival[] = []
  let offset = 0
  for (;;) {
    const url = `http://127.0.0.1:${gateway.httpPort}/api/v1/topics/mqtt/partitions/0/messages?offset=${offset}&limit=10000`
    const response = await fetch(url)
    if (response.status !== 200) throw new Error(`GET ${url}: ${response.status} ${await response.text()}`)
    const body = (await response.json()) as { messages: HttpMessage[]; next_offset: number }
    if (body.messages.length === 0) return arrivals
    for (const message of body.messages) {
      if (message.key === null || !message.key.startsWith(topicPrefix) || message.value === null) continue
      arrivals.push({ topic: message.key, payload: Buffer.from(message.value, 'base64') })
    }
    offset = body.next_offset
  }
}

/**
 * A fleet report for a device the simulator did not run (the examples): `acked` messages 1..acked
 * on one topic, as checkArrivals expects.
 */
export function reportForDevice(deviceId: string, topic: string, acked: number): FleetReport {
  const seqs = Array.from({ length: acked }, (_, i) => i + 1)
  const counts = { ...zeroCounts(), published: acked, sent: acked, acked }
  return {
    seed: 0,
    startedAtMs: 0,
    endedAtMs: 0,
    totals: counts,
    ackLatency: undefined,
    devices: [
      {
        deviceId,
        clientId: deviceId,
        lastError: undefined,
        ...counts,
        topics: { [topic]: { acked: seqs, sent: seqs, refused: [], dropped: [], unacked: [] } },
      },
    ],
  }
}
