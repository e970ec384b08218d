// The broker driven by Eclipse Paho for Python (Debian package python3-paho-mqtt): paho_client.py
// runs one scenario against the broker and prints its observations as JSON; the checks are here.
import { fileURLToPath } from 'node:url'
import { beforeEach, describe, expect, it } from 'vitest'
import { startMqttBroker } from '../../../helpers/mqtt-broker.ts'
import { findPythonWithPaho, recordsFor, runClient, toolCheck, utf8 } from './client-process.ts'

const python = findPythonWithPaho()
const tools = toolCheck(
  python !== undefined,
  'no python3 that can import paho.mqtt: install the Debian package python3-paho-mqtt (.ci/run installs it)',
)
const script = fileURLToPath(new URL('./paho_client.py', import.meta.url))
/** Messages per QoS and subtree in the script. */
const n = 20

interface Connack {
  rc: number
  sessionPresent: boolean
}

interface Received {
  topic: string
  payload: string
  qos: number
  retain: boolean
  userProperties: Array<[string, string]>
}

interface RoundtripResult {
  subConnack: Connack
  pubConnack: Connack
  granted: number[]
  acked: number
  received: Received[]
}

interface SessionResult {
  first: Connack
  granted: number[]
  resumed: Connack
  received: Received[]
  fresh: Connack
}

async function runScenario<T>(
  port: number,
  scenario: 'roundtrip' | 'session' | 'alias',
  protocol: '311' | '5',
): Promise<T> {
  const exit = await runClient(python as string, [script, String(port), scenario, protocol], undefined, 60_000)
  return JSON.parse(exit.stdout) as T
}

/** The payloads received on `topic`, in the order the client handed them over. */
function payloadsOn(received: readonly Received[], topic: string): string[] {
  return received.filter((m) => m.topic === topic).map((m) => m.payload)
}

const range = (prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`)

describe.skipIf(tools.skip).each([{ protocol: '311' as const }, { protocol: '5' as const }])(
  'paho-mqtt (MQTT $protocol)',
  ({ protocol }) => {
    beforeEach(tools.require)
    const v5 = protocol === '5'
    const tag = `v${protocol}`

    it('paho - QoS 1 and 2 publishes are all acknowledged and delivered at the granted QoS, in order', async () => {
      const broker = await startMqttBroker()
      const result = await runScenario<RoundtripResult>(broker.port, 'roundtrip', protocol)
      expect(result.subConnack).toEqual({ rc: 0, sessionPresent: false })
      expect(result.granted).toEqual([1, 2])
      expect(result.acked).toBe(4 * n)
      expect(result.received).toHaveLength(4 * n)
      const base = `paho/${tag}/roundtrip`
      // Order holds per topic (each topic here has one QoS); paho hands QoS 2 messages over at PUBREL.
      for (const subtree of ['a', 'b']) {
        for (const qos of [1, 2]) {
          const topic = `${base}/${subtree}/q${qos}`
          expect(payloadsOn(result.received, topic)).toEqual(range(`${subtree}-q${qos}`))
          const deliveredQos = subtree === 'a' ? 1 : qos
          expect(result.received.filter((m) => m.topic === topic).every((m) => m.qos === deliveredQos)).toBe(true)
          expect(recordsFor(broker.store, topic).map((r) => utf8(r.value))).toEqual(range(`${subtree}-q${qos}`))
        }
      }
      for (const m of result.received) {
        const [, qos, seq] = /^[ab]-q(\d)-(\d+)$/.exec(m.payload) ?? []
        expect(m.userProperties).toEqual(
          v5
            ? [
                ['seq', seq],
                ['qos', qos],
              ]
            : [],
        )
      }
      if (v5) {
        const [record] = recordsFor(broker.store, `${base}/b/q2`)
        expect(record?.headers.map((h) => [h.key, utf8(h.value)])).toEqual([
          ['seq', '0'],
          ['qos', '2'],
        ])
      }
    })

    it('paho - a persistent session resumed without clean start gets what was published while it was away', async () => {
      const broker = await startMqttBroker()
      const result = await runScenario<SessionResult>(broker.port, 'session', protocol)
      expect(result.first).toEqual({ rc: 0, sessionPresent: false })
      expect(result.granted).toEqual([2])
      expect(result.resumed).toEqual({ rc: 0, sessionPresent: true })
      const topic = `paho/${tag}/session`
      // Published alternately at QoS 1 and 2; paho hands QoS 2 over at PUBREL, so compare per QoS.
      const expected = range('away')
      expect(result.received).toHaveLength(n)
      expect(result.received.filter((m) => m.qos === 1).map((m) => m.payload)).toEqual(
        expected.filter((_, i) => i % 2 === 0),
      )
      expect(result.received.filter((m) => m.qos === 2).map((m) => m.payload)).toEqual(
        expected.filter((_, i) => i % 2 === 1),
      )
      expect(payloadsOn(result.received, topic).sort()).toEqual([...expected].sort())
      // A clean start afterwards discards the session.
      expect(result.fresh).toEqual({ rc: 0, sessionPresent: false })
      expect(broker.frontEnd.sessions.has(`paho-session-${tag}`)).toBe(false)
    })
  },
)

describe.skipIf(tools.skip)('paho-mqtt (MQTT 5 topic aliases)', () => {
  beforeEach(tools.require)

  it('paho - publishes sent by topic alias are kept and delivered under their full topic name', async () => {
    const broker = await startMqttBroker()
    const result = await runScenario<RoundtripResult>(broker.port, 'alias', '5')
    expect(result.acked).toBe(2 * n)
    for (const name of ['left', 'right']) {
      const topic = `paho/v5/alias/${name}`
      expect(payloadsOn(result.received, topic)).toEqual(range(name))
      expect(recordsFor(broker.store, topic).map((r) => utf8(r.value))).toEqual(range(name))
    }
    expect(result.received.every((m) => m.topic !== '')).toBe(true)
  })
})
