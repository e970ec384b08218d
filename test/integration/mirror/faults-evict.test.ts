// Mirror fault scenario (mirror.md §B7 `evict`, §B12 T14): a 1 MiB disk budget, the stream rule
// {match: '*', policy: evict}, and upstream down (the proxy refuses) while several MiB are written:
// the budget deletes the oldest records, mirrored or not. When the link heals, what was deleted
// before it was mirrored is a counted gap (status gapRecords, mirror_gap), the first record mirrored
// after each gap carries em.gap.before = the records skipped, and nothing else is lost — checked by
// the oracle (test/helpers/mirror-oracle.ts). Two outages, so each partition has two gaps.
//
// Both tests once found bugs (fixed): a reconciliation that found nothing moved the cursor past the
// intent's evicted records without counting them as a gap; status() threw while eviction had moved
// the log start past the cursor.
import { describe, expect, test } from 'vitest'
import { kcat } from '../../helpers/kafka-mock.ts'
import { checkMirror, json, Ledger, startFaultMirror } from '../../helpers/mirror-oracle.ts'
import { openTempStore } from '../../helpers/temp-store.ts'

const maxDiskBytes = 1024 * 1024
const valueBytes = 1000
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

describe.skipIf(kcat.skip)(`mirror faults: evict under a disk budget ${kcat.reason}`, () => {
  test('evict with a tiny disk budget: evicted records are counted gaps, marked upstream; nothing else is lost', async () => {
    // The store's clock is fake, so its maintenance runs only when the test calls runMaintenance().
    const { store } = openTempStore({ maxDiskBytes })
    store.createStream('telemetry', { partitions: 2 })
    const ledger = new Ledger()
    const fm = await startFaultMirror({
      store,
      gatewayAlias: `gw-evict-${process.pid}`,
      streams: [{ match: '*', policy: { kind: 'evict' }, priority: 0 }],
    })
    try {
      for (let round = 0; round < 2; round++) {
        for (let p = 0; p < 2; p++) await ledger.append(store, 'telemetry', p, 100, valueBytes)
        await fm.caughtUp(20_000)
        const mirroredUpTo = fm.mirror.status()[0]?.partitions.map((p) => p.nextLocal) ?? []

        await fm.down()
        // ~5.5 MiB into a 1 MiB budget; the budget is enforced as writes go (as background maintenance does).
        for (let batch = 0; batch < 40; batch++) {
          await ledger.append(store, 'telemetry', batch % 2, 100, valueBytes)
          if (batch % 4 === 3) await store.runMaintenance()
        }
        await store.runMaintenance()
        expect(store.stats().usedBytes).toBeLessThanOrEqual(maxDiskBytes)
        for (let p = 0; p < 2; p++) {
          // Unmirrored records were deleted: there is a gap to account for.
          expect(store.earliestOffset('telemetry', p)).toBeGreaterThan(mirroredUpTo[p] ?? 0n)
        }
        await sleep(300)

        await fm.heal()
        await fm.caughtUp(30_000)
      }

      const [status] = fm.mirror.status()
      expect(status?.redeliveredRecords).toBe(0)
      const reports = await checkMirror({
        store,
        mirror: fm.mirror,
        bootstrap: fm.mock.bootstrap,
        gatewayAlias: fm.gatewayAlias,
        produced: ledger.produced,
      })
      for (const r of reports) {
        expect(r.gapRecords).toBeGreaterThan(0)
        expect(r.gaps.every((g) => g.reason === 'retention-evict')).toBe(true)
        expect(r.duplicates).toBe(0)
        expect(r.mirrored + r.gapRecords).toBe(Number(r.logEnd))
        // Both outages left a gap: two separate ranges (adjacent rows would be one skipped range).
        const separate = r.gaps.filter((g, i) => i === 0 || (r.gaps[i - 1]?.end ?? -2n) + 1n !== g.start)
        expect(separate.length).toBe(2)
      }
      console.log(`evict: ${json(reports.map((r) => ({ p: r.partition, mirrored: r.mirrored, gaps: r.gaps })))}`)
    } finally {
      await fm.close()
    }
  }, 120_000)

  test('status() answers during an outage in which unmirrored records were evicted', async () => {
    const { store } = openTempStore({ maxDiskBytes })
    store.createStream('telemetry')
    const ledger = new Ledger()
    const fm = await startFaultMirror({
      store,
      gatewayAlias: `gw-evict-status-${process.pid}`,
      streams: [{ match: '*', policy: { kind: 'evict' }, priority: 0 }],
    })
    try {
      await ledger.append(store, 'telemetry', 0, 50, valueBytes)
      await fm.caughtUp(20_000)
      await fm.down()
      for (let batch = 0; batch < 20; batch++) await ledger.append(store, 'telemetry', 0, 100, valueBytes)
      await store.runMaintenance()
      expect(store.earliestOffset('telemetry', 0)).toBeGreaterThan(50n)
      const [status] = fm.mirror.status()
      expect(status?.partitions[0]).toMatchObject({ nextLocal: 50n, lagRecords: 2000n })
    } finally {
      await fm.close()
    }
  }, 60_000)
})
