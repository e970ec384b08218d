// Mirror fault scenario (mirror.md §B12 T11): while records stream, the fault proxy blackholes the
// link for 5 s — first only the answers (requests reach the broker and are appended, their acks never
// come back), then both directions (requests wait in the proxy). Sends time out as UNCERTAIN; after
// healing, reconciliation reads upstream back, confirms what arrived and re-sends only the rest.
// The oracle (test/helpers/mirror-oracle.ts) then finds every record exactly once.
import { describe, expect, test } from 'vitest'
import { kcat } from '../../helpers/kafka-mock.ts'
import { checkMirror, Ledger, startFaultMirror } from '../../helpers/mirror-oracle.ts'
import { openTempStore } from '../../helpers/temp-store.ts'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

describe.skipIf(kcat.skip)(`mirror faults: blackhole ${kcat.reason}`, () => {
  test('blackhole mid-send: uncertain sends are reconciled after healing, nothing is sent twice', async () => {
    const { store } = openTempStore()
    store.createStream('telemetry', { partitions: 2 })
    const ledger = new Ledger()
    const fm = await startFaultMirror({ store, gatewayAlias: `gw-blackhole-${process.pid}` })
    let producing = true
    const producer = (async () => {
      for (let i = 0; producing; i++) {
        await ledger.append(store, 'telemetry', i % 2, 10)
        await sleep(25)
      }
    })()
    try {
      await fm.caughtUp(20_000).catch(() => undefined)
      await sleep(500)
      for (const direction of ['responses', 'both'] as const) {
        const reconciledBefore = fm.logs.find('reconciled an uncertain batch').length
        fm.proxy.blackhole(true, direction)
        await sleep(5000)
        const uncertain = fm.logs
          .find('mirror link failed; backing off')
          .filter((e) => (e['err'] as { code?: string } | undefined)?.code === 'CAIRN_UPSTREAM_UNCERTAIN')
        expect(uncertain.length, `an UNCERTAIN send while blackholed (${direction})`).toBeGreaterThan(0)
        await fm.heal()
        // Streaming resumes: the reconciliation of the uncertain batch happened.
        const deadline = Date.now() + 20_000
        while (fm.logs.find('reconciled an uncertain batch').length === reconciledBefore) {
          if (Date.now() > deadline) throw new Error(`no reconciliation after the ${direction} blackhole`)
          await sleep(50)
        }
        await sleep(1000)
      }
      producing = false
      await producer
      await fm.caughtUp(30_000)

      const reconciled = fm.logs.find('reconciled an uncertain batch')
      // With only the answers held, the requests were appended: the read-back found them.
      expect(reconciled.some((e) => (e['found'] as number) > 0)).toBe(true)
      const [status] = fm.mirror.status()
      expect(status?.redeliveredRecords).toBe(0)
      const reports = await checkMirror({
        store,
        mirror: fm.mirror,
        bootstrap: fm.mock.bootstrap,
        gatewayAlias: fm.gatewayAlias,
        produced: ledger.produced,
      })
      expect(reports.reduce((sum, r) => sum + r.mirrored, 0)).toBe(ledger.count)
      expect(reports.every((r) => r.duplicates === 0 && r.redelivered === 0 && r.gapRecords === 0)).toBe(true)
      console.log(
        `blackhole: ${ledger.count} records, reconciliations found ${reconciled.map((e) => e['found'] as number).join(',')}`,
      )
    } finally {
      producing = false
      await producer.catch(() => undefined)
      await fm.close()
    }
  }, 90_000)
})
