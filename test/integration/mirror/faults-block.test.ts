// Mirror fault scenario (mirror.md §B7 `block`, §B12 T14): a 1 MiB disk budget, every stream under
// policy block, the MQTT front end on the same store, and upstream down (the proxy refuses). The
// mirror's retention hold keeps every unmirrored record, so once the budget is reached the store
// refuses appends (CAIRN_STORAGE_FULL) and an MQTT 5 publisher gets PUBACK 0x97 (quota exceeded).
// When the link heals, everything that was acknowledged reaches upstream exactly once (the oracle,
// test/helpers/mirror-oracle.ts, plus the MQTT payloads read with kcat), and once the mirror has
// caught up retention can free space and producing works again.
import { describe, expect, test } from 'vitest'
import { BrokerError } from '../../../src/errors.ts'
import { kcat, kcatRead } from '../../helpers/kafka-mock.ts'
import { checkMirror, json, Ledger, startFaultMirror } from '../../helpers/mirror-oracle.ts'
import { startMqttBroker } from '../../helpers/mqtt-broker.ts'
import { connectClient, type TestClient } from '../mqtt/mqttjs/clients.ts'

const maxDiskBytes = 1024 * 1024
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Publishes at QoS 1; resolves with the PUBACK reason code (0 = success). */
function publish(c: TestClient, payload: string): Promise<number> {
  return new Promise((resolve, reject) => {
    c.client.publish(
      'sensors/block',
      payload,
      { qos: 1, properties: { userProperties: { origin: 'mqtt' } } },
      (error) => {
        if (error === undefined || error === null) {
          resolve(0)
          return
        }
        const code = (error as Error & { code?: unknown }).code
        if (typeof code === 'number') resolve(code)
        else reject(error)
      },
    )
  })
}

describe.skipIf(kcat.skip)(`mirror faults: block under a disk budget ${kcat.reason}`, () => {
  test('block with a tiny disk budget: producers are refused (STORAGE_FULL, PUBACK 0x97), nothing acknowledged is lost', async () => {
    const broker = await startMqttBroker({ store: { maxDiskBytes }, options: { sysIntervalMs: 0 } })
    const { store } = broker
    store.createStream('bulk')
    const ledger = new Ledger()
    const fm = await startFaultMirror({
      store,
      gatewayAlias: `gw-block-${process.pid}`,
      streams: [{ match: '*', policy: { kind: 'block' }, priority: 0 }],
    })
    try {
      const mqtt = await connectClient(broker.url, { protocolVersion: 5 })
      const acked: string[] = []
      const refused: string[] = []
      const send = async (payload: string): Promise<number> => {
        const code = await publish(mqtt, payload)
        ;(code === 0 ? acked : refused).push(payload)
        return code
      }

      // Up: mirrored as they come.
      for (let i = 0; i < 20; i++) expect(await send(`m${i}`)).toBe(0)
      await ledger.append(store, 'bulk', 0, 20, 1000)
      await fm.caughtUp(20_000)

      // Down: accepted while there is room, then refused.
      await fm.down()
      for (let i = 20; i < 30; i++) expect(await send(`m${i}`)).toBe(0)
      let full: unknown
      for (let written = 0; full === undefined; written += 50 * 1000) {
        if (written > 20 * maxDiskBytes) throw new Error('the store never refused an append')
        try {
          await ledger.append(store, 'bulk', 0, 50, 1000)
        } catch (error) {
          full = error
        }
        await sleep(1)
      }
      expect(full).toBeInstanceOf(BrokerError)
      expect((full as BrokerError).code).toBe('CAIRN_STORAGE_FULL')
      // Retention may not delete what is not mirrored: a maintenance pass frees nothing.
      await store.runMaintenance()
      expect(store.retentionHold('bulk', 0)).toBe(20n)
      await expect(ledger.append(store, 'bulk', 0, 1, 1000)).rejects.toMatchObject({ code: 'CAIRN_STORAGE_FULL' })
      for (let i = 0; i < 3; i++) expect(await send(`refused${i}`)).toBe(0x97)
      const localBulk = store.latestOffset('bulk', 0)
      expect(BigInt(ledger.count)).toBe(localBulk)

      // Heal: the backlog goes up, the hold moves, retention frees space, producing works again.
      await fm.heal()
      await fm.caughtUp(60_000)
      await store.runMaintenance()
      expect(store.stats().usedBytes).toBeLessThanOrEqual(maxDiskBytes)
      await ledger.append(store, 'bulk', 0, 10, 1000)
      for (let i = 30; i < 35; i++) expect(await send(`m${i}`)).toBe(0)
      await fm.caughtUp(20_000)

      const [status] = fm.mirror.status()
      expect(status?.redeliveredRecords).toBe(0)
      const reports = await checkMirror({
        store,
        mirror: fm.mirror,
        bootstrap: fm.mock.bootstrap,
        gatewayAlias: fm.gatewayAlias,
        produced: ledger.produced,
      })
      expect(reports.every((r) => r.gapRecords === 0 && r.duplicates === 0 && r.redelivered === 0)).toBe(true)
      const bulk = reports.find((r) => r.stream === 'bulk')
      expect(bulk?.mirrored).toBe(ledger.count)
      expect(bulk?.compared).toBe(ledger.count)
      // Every acknowledged MQTT message once, in order; none of the refused ones.
      const session = reports.find((r) => r.stream === 'mqtt')
      expect(session).toBeDefined()
      const upstream = await kcatRead(fm.mock.bootstrap, session?.upstreamTopic ?? '', 0, 0)
      expect(upstream.map((r) => Buffer.from(r.value ?? []).toString())).toEqual(acked)
      expect(
        upstream.every((r) => r.headers.some(([k, v]) => k === 'origin' && Buffer.from(v ?? []).toString() === 'mqtt')),
      ).toBe(true)
      expect(refused).toHaveLength(3)
      console.log(
        `block: ${json(reports.map((r) => ({ stream: r.stream, mirrored: r.mirrored, compared: r.compared })))}`,
      )
      await mqtt.end()
    } finally {
      await fm.close()
    }
  }, 120_000)
})
