import Database from 'better-sqlite3'
import { describe, expect, onTestFinished, test } from 'vitest'
import { hasErrorCode } from '../../../src/errors.ts'
import {
  OffsetMap,
  OffsetMapWriter,
  createOffsetMapTable,
  loadOffsetMap,
  type OffsetMapKey,
} from '../../../src/mirror/offset-map.ts'
import { thrownBy } from '../../helpers/temp-store.ts'

function memoryDb(): Database.Database {
  const db = new Database(':memory:')
  onTestFinished(() => {
    db.close()
  })
  createOffsetMapTable(db)
  return db
}

const key: OffsetMapKey = { linkId: 'central', stream: 'telemetry', partition: 2, mapEpoch: 0 }

// A partition with a local hole (offsets 5-6 evicted) and a foreign record upstream (offset 1005),
// then three more records after the cursor moved over a trailing gap (13-14).
//   local:    0 1 2 3 4 | 5 6 | 7 8 9 10 11 12 | 13 14 (gap, nextLocal 15)
//   upstream: 1000..1004 |     | 1006 .. 1011
function sampleMap(): OffsetMap {
  const map = new OffsetMap()
  map.add(0n, 1000n, 3n)
  map.add(3n, 1003n, 2n)
  map.add(7n, 1006n, 6n)
  return map
}
const sampleFrontier = { nextLocal: 15n, lastUpstream: 1011n }

describe('offset map - building', () => {
  test('add - a batch continuing both sequences extends the last run, so a gap-free partition has one run', () => {
    const map = new OffsetMap()
    expect(map.add(0n, 40n, 10n)).toEqual({ kind: 'created', run: { localStart: 0n, upstreamStart: 40n, length: 10n } })
    expect(map.add(10n, 50n, 5n)).toEqual({
      kind: 'extended',
      run: { localStart: 0n, upstreamStart: 40n, length: 15n },
    })
    expect(map.runs).toEqual([{ localStart: 0n, upstreamStart: 40n, length: 15n }])
  })

  test('add - a local hole or a foreign upstream record starts a new run', () => {
    const map = new OffsetMap([{ localStart: 0n, upstreamStart: 0n, length: 2n }])
    expect(map.add(3n, 2n, 1n).kind).toBe('created') // local hole at 2
    expect(map.add(4n, 4n, 1n).kind).toBe('created') // foreign record upstream at 3
    expect(map.runs).toHaveLength(3)
  })

  test('add - overlapping, backwards and empty runs are programmer errors', () => {
    const map = sampleMap()
    expect(() => map.add(12n, 1012n, 1n)).toThrow(RangeError) // local overlaps
    expect(() => map.add(13n, 1011n, 1n)).toThrow(RangeError) // upstream overlaps
    expect(() => map.add(0n, 2000n, 1n)).toThrow(RangeError) // local backwards
    expect(() => map.add(20n, 1020n, 0n)).toThrow(RangeError)
    expect(() => map.add(-1n, 1020n, 1n)).toThrow(RangeError)
    expect(() => map.add(20n, (1n << 63n) - 1n, 2n)).toThrow(/int64/)
    expect(map.runs).toHaveLength(2)
  })

  test('plan / commit - several runs planned without changing the map, committed after the transaction', () => {
    const map = sampleMap()
    const plan = map.plan([
      { localStart: 13n, upstreamStart: 1012n, length: 2n }, // continues the last run
      { localStart: 16n, upstreamStart: 1014n, length: 1n }, // after a local hole
      { localStart: 17n, upstreamStart: 1015n, length: 3n }, // continues the run just planned
    ])
    expect(plan.steps).toEqual([
      { kind: 'extended', run: { localStart: 7n, upstreamStart: 1006n, length: 8n } },
      { kind: 'created', run: { localStart: 16n, upstreamStart: 1014n, length: 1n } },
      { kind: 'extended', run: { localStart: 16n, upstreamStart: 1014n, length: 4n } },
    ])
    expect(map.lastRun).toEqual({ localStart: 7n, upstreamStart: 1006n, length: 6n })
    map.commit(plan)
    expect(map.runs.slice(1)).toEqual([
      { localStart: 7n, upstreamStart: 1006n, length: 8n },
      { localStart: 16n, upstreamStart: 1014n, length: 4n },
    ])
  })

  test('plan / commit - an invalid plan throws at plan(), a stale one at commit()', () => {
    const map = sampleMap()
    expect(() => map.plan([{ localStart: 12n, upstreamStart: 1012n, length: 1n }])).toThrow(RangeError)
    const plan = map.plan([{ localStart: 20n, upstreamStart: 1020n, length: 1n }])
    map.add(13n, 1012n, 1n)
    expect(() => map.commit(plan)).toThrow(/stale/)
    expect(map.lastRun).toEqual({ localStart: 7n, upstreamStart: 1006n, length: 7n })
  })

  test('constructor - keeps adjacent stored runs apart, so the next add() extends the row the table has last', () => {
    const map = new OffsetMap([
      { localStart: 0n, upstreamStart: 0n, length: 2n },
      { localStart: 2n, upstreamStart: 2n, length: 2n },
    ])
    expect(map.runs).toHaveLength(2)
    expect(map.add(4n, 4n, 1n)).toEqual({ kind: 'extended', run: { localStart: 2n, upstreamStart: 2n, length: 3n } })
    expect(() => new OffsetMap([...map.runs].reverse())).toThrow(RangeError)
  })
})

describe('offset map - record translation', () => {
  test('toUpstream / toLocal - exact inside runs, undefined in holes, foreign records and beyond', () => {
    const map = sampleMap()
    expect([0n, 4n, 5n, 6n, 7n, 12n, 13n].map((l) => map.toUpstream(l))).toEqual([
      1000n,
      1004n,
      undefined,
      undefined,
      1006n,
      1011n,
      undefined,
    ])
    expect([999n, 1000n, 1004n, 1005n, 1006n, 1011n, 1012n].map((u) => map.toLocal(u))).toEqual([
      undefined,
      0n,
      4n,
      undefined,
      7n,
      12n,
      undefined,
    ])
    expect(new OffsetMap().toUpstream(0n)).toBeUndefined()
  })

  test('requireUpstream / requireLocal - CAIRN_OFFSET_NOT_MIRRORED when there is no counterpart', () => {
    const map = sampleMap()
    expect(map.requireUpstream(8n)).toBe(1007n)
    expect(
      hasErrorCode(
        thrownBy(() => map.requireUpstream(5n)),
        'CAIRN_OFFSET_NOT_MIRRORED',
      ),
    ).toBe(true)
    expect(
      hasErrorCode(
        thrownBy(() => map.requireLocal(1005n)),
        'CAIRN_OFFSET_NOT_MIRRORED',
      ),
    ).toBe(true)
  })
})

describe('offset map - position translation', () => {
  test('positionToUpstream - a mirrored record maps to its upstream offset', () => {
    expect(sampleMap().positionToUpstream(3n, sampleFrontier)).toEqual({ position: 1003n, clamped: false })
  })

  test('positionToUpstream - a gap moves forward to the next mirrored record (skips the foreign record too)', () => {
    expect(sampleMap().positionToUpstream(5n, sampleFrontier)).toEqual({ position: 1006n, clamped: false })
  })

  test('positionToUpstream - a trailing gap, the cursor and beyond map to the upstream frontier', () => {
    const map = sampleMap()
    expect(map.positionToUpstream(13n, sampleFrontier)).toEqual({ position: 1012n, clamped: false })
    expect(map.positionToUpstream(15n, sampleFrontier)).toEqual({ position: 1012n, clamped: false })
    expect(map.positionToUpstream(99n, sampleFrontier)).toEqual({ position: 1012n, clamped: true })
  })

  test('positionToUpstream - nothing mirrored yet: the frontier is upstream offset 0 of an empty topic', () => {
    const frontier = { nextLocal: 0n, lastUpstream: -1n }
    expect(new OffsetMap().positionToUpstream(0n, frontier)).toEqual({ position: 0n, clamped: false })
    expect(new OffsetMap().positionToUpstream(4n, frontier)).toEqual({ position: 0n, clamped: true })
  })

  test('positionToUpstream - a frontier behind the map or a negative position is a programmer error', () => {
    const map = sampleMap()
    expect(() => map.positionToUpstream(0n, { nextLocal: 12n, lastUpstream: 1011n })).toThrow(RangeError)
    expect(() => map.positionToUpstream(0n, { nextLocal: 13n, lastUpstream: 1010n })).toThrow(RangeError)
    expect(() => map.positionToUpstream(-1n, sampleFrontier)).toThrow(RangeError)
  })

  test('positionToLocal - our record, a foreign record, before the map, after the map', () => {
    const map = sampleMap()
    expect(map.positionToLocal(1004n)).toEqual({ position: 4n, clamped: false })
    expect(map.positionToLocal(1005n)).toEqual({ position: 7n, clamped: false })
    expect(map.positionToLocal(0n)).toEqual({ position: 0n, clamped: false })
    expect(map.positionToLocal(1012n)).toEqual({ position: 13n, clamped: false })
    expect(map.positionToLocal(1013n)).toEqual({ position: 13n, clamped: true })
    expect(new OffsetMap().positionToLocal(0n)).toEqual({ position: 0n, clamped: false })
  })
})

describe('offset map - persistence', () => {
  test('writer + load - runs survive a reload exactly, including offsets beyond 2^53', () => {
    const db = memoryDb()
    const writer = new OffsetMapWriter(db)
    const big = 1n << 60n
    const map = new OffsetMap()
    for (const [l, u, n] of [
      [0n, big, 3n],
      [3n, big + 3n, 4n],
      [9n, big + 7n, 1n],
    ] as const) {
      writer.persist(key, map.add(l, u, n))
    }
    const loaded = loadOffsetMap(db, key.linkId, key.stream, key.partition, key.mapEpoch)
    expect(loaded.runs).toEqual(map.runs)
    expect(loaded.runs).toHaveLength(2)
    expect(loaded.toUpstream(9n)).toBe(big + 7n)
    expect(loadOffsetMap(db, key.linkId, key.stream, key.partition, 1).runs).toEqual([])
  })

  test('writer - apply() persists a plan, including a run created and extended by the same plan', () => {
    const db = memoryDb()
    const writer = new OffsetMapWriter(db)
    const map = new OffsetMap()
    writer.persist(key, map.add(0n, 0n, 2n))
    const plan = map.plan([
      { localStart: 2n, upstreamStart: 2n, length: 1n },
      { localStart: 5n, upstreamStart: 3n, length: 1n },
      { localStart: 6n, upstreamStart: 4n, length: 1n },
    ])
    writer.apply(key, plan)
    map.commit(plan)
    expect(loadOffsetMap(db, key.linkId, key.stream, key.partition, key.mapEpoch).runs).toEqual(map.runs)
    expect(map.runs).toHaveLength(2)
  })

  test('writer - extending a run that is not stored is CAIRN_INTERNAL, a duplicate upstream start is refused', () => {
    const db = memoryDb()
    const writer = new OffsetMapWriter(db)
    expect(
      hasErrorCode(
        thrownBy(() => writer.extendRun(key, 0n, 5n)),
        'CAIRN_INTERNAL',
      ),
    ).toBe(true)
    writer.insertRun(key, { localStart: 0n, upstreamStart: 7n, length: 1n })
    expect(() => writer.insertRun(key, { localStart: 5n, upstreamStart: 7n, length: 1n })).toThrow(/UNIQUE/)
  })

  test('writer - partition and map epoch must be exact integers', () => {
    const writer = new OffsetMapWriter(memoryDb())
    const run = { localStart: 0n, upstreamStart: 0n, length: 1n }
    expect(() => writer.insertRun({ ...key, partition: 1.5 }, run)).toThrow(RangeError)
    expect(() => writer.insertRun({ ...key, mapEpoch: Number.NaN }, run)).toThrow(RangeError)
  })

  test('load - overlapping rows are CAIRN_STORAGE_CORRUPT', () => {
    const db = memoryDb()
    const writer = new OffsetMapWriter(db)
    writer.insertRun(key, { localStart: 0n, upstreamStart: 0n, length: 5n })
    writer.insertRun(key, { localStart: 3n, upstreamStart: 10n, length: 5n })
    const error = thrownBy(() => loadOffsetMap(db, key.linkId, key.stream, key.partition, key.mapEpoch))
    expect(hasErrorCode(error, 'CAIRN_STORAGE_CORRUPT')).toBe(true)
  })

  test('table - STRICT refuses a non-integer offset and len must be positive', () => {
    const db = memoryDb()
    const insert = db.prepare('INSERT INTO mirror_offset_run VALUES (?, ?, ?, ?, ?, ?, ?)')
    expect(() => insert.run('l', 's', 0, 0, 'x', 0, 1)).toThrow()
    expect(() => insert.run('l', 's', 0, 0, 0, 0, 0)).toThrow(/CHECK/)
  })
})
