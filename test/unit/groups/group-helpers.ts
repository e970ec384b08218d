import { expect, onTestFinished } from 'vitest'
import { isBrokerError, type ErrorCode } from '../../../src/errors.ts'
import { GroupCoordinator, type GroupDefaults } from '../../../src/groups/index.ts'
import type { LogStore } from '../../../src/log/log-store.ts'
import type { OpRequest, OpResponse } from '../../../src/native/wire/ops.ts'
import { bytes, openTempStore, type TempStore } from '../../helpers/temp-store.ts'

export type Assignment = OpResponse<'groupHeartbeat'>['assignment']

export interface GroupFixture {
  readonly temp: TempStore
  readonly store: LogStore
  readonly coordinator: GroupCoordinator
}

/** A temp store, a coordinator on its fake clock, both closed when the test ends. */
export function setupGroups(defaults: Partial<GroupDefaults> = {}, temp: TempStore = openTempStore()): GroupFixture {
  const coordinator = new GroupCoordinator({ store: temp.store, clock: temp.clock, defaults })
  onTestFinished(() => coordinator.close())
  return { temp, store: temp.store, coordinator }
}

/** `stream/partition` strings, sorted: easy to compare and to read in a failure. */
export function flat(assignment: Assignment): string[] {
  return assignment.flatMap((s) => s.partitions.map((p) => `${s.stream}/${p}`)).sort()
}

export function unflat(keys: Iterable<string>): Assignment {
  const byStream = new Map<string, number[]>()
  for (const key of keys) {
    const slash = key.lastIndexOf('/')
    const stream = key.slice(0, slash)
    const list = byStream.get(stream) ?? []
    list.push(Number(key.slice(slash + 1)))
    byStream.set(stream, list)
  }
  return [...byStream].map(([stream, partitions]) => ({ stream, partitions }))
}

export interface MemberOptions {
  streams: string[]
  instanceId?: string
  clientId?: string
  assignor?: 'range' | 'roundrobin' | 'sticky'
  sessionTimeoutMs?: number
  rebalanceTimeoutMs?: number
}

/**
 * A well-behaved consumer: it reports what it owns, and on each response gives up at once what
 * is no longer assigned and starts what is new.
 */
export class TestMember {
  readonly coordinator: GroupCoordinator
  readonly group: string
  readonly options: MemberOptions
  memberId = ''
  epoch = 0
  owned: string[] = []
  last: OpResponse<'groupHeartbeat'> | undefined

  constructor(coordinator: GroupCoordinator, group: string, options: MemberOptions) {
    this.coordinator = coordinator
    this.group = group
    this.options = options
  }

  join(): string[] {
    this.memberId = ''
    this.epoch = 0
    this.owned = []
    const { streams, instanceId, clientId, assignor, sessionTimeoutMs, rebalanceTimeoutMs } = this.options
    return this.#send({
      group: this.group,
      memberId: '',
      memberEpoch: 0,
      streams,
      ...(instanceId === undefined ? {} : { instanceId }),
      ...(clientId === undefined ? {} : { clientId }),
      ...(assignor === undefined ? {} : { assignor }),
      ...(sessionTimeoutMs === undefined ? {} : { sessionTimeoutMs }),
      ...(rebalanceTimeoutMs === undefined ? {} : { rebalanceTimeoutMs }),
    })
  }

  /** A regular heartbeat; `extra` overrides fields (e.g. a stale epoch, a stubborn owned list). */
  heartbeat(extra: Partial<OpRequest<'groupHeartbeat'>> = {}): string[] {
    return this.#send({
      group: this.group,
      memberId: this.memberId,
      memberEpoch: this.epoch,
      owned: unflat(this.owned),
      ...extra,
    })
  }

  leave(memberEpoch: -1 | -2 = -1): OpResponse<'groupHeartbeat'> {
    const response = this.coordinator.heartbeat({ group: this.group, memberId: this.memberId, memberEpoch })
    this.owned = []
    return response
  }

  #send(request: OpRequest<'groupHeartbeat'>): string[] {
    const response = this.coordinator.heartbeat(request)
    this.last = response
    this.memberId = response.memberId
    this.epoch = response.memberEpoch
    this.owned = flat(response.assignment)
    return this.owned
  }
}

/** Asserts that `fn` throws a BrokerError with `code`. */
export function expectCode(fn: () => unknown, code: ErrorCode): void {
  let thrown: unknown
  try {
    fn()
  } catch (error) {
    thrown = error
  }
  expect(isBrokerError(thrown) ? thrown.code : thrown).toBe(code)
}

export async function expectRejects(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const thrown = await promise.then(
    () => undefined,
    (error: unknown) => error,
  )
  expect(isBrokerError(thrown) ? thrown.code : thrown).toBe(code)
}

/** Appends `count` one-byte records to a partition (timestamps from `firstTimestamp`, 1 ms apart, if given). */
export async function appendRecords(
  store: LogStore,
  stream: string,
  partition: number,
  count: number,
  firstTimestamp?: number,
): Promise<void> {
  const records = Array.from({ length: count }, (_, i) => ({
    value: bytes('x'),
    ...(firstTimestamp === undefined ? {} : { timestamp: firstTimestamp + i }),
  }))
  await store.append(stream, partition, records)
}

/** Every partition key in the coordinator's view, per member; fails if one appears twice. */
export function heldByMember(coordinator: GroupCoordinator, group: string): Map<string, string[]> {
  const seen = new Set<string>()
  const held = new Map<string, string[]>()
  for (const m of coordinator.describeGroup(group).members) {
    const keys = flat(m.assignment)
    for (const key of keys) {
      expect(seen.has(key), `${key} held twice`).toBe(false)
      seen.add(key)
    }
    held.set(m.memberId, keys)
  }
  return held
}
