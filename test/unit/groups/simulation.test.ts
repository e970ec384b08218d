import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { GroupCoordinator } from '../../../src/groups/index.ts'
import { hasErrorCode } from '../../../src/errors.ts'
import type { OpRequest } from '../../../src/native/wire/ops.ts'
import { openTempStore } from '../../helpers/temp-store.ts'
import { flat, unflat } from './group-helpers.ts'

// Random joins, leaves (dynamic and static), crashes, heartbeats (some with lost responses, some from
// consumers still busy giving partitions up), subscription changes, partitions added and time
// passing, against well-behaved consumers. Checked after every step: no partition is
// owned by two consumers, and what a consumer owns is what the coordinator believes it holds. At the
// end, once crashed members have timed out and the live ones have heartbeated a few times: the group
// is stable and every partition of a subscribed stream is owned by exactly one live subscriber.

const sessionTimeoutMs = 10_000
/** Live consumers heartbeat at least this often, well inside the session timeout. */
const heartbeatEveryMs = 4000

type Op =
  | { kind: 'join'; streams: number[]; instance: number | null }
  | { kind: 'heartbeat'; who: number; release: boolean; lost: boolean }
  | { kind: 'leave'; who: number }
  | { kind: 'staticLeave'; who: number }
  | { kind: 'crash'; who: number }
  | { kind: 'subscribe'; who: number; streams: number[] }
  | { kind: 'grow'; stream: number }
  | { kind: 'tick'; ms: number }

const streamChoice = fc.subarray([0, 1, 2], { minLength: 1 })
const who = fc.nat(7)
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('join'), streams: streamChoice, instance: fc.option(fc.nat(2)) }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('heartbeat'),
      who,
      release: fc.boolean(),
      lost: fc.nat(4).map((n) => n === 0),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('leave'), who }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('staticLeave'), who }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('crash'), who }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('subscribe'), who, streams: streamChoice }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('grow'), stream: fc.nat(1) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('tick'), ms: fc.nat(3000) }) },
)

interface Consumer {
  memberId: string
  epoch: number
  /** What it consumes: its assignment, plus what it has been told to give up and is still finishing. */
  owned: string[]
  revoking: string[]
  streams: string[]
  instanceId: string | undefined
  lastBeatMs: number
}

describe('groups - randomized membership simulation', () => {
  test('groups - no partition is ever owned twice, and none is left unowned once the group settles', () => {
    const temp = openTempStore()
    const { store, clock } = temp
    let run = 0
    fc.assert(
      fc.property(
        fc.constantFrom('sticky', 'range', 'roundrobin' as const),
        fc.array(op, { maxLength: 40 }),
        (assignor, ops) => {
          run++
          const streams = [`a${run}`, `b${run}`, 'never-created']
          store.createStream(streams[0] as string, { partitions: 3 })
          store.createStream(streams[1] as string, { partitions: 2 })
          const group = `g${run}`
          const coordinator = new GroupCoordinator({
            store,
            clock,
            defaults: { sessionTimeoutMs, rebalanceTimeoutMs: 20_000, assignor },
          })
          const live: Consumer[] = []

          const send = (c: Consumer, request: OpRequest<'groupHeartbeat'>, lost = false) => {
            const response = coordinator.heartbeat(request)
            c.lastBeatMs = clock.now()
            if (lost) return
            c.memberId = response.memberId
            c.epoch = response.memberEpoch
            // Starts what it got at once; gives up what it lost once it has finished with it.
            const assignment = flat(response.assignment)
            c.revoking = c.owned.filter((k) => !assignment.includes(k))
            c.owned = [...assignment, ...c.revoking]
          }
          const beat = (
            c: Consumer,
            release = true,
            lost = false,
            extra: Partial<OpRequest<'groupHeartbeat'>> = {},
          ) => {
            if (release) {
              c.owned = c.owned.filter((k) => !c.revoking.includes(k))
              c.revoking = []
            }
            try {
              send(c, { group, memberId: c.memberId, memberEpoch: c.epoch, owned: unflat(c.owned), ...extra }, lost)
            } catch (error) {
              // Fenced after losing responses: drop everything and start over under the same member id.
              if (!hasErrorCode(error, 'CAIRN_GROUP_STALE_EPOCH')) throw error
              c.owned = []
              c.revoking = []
              send(c, { group, memberId: c.memberId, memberEpoch: 0, streams: c.streams })
            }
          }
          const pick = (index: number): Consumer | undefined => live[index % Math.max(1, live.length)]
          const drop = (c: Consumer) => live.splice(live.indexOf(c), 1)

          const check = () => {
            const clientOwner = new Map<string, Consumer>()
            for (const c of live) {
              for (const key of c.owned) {
                expect(clientOwner.has(key), `${key} owned by two consumers`).toBe(false)
                clientOwner.set(key, c)
              }
            }
            const exists = coordinator.listGroups().groups.some((g) => g.group === group)
            if (!exists) {
              expect(live).toEqual([])
              return
            }
            const view = new Map<string, string[]>()
            const held = new Set<string>()
            for (const m of coordinator.describeGroup(group).members) {
              const keys = flat(m.assignment)
              for (const key of keys) {
                expect(held.has(key), `${key} held twice by the coordinator`).toBe(false)
                held.add(key)
              }
              view.set(m.memberId, keys)
            }
            for (const c of live) expect(view.get(c.memberId)).toEqual(expect.arrayContaining(c.owned))
          }

          try {
            for (const o of ops) {
              switch (o.kind) {
                case 'join': {
                  const instanceId = o.instance === null ? undefined : `host-${o.instance}`
                  // A static id still in use by a live consumer would be a replacement of a live process.
                  if (instanceId !== undefined && live.some((c) => c.instanceId === instanceId)) break
                  const c: Consumer = {
                    memberId: '',
                    epoch: 0,
                    owned: [],
                    revoking: [],
                    streams: o.streams.map((i) => streams[i] as string),
                    instanceId,
                    lastBeatMs: 0,
                  }
                  send(c, {
                    group,
                    memberId: '',
                    memberEpoch: 0,
                    streams: c.streams,
                    ...(instanceId === undefined ? {} : { instanceId }),
                  })
                  live.push(c)
                  break
                }
                case 'heartbeat': {
                  const c = pick(o.who)
                  if (c !== undefined) beat(c, o.release, o.lost)
                  break
                }
                case 'leave':
                case 'staticLeave': {
                  const c = pick(o.who)
                  if (c === undefined) break
                  const memberEpoch = o.kind === 'staticLeave' && c.instanceId !== undefined ? -2 : -1
                  expect(coordinator.heartbeat({ group, memberId: c.memberId, memberEpoch }).memberEpoch).toBe(
                    memberEpoch,
                  )
                  drop(c)
                  break
                }
                case 'crash': {
                  const c = pick(o.who)
                  if (c !== undefined) drop(c)
                  break
                }
                case 'subscribe': {
                  const c = pick(o.who)
                  if (c === undefined) break
                  c.streams = o.streams.map((i) => streams[i] as string)
                  beat(c, true, false, { streams: c.streams })
                  break
                }
                case 'grow': {
                  const name = streams[o.stream] as string
                  const count = store.partitionCount(name)
                  if (count < 6) store.addPartitions(name, count + 1)
                  break
                }
                case 'tick':
                  clock.advance(o.ms)
                  break
              }
              for (const c of live) if (clock.now() - c.lastBeatMs >= heartbeatEveryMs) beat(c)
              check()
            }

            // Crashed and away members time out while the live ones keep heartbeating; then they settle.
            for (let i = 0; i < 4; i++) {
              clock.advance(3000)
              for (const c of live) beat(c)
              check()
            }
            for (let i = 0; i < 4; i++) {
              for (const c of live) beat(c)
              check()
            }

            if (live.length === 0) {
              expect(coordinator.listGroups().groups.some((g) => g.group === group)).toBe(false)
              return
            }
            const described = coordinator.describeGroup(group)
            expect(described.members.map((m) => m.memberId).sort()).toEqual(live.map((c) => c.memberId).sort())
            expect(described.state).toBe('stable')
            for (const c of live) expect(c.epoch).toBe(described.groupEpoch)
            const owner = new Map<string, Consumer>()
            for (const c of live) for (const key of c.owned) owner.set(key, c)
            for (const name of streams) {
              const count = store.hasStream(name) ? store.partitionCount(name) : 0
              const subscribed = live.some((c) => c.streams.includes(name))
              for (let p = 0; p < count; p++) {
                const c = owner.get(`${name}/${p}`)
                expect(c !== undefined, `${name}/${p} owned`).toBe(subscribed)
                if (c !== undefined) expect(c.streams).toContain(name)
              }
            }
            expect(owner.size).toBe(
              streams.reduce(
                (n, name) =>
                  n +
                  (store.hasStream(name) && live.some((c) => c.streams.includes(name))
                    ? store.partitionCount(name)
                    : 0),
                0,
              ),
            )
          } finally {
            coordinator.close()
          }
        },
      ),
      { numRuns: 150 },
    )
  })
})
