import Database from 'better-sqlite3'
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { OffsetMap, OffsetMapWriter, createOffsetMapTable, loadOffsetMap } from '../../../src/mirror/offset-map.ts'

// Random mirror histories checked against a brute-force model that only knows the list of
// (local, upstream) pairs that were mirrored. A history is a series of confirmed batches, each
// after a local gap (holes, evictions) and an upstream gap (other gateways' records), then a
// trailing local gap the cursor moved over and, sometimes, confirmed records whose upstream offsets
// are unknown (B5.2: the window was partly deleted upstream), which move lastUpstream but add no run.

interface History {
  batches: { localGap: number; upstreamGap: number; length: number }[]
  trailingGap: number
  unknownUpstream: number
}

interface Model {
  pairs: { local: bigint; upstream: bigint }[]
  frontier: { nextLocal: bigint; lastUpstream: bigint }
  localEnd: bigint // after the last mirrored record
  expectedRuns: number
}

const historyArb: fc.Arbitrary<History> = fc.record({
  batches: fc.array(
    fc.record({
      // Zero gaps are frequent, so extensions happen often.
      localGap: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 3 })),
      upstreamGap: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 3 })),
      length: fc.integer({ min: 1, max: 4 }),
    }),
    { maxLength: 12 },
  ),
  trailingGap: fc.integer({ min: 0, max: 3 }),
  unknownUpstream: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2 })),
})

function build(history: History, upstreamBase: bigint): { map: OffsetMap; model: Model } {
  const map = new OffsetMap()
  const pairs: Model['pairs'] = []
  let local = 0n
  let upstream = upstreamBase
  let expectedRuns = 0
  for (const [i, b] of history.batches.entries()) {
    local += BigInt(b.localGap)
    upstream += BigInt(b.upstreamGap)
    const result = map.add(local, upstream, BigInt(b.length))
    const continues = i > 0 && b.localGap === 0 && b.upstreamGap === 0
    expect(result.kind).toBe(continues ? 'extended' : 'created')
    if (!continues) expectedRuns++
    for (let k = 0; k < b.length; k++) pairs.push({ local: local + BigInt(k), upstream: upstream + BigInt(k) })
    local += BigInt(b.length)
    upstream += BigInt(b.length)
  }
  const localEnd = local
  const lastUpstream = (pairs.at(-1)?.upstream ?? -1n) + BigInt(pairs.length > 0 ? history.unknownUpstream : 0)
  const nextLocal = local + BigInt(history.trailingGap) + BigInt(pairs.length > 0 ? history.unknownUpstream : 0)
  return { map, model: { pairs, frontier: { nextLocal, lastUpstream }, localEnd, expectedRuns } }
}

function range(from: bigint, to: bigint): bigint[] {
  const out: bigint[] = []
  for (let x = from; x <= to; x++) out.push(x)
  return out
}

const upstreamBaseArb = fc.constantFrom(0n, 7n, (1n << 53n) + 11n)

describe('offset map - properties against a brute-force model', () => {
  test('runs - one run per batch that does not continue both sequences', () => {
    fc.assert(
      fc.property(historyArb, upstreamBaseArb, (history, base) => {
        const { map, model } = build(history, base)
        expect(map.runs).toHaveLength(model.expectedRuns)
      }),
    )
  })

  test('record translation - exact both ways for every offset, undefined elsewhere, round trips', () => {
    fc.assert(
      fc.property(historyArb, upstreamBaseArb, (history, base) => {
        const { map, model } = build(history, base)
        const byLocal = new Map(model.pairs.map((p) => [p.local, p.upstream]))
        const byUpstream = new Map(model.pairs.map((p) => [p.upstream, p.local]))
        for (const l of range(0n, model.frontier.nextLocal + 2n)) {
          expect(map.toUpstream(l)).toBe(byLocal.get(l))
        }
        const lastUp = model.pairs.at(-1)?.upstream ?? base
        for (const u of range(base > 2n ? base - 2n : 0n, lastUp + 2n)) {
          expect(map.toLocal(u)).toBe(byUpstream.get(u))
        }
        for (const p of model.pairs) expect(map.toLocal(map.toUpstream(p.local) as bigint)).toBe(p.local)
      }),
    )
  })

  test('positionToUpstream - matches the rule, monotonic, never skips and never re-reads a mirrored record', () => {
    fc.assert(
      fc.property(historyArb, upstreamBaseArb, (history, base) => {
        const { map, model } = build(history, base)
        const { nextLocal, lastUpstream } = model.frontier
        let previous = -1n
        for (const p of range(0n, nextLocal + 3n)) {
          const { position, clamped } = map.positionToUpstream(p, model.frontier)
          const firstAtOrAfter = model.pairs.find((pair) => pair.local >= p)
          const expected = p >= nextLocal || firstAtOrAfter === undefined ? lastUpstream + 1n : firstAtOrAfter.upstream
          expect(position).toBe(expected)
          expect(clamped).toBe(p > nextLocal)
          expect(position).toBeGreaterThanOrEqual(previous)
          previous = position
          // What the cloud consumer reads from `position` is exactly what the local one had not read.
          if (p <= nextLocal) {
            const unreadLocally = model.pairs.filter((pair) => pair.local >= p).map((pair) => pair.upstream)
            const readUpstream = model.pairs.filter((pair) => pair.upstream >= position).map((pair) => pair.upstream)
            expect(readUpstream).toEqual(unreadLocally)
          }
        }
      }),
    )
  })

  test('positionToLocal - matches the rule, monotonic, never skips and never re-reads a mirrored record', () => {
    fc.assert(
      fc.property(historyArb, upstreamBaseArb, (history, base) => {
        const { map, model } = build(history, base)
        const lastUp = model.pairs.at(-1)?.upstream ?? base
        let previous = -1n
        // Upstream positions around our records, plus a few far below them (the big base).
        const positions = [...new Set([...range(0n, 3n), ...range(base > 3n ? base - 3n : 0n, lastUp + 3n)])]
        for (const q of positions) {
          const { position, clamped } = map.positionToLocal(q)
          const firstAtOrAfter = model.pairs.find((pair) => pair.upstream >= q)
          expect(position).toBe(firstAtOrAfter?.local ?? model.localEnd)
          expect(clamped).toBe(firstAtOrAfter === undefined && q > (model.pairs.at(-1)?.upstream ?? -1n) + 1n)
          expect(position).toBeGreaterThanOrEqual(previous)
          previous = position
          const unreadUpstream = model.pairs.filter((pair) => pair.upstream >= q).map((pair) => pair.local)
          const readLocally = model.pairs.filter((pair) => pair.local >= position).map((pair) => pair.local)
          expect(readLocally).toEqual(unreadUpstream)
        }
      }),
    )
  })

  test('position round trip - local → upstream → local lands on the first mirrored record at or after p', () => {
    fc.assert(
      fc.property(historyArb, upstreamBaseArb, (history, base) => {
        const { map, model } = build(history, base)
        for (const p of range(0n, model.frontier.nextLocal)) {
          const up = map.positionToUpstream(p, model.frontier).position
          const expected = model.pairs.find((pair) => pair.local >= p)?.local ?? model.localEnd
          expect(map.positionToLocal(up).position).toBe(expected)
        }
      }),
    )
  })

  test('persistence - batches planned in random chunks, persisted and committed equal add() one by one', () => {
    const db = new Database(':memory:')
    try {
      createOffsetMapTable(db)
      const writer = new OffsetMapWriter(db)
      let epoch = 0
      fc.assert(
        fc.property(historyArb, upstreamBaseArb, fc.integer({ min: 1, max: 4 }), (history, base, chunk) => {
          const key = { linkId: 'l', stream: 's', partition: 0, mapEpoch: ++epoch }
          const runs: { localStart: bigint; upstreamStart: bigint; length: bigint }[] = []
          let local = 0n
          let upstream = base
          for (const b of history.batches) {
            local += BigInt(b.localGap)
            upstream += BigInt(b.upstreamGap)
            runs.push({ localStart: local, upstreamStart: upstream, length: BigInt(b.length) })
            local += BigInt(b.length)
            upstream += BigInt(b.length)
          }
          const map = new OffsetMap()
          for (let i = 0; i < runs.length; i += chunk) {
            const plan = map.plan(runs.slice(i, i + chunk))
            writer.apply(key, plan)
            map.commit(plan)
          }
          expect(map.runs).toEqual(build(history, base).map.runs)
          expect(loadOffsetMap(db, 'l', 's', 0, key.mapEpoch).runs).toEqual(map.runs)
        }),
        { numRuns: 50 },
      )
    } finally {
      db.close()
    }
  })
})
