// Mirror fault scenario (mirror.md §B12, T13/T14 family): the upstream link is down — the fault
// proxy refuses new connections and resets the open ones — while more than 10 000 records are
// written locally; when it heals, the mirror catches up and the oracle (test/helpers/mirror-oracle.ts)
// checks upstream against the local log with kcat.
import { describe, expect, test } from 'vitest'
import { KafkajsSink } from '../../../src/mirror/kafkajs-sink.ts'
import { kcat, kcatRead } from '../../helpers/kafka-mock.ts'
import { checkMirror, json, Ledger, startFaultMirror } from '../../helpers/mirror-oracle.ts'
import { openTempStore } from '../../helpers/temp-store.ts'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

describe.skipIf(kcat.skip)(`mirror faults: outage ${kcat.reason}`, () => {
  test('outage then catch-up: 10 000 records written while upstream refuses arrive once each, in order', async () => {
    const { store } = openTempStore()
    store.createStream('telemetry', { partitions: 3 })
    const ledger = new Ledger()
    const fm = await startFaultMirror({ store, gatewayAlias: `gw-outage-${process.pid}` })
    try {
      // Live first: the link is up and the mirror keeps up.
      for (let p = 0; p < 3; p++) await ledger.append(store, 'telemetry', p, 100)
      await fm.caughtUp(20_000)

      // Outage: the backlog grows, nothing moves upstream.
      await fm.down()
      const before = fm.mirror.status()[0]?.partitions.map((p) => p.nextLocal)
      for (let batch = 0; batch < 42; batch++) await ledger.append(store, 'telemetry', batch % 3, 250)
      await sleep(1500)
      const [down] = fm.mirror.status()
      expect(down?.partitions.map((p) => p.nextLocal)).toEqual(before)
      expect(down?.partitions.reduce((sum, p) => sum + p.lagRecords, 0n)).toBe(10_500n)
      expect(down?.state).not.toBe('streaming')
      expect(down?.lastError?.code).toBe('CAIRN_UPSTREAM_UNAVAILABLE')

      // Heal: catch up.
      const healedAt = Date.now()
      await fm.heal()
      await fm.caughtUp(60_000)
      const catchUpMs = Date.now() - healedAt
      const [up] = fm.mirror.status()
      expect(up?.state).toBe('streaming')
      expect(up?.redeliveredRecords).toBe(0)
      expect(up?.partitions.every((p) => p.lagRecords === 0n && p.gapRecords === 0)).toBe(true)

      const reports = await checkMirror({
        store,
        mirror: fm.mirror,
        bootstrap: fm.mock.bootstrap,
        gatewayAlias: fm.gatewayAlias,
        produced: ledger.produced,
      })
      expect(reports.reduce((sum, r) => sum + r.mirrored, 0)).toBe(10_800)
      expect(reports.every((r) => r.duplicates === 0 && r.redelivered === 0 && r.gapRecords === 0)).toBe(true)
      expect(reports.every((r) => r.compared === r.mirrored)).toBe(true)
      console.log(`outage: caught up 10 500 records in ${catchUpMs} ms; ${json(reports.map((r) => r.runs))} runs`)

      // The oracle is not vacuous: a second copy of a mirrored record, without em.redelivered, fails it.
      const topic = reports[0]?.upstreamTopic ?? ''
      const [victim] = await kcatRead(fm.mock.bootstrap, topic, 0, 5, 1)
      const injector = new KafkajsSink({ brokers: [fm.mock.bootstrap], clientId: 'oracle-check' })
      try {
        await injector.send(topic, 0, [
          {
            key: victim?.key ?? null,
            value: victim?.value ?? null,
            headers: (victim?.headers ?? []).filter((h): h is [string, Uint8Array] => h[1] !== null),
            timestamp: victim?.timestamp ?? 0,
          },
        ])
      } finally {
        await injector.close()
      }
      await expect(
        checkMirror({ store, mirror: fm.mirror, bootstrap: fm.mock.bootstrap, gatewayAlias: fm.gatewayAlias }),
      ).rejects.toThrow(/local offset 5 is upstream again at 3600 without em\.redelivered/)
    } finally {
      await fm.close()
    }
  }, 120_000)
})
