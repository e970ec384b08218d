import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import type { LogStore } from '../../../src/log/log-store.ts'
import type { RecordInput, StreamSettings } from '../../../src/log/types.ts'
import { bytes, openTempStore, text, thrownBy, type TempStore } from '../../helpers/temp-store.ts'

// Random sequences of appends, reads, time steps, retention holds, maintenance passes and reopens,
// checked against a model that only knows what was appended. Maintenance may remove records; the
// model checks that every removal was allowed (byte retention of a prefix, compaction of a superseded
// record or an expired tombstone, never at or above a hold) and, after appends, that compaction
// left only the latest record per key.

const retentionBytes = 100
const deleteRetentionMs = 1000
const streams: Record<string, StreamSettings> = {
  // Byte retention only, so every removal in it can be checked against the byte budget.
  log: { partitions: 2, retentionMs: null, retentionBytes, durability: 'os' },
  // Compaction only.
  table: { partitions: 2, retentionMs: null, cleanupPolicy: 'compact', deleteRetentionMs, durability: 'fsync' },
}
type StreamName = 'log' | 'table'

interface ModelRecord {
  key: string | null
  value: string | null
  timestamp: number
  size: number
}

interface ModelPartition {
  /** Every record ever appended; the index is the offset. */
  appended: ModelRecord[]
  present: Set<number>
  logStart: number
  hold: number | null
  /** Appended to (or reopened) since the last maintenance pass: the next pass must compact it. */
  dirty: boolean
  /** First offset of every appended batch, in order. */
}

const keyArb = fc.constantFrom('a', 'b', 'c', 'd')
const recordArb = fc.record({
  key: fc.option(keyArb, { freq: 4 }),
  value: fc.option(fc.string({ maxLength: 24 }), { freq: 5 }),
  /** undefined: the store stamps it with the clock; otherwise an offset from now (timestamps go back and forth). */
  timestampDelta: fc.option(fc.integer({ min: -3000, max: 3000 }), { nil: undefined }),
})
const streamArb = fc.constantFrom<StreamName>('log', 'table')
const partitionArb = fc.integer({ min: 0, max: 1 })

const opArb = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      // Appends issued in one turn: they share a group commit.
      batches: fc.array(
        fc.record({
          stream: streamArb,
          partition: partitionArb,
          records: fc.array(recordArb, { minLength: 1, maxLength: 6, size: 'max' }),
        }),
        { minLength: 1, maxLength: 4 },
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('read' as const),
      stream: streamArb,
      partition: partitionArb,
      at: fc.double({ min: 0, max: 1, noNaN: true }),
      maxRecords: fc.integer({ min: 1, max: 12 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 1500 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('hold' as const),
      stream: streamArb,
      partition: partitionArb,
      // Mostly low: a hold near logStart is the one that stops retention and compaction.
      at: fc.option(fc.double({ min: 0, max: 0.6, noNaN: true }), { freq: 3 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('maintenance' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reopen' as const) }) },
)
type Op = typeof opArb extends fc.Arbitrary<infer T> ? T : never

class Model {
  readonly partitions = new Map<string, ModelPartition>()

  constructor() {
    for (const stream of Object.keys(streams)) {
      for (const partition of [0, 1]) {
        this.partitions.set(`${stream}/${partition}`, {
          appended: [],
          present: new Set(),
          logStart: 0,
          hold: null,
          dirty: true,
        })
      }
    }
  }

  get(stream: string, partition: number): ModelPartition {
    const p = this.partitions.get(`${stream}/${partition}`)
    if (p === undefined) throw new Error(`no model partition ${stream}/${partition}`)
    return p
  }

  *each(): Generator<[StreamName, number, ModelPartition]> {
    for (const [id, p] of this.partitions) {
      const [stream, partition] = id.split('/') as [StreamName, string]
      yield [stream, Number(partition), p]
    }
  }
}

const size = (s: string | null) => (s === null ? 0 : bytes(s).length)

/** Everything the store holds for one partition, checked record by record against the model. */
function storeContents(store: LogStore, stream: string, partition: number, p: ModelPartition): Set<number> {
  const info = store.describeStream(stream).partitions[partition]
  expect(info?.logEndOffset).toBe(BigInt(p.appended.length))
  const logStart = Number(info?.logStartOffset)
  const read = store.read(stream, partition, BigInt(logStart), { maxRecords: 100_000 })
  const offsets = new Set<number>()
  let bytesPresent = 0
  for (const r of read.records) {
    const offset = Number(r.offset)
    const expected = p.appended[offset]
    expect(expected, `record ${stream}/${partition}@${offset} was never appended`).toBeDefined()
    expect({ key: text(r.key), value: text(r.value), timestamp: r.timestamp }).toEqual({
      key: expected?.key,
      value: expected?.value,
      timestamp: expected?.timestamp,
    })
    expect(offset).toBeGreaterThanOrEqual(logStart)
    offsets.add(offset)
    bytesPresent += expected?.size ?? 0
  }
  // nextOffset follows the last record returned; past a trailing compacted hole only an empty read gets to logEnd.
  const last = read.records.at(-1)
  expect(read.nextOffset).toBe(last === undefined ? BigInt(p.appended.length) : last.offset + 1n)
  expect(info?.records).toBe(offsets.size)
  expect(info?.bytes).toBe(bytesPresent)
  return offsets
}

/** After a maintenance pass: every removal was allowed, and what had to go is gone. */
function checkMaintenance(store: LogStore, model: Model, now: number): void {
  for (const [stream, partition, p] of model.each()) {
    const present = storeContents(store, stream, partition, p)
    const logStart = Number(store.earliestOffset(stream, partition))
    const end = p.appended.length
    const hold = p.hold ?? Infinity
    expect(logStart, 'logStart only grows').toBeGreaterThanOrEqual(p.logStart)
    expect(logStart, 'retention stops at the hold').toBeLessThanOrEqual(Math.max(p.logStart, Math.min(hold, end)))
    for (const offset of present) expect(p.present.has(offset), `record ${offset} came back`).toBe(true)

    if (stream === 'log') {
      // Byte retention removes a prefix only: up to the first record boundary (with segmentRecords 1,
      // every record starts an index segment) from which the rest fits in retentionBytes, never past
      // the hold, and nothing at all while the partition fits.
      expect([...present]).toEqual(Array.from({ length: end - logStart }, (_, i) => logStart + i))
      const bytesFrom = (offset: number) => p.appended.slice(offset).reduce((sum, r) => sum + r.size, 0)
      let cut = p.logStart
      if (bytesFrom(p.logStart) > retentionBytes) {
        for (let b = p.logStart + 1; b < end; b++) {
          if (bytesFrom(b) <= retentionBytes) {
            cut = b
            break
          }
        }
      }
      expect(logStart, 'where byte retention cut').toBe(Math.max(p.logStart, Math.min(cut, hold, end)))
    } else {
      expect(logStart, 'a compacted stream without retention keeps its logStart').toBe(p.logStart)
      const latest = new Map<string, number>()
      p.appended.forEach((r, offset) => {
        if (r.key !== null) latest.set(r.key, offset)
      })
      for (const offset of p.present) {
        if (present.has(offset)) continue
        const r = p.appended[offset] as ModelRecord
        expect(offset, `compacted ${offset} at or above the hold`).toBeLessThan(hold)
        const superseded = r.key !== null && (latest.get(r.key) ?? -1) > offset
        const expiredTombstone = r.value === null && r.timestamp < now - deleteRetentionMs
        expect(superseded || expiredTombstone, `compaction removed ${JSON.stringify(r)}@${offset}`).toBe(true)
      }
      if (p.dirty) {
        for (const offset of present) {
          if (offset >= hold) continue
          const r = p.appended[offset] as ModelRecord
          if (r.key !== null) expect(latest.get(r.key), `${offset} is superseded but still there`).toBe(offset)
          if (r.value === null) expect(r.timestamp).toBeGreaterThanOrEqual(now - deleteRetentionMs)
        }
      }
    }
    p.present = present
    p.logStart = logStart
    p.dirty = false
  }
}

async function run(ops: Op[]): Promise<void> {
  const temp: TempStore = openTempStore({ segment: { segmentRecords: 1 } })
  const { clock } = temp
  try {
    for (const [name, settings] of Object.entries(streams)) temp.store.createStream(name, settings)
    const model = new Model()

    for (const op of ops) {
      const store = temp.store
      switch (op.kind) {
        case 'append': {
          const now = clock.now()
          const commits = store.stats().commits
          const expectedBases: number[] = []
          const promises = op.batches.map(({ stream, partition, records }) => {
            const p = model.get(stream, partition)
            const inputs: RecordInput[] = records.map((r) => {
              const key = stream === 'table' ? (r.key ?? 'a') : r.key
              const input: RecordInput = {
                key: key === null ? null : bytes(key),
                value: r.value === null ? null : bytes(r.value),
              }
              if (r.timestampDelta !== undefined) input.timestamp = Math.max(0, now + r.timestampDelta)
              return input
            })
            expectedBases.push(p.appended.length)
            inputs.forEach((input, i) => {
              const key = input.key === null || input.key === undefined ? null : text(input.key)
              const value = records[i]?.value ?? null
              p.present.add(p.appended.length)
              p.appended.push({ key, value, timestamp: input.timestamp ?? now, size: size(key) + size(value) })
            })
            p.dirty = true
            return store.append(stream, partition, inputs)
          })
          const results = await Promise.all(promises)
          results.forEach((result, i) => {
            const batch = op.batches[i]
            expect(result.baseOffset).toBe(BigInt(expectedBases[i] ?? -1))
            expect(result.lastOffset).toBe(BigInt((expectedBases[i] ?? 0) + (batch?.records.length ?? 0) - 1))
          })
          expect(store.stats().commits).toBe(commits + 1)
          break
        }
        case 'read': {
          const p = model.get(op.stream, op.partition)
          const end = p.appended.length
          const from = p.logStart + Math.floor(op.at * (end - p.logStart + 1) * 0.999)
          const result = store.read(op.stream, op.partition, BigInt(from), { maxRecords: op.maxRecords })
          const expected = [...p.present]
            .filter((o) => o >= from)
            .sort((a, b) => a - b)
            .slice(0, op.maxRecords)
          expect(result.records.map((r) => Number(r.offset))).toEqual(expected)
          for (const r of result.records) {
            const m = p.appended[Number(r.offset)]
            expect([text(r.key), text(r.value), r.timestamp]).toEqual([m?.key, m?.value, m?.timestamp])
          }
          const last = expected.at(-1)
          expect(result.nextOffset).toBe(BigInt(last === undefined ? end : last + 1))
          if (p.logStart > 0) {
            expect(thrownBy(() => store.read(op.stream, op.partition, BigInt(p.logStart - 1)))).toMatchObject({
              code: 'CAIRN_OFFSET_OUT_OF_RANGE',
            })
          }
          expect(thrownBy(() => store.read(op.stream, op.partition, BigInt(end + 1)))).toMatchObject({
            code: 'CAIRN_OFFSET_OUT_OF_RANGE',
          })
          break
        }
        case 'tick':
          // set(), not advance(): no background pass runs behind the model's back.
          clock.set(clock.now() + op.ms)
          break
        case 'hold': {
          const p = model.get(op.stream, op.partition)
          p.hold = op.at === null ? null : p.logStart + Math.floor(op.at * (p.appended.length - p.logStart + 1) * 0.999)
          store.setRetentionHold('prop', op.stream, op.partition, p.hold === null ? null : BigInt(p.hold))
          break
        }
        case 'maintenance':
          await store.runMaintenance()
          checkMaintenance(store, model, clock.now())
          break
        case 'reopen': {
          const reopened = await temp.reopen()
          for (const [stream, partition, p] of model.each()) {
            // Holds live in memory: holders declare them again after a restart.
            if (p.hold !== null) reopened.setRetentionHold('prop', stream, partition, BigInt(p.hold))
            expect(storeContents(reopened, stream, partition, p)).toEqual(p.present)
            expect(reopened.earliestOffset(stream, partition)).toBe(BigInt(p.logStart))
            p.dirty = true
          }
          break
        }
      }
    }
    // Whatever happened, everything present now is exactly what the model says.
    for (const [stream, partition, p] of model.each()) {
      expect(storeContents(temp.store, stream, partition, p)).toEqual(p.present)
    }
  } finally {
    await temp.store.close()
  }
}

describe('log store - model-based properties', () => {
  test('log store - random appends, reads, holds, retention, compaction and reopens agree with the model', async () => {
    await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 60, size: 'max' }), run), {
      numRuns: 60,
    })
  })
})
