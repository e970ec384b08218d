// Checks what arrived at a receiver against a fleet report. The receiver (a subscriber, the HTTP API,
// the native client) supplies the payloads in the order it got them; the rules are MQTT's:
//   - every acknowledged message arrived (at least once);
//   - per device, first arrivals are in publish order (seq increasing): a device has one connection at
//     a time and the broker appends what one connection sends in order;
//   - a seq that arrives again is a duplicate: legitimate at QoS 1 after a flap (the PUBACK was lost and
//     the message resent), never at QoS 2 with persistent sessions;
//   - nothing arrives that the fleet did not publish, and each message under the topic it was sent to.
// Unacknowledged messages (in flight at a flap and never answered, refused, dropped) may or may not
// have arrived: they are not required, but are checked for order and duplicates like the rest.
import { decodePayload } from './payload.ts'
import type { FleetReport } from './report.ts'

export interface Arrival {
  topic: string
  payload: Uint8Array
  /** Where the receiver read it (a log partition, a subscription); order is only compared within one. */
  orderDomain?: string | number
}

export interface MessageRef {
  deviceId: string
  topic: string
  seq: number
}

export interface ArrivalCheck {
  ok: boolean
  arrived: number
  /** Acknowledged messages that never arrived. */
  missing: MessageRef[]
  /** Second and later arrivals of a seq. */
  duplicates: MessageRef[]
  /** First arrivals with a seq below one already seen from the same device. */
  outOfOrder: MessageRef[]
  /** Payloads that are not the fleet's, seqs it never published, or a message under the wrong topic. */
  unexpected: Array<{ topic: string; reason: string }>
}

export function checkArrivals(
  report: FleetReport,
  arrivals: Iterable<Arrival>,
  options: { duplicatesAllowed: boolean },
): ArrivalCheck {
  const published = new Map<string, { count: number; topicOf: Map<number, string> }>()
  for (const device of report.devices) {
    const topicOf = new Map<number, string>()
    for (const [topic, t] of Object.entries(device.topics)) {
      for (const list of [t.sent, t.dropped, t.unacked, t.acked, t.refused])
        for (const seq of list) topicOf.set(seq, topic)
    }
    published.set(device.deviceId, { count: device.published, topicOf })
  }

  const result: ArrivalCheck = { ok: true, arrived: 0, missing: [], duplicates: [], outOfOrder: [], unexpected: [] }
  const seen = new Map<string, Set<number>>()
  const highest = new Map<string, number>()
  for (const arrival of arrivals) {
    result.arrived++
    const reading = decodePayload(arrival.payload)
    if (reading === undefined) {
      result.unexpected.push({ topic: arrival.topic, reason: 'not a simulator payload' })
      continue
    }
    const { deviceId, seq } = reading
    const device = published.get(deviceId)
    const ref = { deviceId, topic: arrival.topic, seq }
    if (device === undefined || seq < 1 || seq > device.count) {
      result.unexpected.push({ topic: arrival.topic, reason: `${deviceId} never published seq ${seq}` })
      continue
    }
    const sentTo = device.topicOf.get(seq)
    if (sentTo !== undefined && sentTo !== arrival.topic) {
      result.unexpected.push({ topic: arrival.topic, reason: `${deviceId} seq ${seq} was published to ${sentTo}` })
    }
    const seenSeqs = seen.get(deviceId) ?? new Set<number>()
    seen.set(deviceId, seenSeqs)
    if (seenSeqs.has(seq)) {
      result.duplicates.push(ref)
      continue
    }
    seenSeqs.add(seq)
    const domain = `${deviceId}\u0000${arrival.orderDomain ?? ''}`
    const top = highest.get(domain) ?? 0
    if (seq < top) result.outOfOrder.push(ref)
    else highest.set(domain, seq)
  }

  for (const device of report.devices) {
    const seenSeqs = seen.get(device.deviceId)
    for (const [topic, t] of Object.entries(device.topics)) {
      for (const seq of t.acked) {
        if (seenSeqs?.has(seq) !== true) result.missing.push({ deviceId: device.deviceId, topic, seq })
      }
    }
  }
  result.ok =
    result.missing.length === 0 &&
    result.outOfOrder.length === 0 &&
    result.unexpected.length === 0 &&
    (options.duplicatesAllowed || result.duplicates.length === 0)
  return result
}
