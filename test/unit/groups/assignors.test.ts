import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { assignorNames, assignors, type AssignorMember } from '../../../src/groups/assignors.ts'

type Result = Map<string, Map<string, number[]>>

const counts = (entries: Record<string, number>) => new Map(Object.entries(entries))
const member = (memberId: string, streams: string[], extra: Partial<AssignorMember> = {}): AssignorMember => ({
  memberId,
  streams,
  ...extra,
})
const plain = (result: Result) =>
  Object.fromEntries([...result].map(([id, a]) => [id, Object.fromEntries([...a].map(([s, ps]) => [s, ps]))]))
const load = (result: Result, memberId: string) =>
  [...(result.get(memberId) ?? new Map<string, number[]>()).values()].reduce((n, ps) => n + ps.length, 0)

describe('groups - assignors by example', () => {
  test('groups - range: contiguous ranges per stream, the first members get the extras (Kafka doc example)', () => {
    const members = [member('c1', ['t0', 't1']), member('c0', ['t0', 't1'])]
    expect(plain(assignors.range(members, counts({ t0: 3, t1: 3 })))).toEqual({
      c0: { t0: [0, 1], t1: [0, 1] },
      c1: { t0: [2], t1: [2] },
    })
  })

  test('groups - roundrobin: partitions dealt in turn, skipping members that do not subscribe (Kafka doc example)', () => {
    const members = [member('c2', ['t0', 't1', 't2']), member('c0', ['t0']), member('c1', ['t0', 't1'])]
    expect(plain(assignors.roundrobin(members, counts({ t0: 1, t1: 2, t2: 3 })))).toEqual({
      c0: { t0: [0] },
      c1: { t1: [0] },
      c2: { t1: [1], t2: [0, 1, 2] },
    })
  })

  test('groups - static members come first, by instance id, whatever their member ids', () => {
    const members = [
      member('a', ['s']),
      member('z', ['s'], { instanceId: 'host-2' }),
      member('y', ['s'], { instanceId: 'host-1' }),
    ]
    expect(plain(assignors.range(members, counts({ s: 3 })))).toEqual({ y: { s: [0] }, z: { s: [1] }, a: { s: [2] } })
  })

  test('groups - streams that do not exist or have no subscriber assign nothing; every member is in the result', () => {
    for (const name of assignorNames) {
      const result = assignors[name]([member('a', ['missing']), member('b', ['s'])], counts({ s: 2, other: 4 }))
      expect(plain(result), name).toEqual({ a: {}, b: { s: [0, 1] } })
      expect(plain(assignors[name]([], counts({ s: 2 }))), name).toEqual({})
    }
  })

  test('groups - sticky keeps current owners and gives the newcomer the least it must', () => {
    const current = new Map([['s', [0, 1, 2, 3, 4, 5]]])
    const result = assignors.sticky([member('old', ['s'], { current }), member('new', ['s'])], counts({ s: 6 }))
    expect(load(result, 'old')).toBe(3)
    expect(load(result, 'new')).toBe(3)
    expect(current.get('s')).toEqual(expect.arrayContaining(result.get('old')?.get('s') ?? []))
  })

  test('groups - sticky ignores current partitions that are gone, unsubscribed or claimed twice', () => {
    const members = [
      member('a', ['s'], {
        current: new Map([
          ['s', [0, 7]],
          ['t', [0]],
        ]),
      }),
      member('b', ['s', 't'], { current: new Map([['s', [0, 1]]]) }),
    ]
    // a keeps s/0 (first claim, in member order); b keeps s/1 and gets t as the only subscriber, so
    // holds two more than a, which can take s/1: balance wins over stickiness.
    const result = assignors.sticky(members, counts({ s: 2, t: 2 }))
    expect(plain(result)).toEqual({ a: { s: [0, 1] }, b: { t: [0, 1] } })
    const kept = assignors.sticky(members, counts({ s: 2, t: 1 }))
    expect(plain(kept)).toEqual({ a: { s: [0] }, b: { s: [1], t: [0] } })
  })

  test('groups - sticky balances a member subscribing to a subset against others', () => {
    // `b` holds everything; `a` only subscribes to s and must still get its share of s.
    const current = new Map([
      ['s', [0, 1, 2, 3]],
      ['t', [0, 1]],
    ])
    const result = assignors.sticky([member('a', ['s']), member('b', ['s', 't'], { current })], counts({ s: 4, t: 2 }))
    expect(load(result, 'a')).toBe(3)
    expect(load(result, 'b')).toBe(3)
  })
})

// ---- properties ----

const streamNames = ['s0', 's1', 's2'] as const

interface Scenario {
  partitionCounts: Map<string, number>
  members: AssignorMember[]
}

/** Members with random subscriptions and random (possibly invalid) current assignments. */
function scenario(options: { identical: boolean }): fc.Arbitrary<Scenario> {
  return fc
    .record({
      counts: fc.tuple(fc.nat(9), fc.nat(9), fc.nat(9)),
      shared: fc.subarray([...streamNames, 'unknown'], { minLength: 1 }),
      members: fc.array(
        fc.record({
          streams: fc.subarray([...streamNames, 'unknown'], { minLength: 1 }),
          static: fc.boolean(),
          current: fc.array(fc.tuple(fc.constantFrom(...streamNames), fc.nat(11)), { maxLength: 12 }),
        }),
        { minLength: 1, maxLength: 7 },
      ),
    })
    .map(({ counts: [c0, c1, c2], shared, members }) => ({
      partitionCounts: new Map([
        ['s0', c0],
        ['s1', c1],
        ['s2', c2],
      ]),
      members: members.map((m, i) => {
        const current = new Map<string, number[]>()
        for (const [s, p] of m.current) current.set(s, [...(current.get(s) ?? []), p])
        return {
          memberId: `m${(i * 7919) % 13}-${i}`,
          ...(m.static ? { instanceId: `host-${i}` } : {}),
          streams: options.identical ? shared : m.streams,
          current,
        }
      }),
    }))
}

function subscribers(members: readonly AssignorMember[], stream: string): string[] {
  return members.filter((m) => m.streams.includes(stream)).map((m) => m.memberId)
}

/** Every partition of every subscribed stream exactly once, to a subscriber; lists sorted. */
function checkValid({ members, partitionCounts }: Scenario, result: Result): void {
  expect([...result.keys()].sort()).toEqual(members.map((m) => m.memberId).sort())
  const owners = new Map<string, string>()
  for (const [memberId, assignment] of result) {
    const m = members.find((x) => x.memberId === memberId) as AssignorMember
    for (const [stream, partitions] of assignment) {
      expect(m.streams).toContain(stream)
      expect(partitions).toEqual([...partitions].sort((a, b) => a - b))
      for (const p of partitions) {
        const key = `${stream}/${p}`
        expect(owners.has(key), `${key} assigned twice`).toBe(false)
        owners.set(key, memberId)
      }
    }
  }
  for (const [stream, count] of partitionCounts) {
    const subscribed = subscribers(members, stream).length > 0
    for (let p = 0; p < count; p++) expect(owners.has(`${stream}/${p}`), `${stream}/${p}`).toBe(subscribed)
  }
  expect(owners.size).toBe(
    [...partitionCounts].reduce((n, [s, c]) => n + (subscribers(members, s).length > 0 ? c : 0), 0),
  )
}

function streamLoad(result: Result, memberId: string, stream: string): number {
  return result.get(memberId)?.get(stream)?.length ?? 0
}

function spread(values: number[]): number {
  return values.length === 0 ? 0 : Math.max(...values) - Math.min(...values)
}

const runs = { numRuns: 300 }

describe('groups - assignor properties', () => {
  test('groups - every assignor assigns each partition exactly once, to a member that subscribes to it', () => {
    fc.assert(
      fc.property(scenario({ identical: false }), fc.constantFrom(...assignorNames), (s, name) => {
        checkValid(s, assignors[name](s.members, s.partitionCounts))
      }),
      runs,
    )
  })

  test('groups - range: per stream, subscribers differ by at most one partition and hold contiguous ranges', () => {
    fc.assert(
      fc.property(scenario({ identical: false }), (s) => {
        const result = assignors.range(s.members, s.partitionCounts)
        for (const stream of streamNames) {
          const ids = subscribers(s.members, stream)
          expect(spread(ids.map((id) => streamLoad(result, id, stream)))).toBeLessThanOrEqual(1)
          for (const id of ids) {
            const ps = result.get(id)?.get(stream) ?? []
            ps.forEach((p, i) => expect(p).toBe((ps[0] as number) + i))
          }
        }
      }),
      runs,
    )
  })

  test('groups - roundrobin and sticky: members with the same subscriptions differ by at most one partition', () => {
    fc.assert(
      fc.property(scenario({ identical: true }), fc.constantFrom('roundrobin', 'sticky' as const), (s, name) => {
        const result = assignors[name](s.members, s.partitionCounts)
        expect(spread(s.members.map((m) => load(result, m.memberId)))).toBeLessThanOrEqual(1)
      }),
      runs,
    )
  })

  test('groups - sticky: no partition could move to an eligible member holding two fewer (balance with mixed subscriptions)', () => {
    fc.assert(
      fc.property(scenario({ identical: false }), (s) => {
        const result = assignors.sticky(s.members, s.partitionCounts)
        for (const [giver, assignment] of result) {
          for (const stream of assignment.keys()) {
            for (const receiver of subscribers(s.members, stream)) {
              expect(load(result, receiver)).toBeGreaterThanOrEqual(load(result, giver) - 1)
            }
          }
        }
        // Hence members with the same subscriptions differ by at most one.
        const bySubscription = new Map<string, number[]>()
        for (const m of s.members) {
          const key = [...new Set(m.streams)].sort().join(',')
          bySubscription.set(key, [...(bySubscription.get(key) ?? []), load(result, m.memberId)])
        }
        for (const loads of bySubscription.values()) expect(spread(loads)).toBeLessThanOrEqual(1)
      }),
      runs,
    )
  })

  test('groups - sticky: assigning again from its own result moves nothing', () => {
    fc.assert(
      fc.property(scenario({ identical: false }), (s) => {
        const first = assignors.sticky(s.members, s.partitionCounts)
        const again = assignors.sticky(
          s.members.map((m) => ({ ...m, current: first.get(m.memberId) ?? new Map<string, number[]>() })),
          s.partitionCounts,
        )
        expect(plain(again)).toEqual(plain(first))
      }),
      runs,
    )
  })

  test('groups - sticky with identical subscriptions moves the fewest kept partitions any balanced assignment must', () => {
    fc.assert(
      fc.property(scenario({ identical: true }), (s) => {
        const result = assignors.sticky(s.members, s.partitionCounts)
        // Valid current holdings: subscribed, existing, first claim wins (in member order, as the assignor does).
        const ordered = [...s.members].sort((a, b) =>
          a.instanceId !== undefined && b.instanceId !== undefined
            ? a.instanceId.localeCompare(b.instanceId)
            : a.instanceId !== undefined
              ? -1
              : b.instanceId !== undefined
                ? 1
                : a.memberId < b.memberId
                  ? -1
                  : 1,
        )
        const previousOwner = new Map<string, string>()
        for (const m of ordered) {
          for (const [stream, ps] of m.current ?? []) {
            if (!m.streams.includes(stream)) continue
            for (const p of ps) {
              const key = `${stream}/${p}`
              if (p < (s.partitionCounts.get(stream) ?? 0) && !previousOwner.has(key))
                previousOwner.set(key, m.memberId)
            }
          }
        }
        const total = [...s.partitionCounts].reduce(
          (n, [stream, c]) => n + (s.members[0]?.streams.includes(stream) ? c : 0),
          0,
        )
        const floor = Math.floor(total / s.members.length)
        const ceilings = total % s.members.length
        const held = s.members
          .map((m) => [...previousOwner.values()].filter((id) => id === m.memberId).length)
          .sort((a, b) => b - a)
        const maxKept = held.reduce((n, c, i) => n + Math.min(c, i < ceilings ? floor + 1 : floor), 0)
        let moved = 0
        for (const [key, owner] of previousOwner) {
          const [stream, p] = key.split('/') as [string, string]
          if (!(result.get(owner)?.get(stream) ?? []).includes(Number(p))) moved++
        }
        expect(moved).toBe(previousOwner.size - maxKept)
      }),
      runs,
    )
  })
})
