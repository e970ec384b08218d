// The simulator against the real gateway process, with link flaps: every flap resets a device's TCP
// connection while a message is in flight, and the device comes back to its persistent session. Read
// back from the log over the HTTP API, this checks what Cairn promises (README "MQTT"): PUBACK/PUBREC
// only after the commit, so every acknowledged message is stored; one connection's publishes in order;
// QoS 1 at least once (a resend whose first copy was stored but whose PUBACK was lost is stored again);
// QoS 2 exactly once with persistent sessions.
import { describe, expect, it } from 'vitest'
import { checkArrivals, runFleet, type FleetInput, type FleetReport } from '../../device/simulator/index.ts'
import { readStored, startGateway } from './gateway.ts'

const variants: Array<{ name: string; options: Omit<FleetInput, 'url'> }> = [
  { name: 'qos1 mqtt 3.1.1 json', options: { qos: 1, protocolVersion: 4, format: 'json' } },
  { name: 'qos1 mqtt 5 binary', options: { qos: 1, protocolVersion: 5, format: 'binary', payloadBytes: 200 } },
  { name: 'qos2 mqtt 5 text', options: { qos: 2, protocolVersion: 5, format: 'text' } },
]

describe('fleet - link flaps against the gateway', () => {
  it.each(variants)('$name: every acknowledged message is stored, in order per device', async ({ name, options }) => {
    const gateway = await startGateway()
    const idPrefix = `f${variants.findIndex((v) => v.name === name)}-`
    const report: FleetReport = await runFleet({
      url: gateway.mqttUrl,
      devices: 4,
      idPrefix,
      topicPrefix: 'flaps',
      topics: ['temp', 'humidity'],
      ratePerSec: 100,
      messagesPerDevice: 80,
      persistent: true,
      inflight: 8,
      reconnectMs: 50,
      flapMeanIntervalMs: 120,
      flapDowntimeMs: [10, 60],
      seed: 42,
      drainTimeoutMs: 20_000,
      ...options,
    })
    const { totals } = report
    const summary = JSON.stringify(totals)
    // The scenario really happened: flaps with messages in flight, and resends after them.
    expect(totals.flaps, summary).toBeGreaterThanOrEqual(4)
    expect(totals.resent, summary).toBeGreaterThan(0)
    expect(totals.disconnects, summary).toBe(totals.flaps)
    // Every reconnect found its session (the first connect of each device is fresh).
    expect(totals.sessionsResumed, summary).toBe(totals.connects - 4)
    // With a drain long enough, every message is acknowledged in the end; none refused or dropped.
    expect(totals.published, summary).toBe(4 * 80)
    expect(totals.acked, summary).toBe(totals.published)

    const stored = await readStored(gateway, 'flaps/')
    const check = checkArrivals(report, stored, { duplicatesAllowed: options.qos === 1 })
    expect(check.missing, summary).toEqual([])
    expect(check.outOfOrder, summary).toEqual([])
    expect(check.unexpected, summary).toEqual([])
    // A duplicate can only come from a resend (QoS 1: first copy stored, PUBACK lost); QoS 2 has none.
    if (options.qos === 2) expect(check.duplicates).toEqual([])
    else expect(check.duplicates.length, summary).toBeLessThanOrEqual(totals.resent)
    expect(check.arrived).toBe(totals.published + check.duplicates.length)
    expect(check.ok).toBe(true)
  })
})
