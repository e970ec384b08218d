import { describe, expect, test } from 'vitest'
import { GroupCoordinator } from '../../../src/groups/index.ts'
import {
  appendRecords,
  expectCode,
  expectRejects,
  setupGroups,
  TestMember,
  type GroupFixture,
} from './group-helpers.ts'

/** Stream `events` with 2 partitions holding 10 and 4 records, and a stable two-member group `g`. */
async function withMembers(): Promise<GroupFixture & { m1: TestMember; m2: TestMember }> {
  const fixture = setupGroups()
  fixture.store.createStream('events', { partitions: 2 })
  await appendRecords(fixture.store, 'events', 0, 10)
  await appendRecords(fixture.store, 'events', 1, 4)
  const m1 = new TestMember(fixture.coordinator, 'g', { streams: ['events'] })
  const m2 = new TestMember(fixture.coordinator, 'g', { streams: ['events'] })
  m1.join()
  m2.join()
  for (let i = 0; i < 3; i++) {
    m1.heartbeat()
    m2.heartbeat()
  }
  return { ...fixture, m1, m2 }
}

const partitionOf = (m: TestMember) => Number((m.owned[0] as string).split('/')[1])

describe('groups - committing offsets', () => {
  test('groups - a member commits for its partitions at its epoch; fetch reports lag', async () => {
    const { coordinator, m1, m2, temp } = await withMembers()
    expect(m1.owned).toHaveLength(1)
    const p1 = partitionOf(m1)
    await coordinator.commitOffsets({
      group: 'g',
      memberId: m1.memberId,
      memberEpoch: m1.epoch,
      offsets: [{ stream: 'events', partition: p1, offset: 3n, metadata: 'm1 was here' }],
    })
    expect(coordinator.committedOffset('g', 'events', p1)).toBe(3n)
    expect(coordinator.committedOffset('g', 'events', 1 - p1)).toBeUndefined()
    const logEnd = p1 === 0 ? 10n : 4n
    expect(coordinator.fetchOffsets({ group: 'g' })).toEqual({
      offsets: [
        {
          stream: 'events',
          partition: p1,
          offset: 3n,
          metadata: 'm1 was here',
          commitMs: temp.clock.now(),
          logEndOffset: logEnd,
          lag: Number(logEnd - 3n),
        },
      ],
    })
    // Committing the log end: no lag.
    await coordinator.commitOffsets({
      group: 'g',
      memberId: m2.memberId,
      memberEpoch: m2.epoch,
      offsets: [{ stream: 'events', partition: 1 - p1, offset: p1 === 0 ? 4n : 10n }],
    })
    const fetched = coordinator.fetchOffsets({ group: 'g', streams: ['events'] }).offsets
    expect(fetched.map((o) => [o.partition, o.lag, o.metadata])).toEqual(
      [
        [p1, Number(logEnd - 3n), 'm1 was here'],
        [1 - p1, 0, ''],
      ].sort((a, b) => Number(a[0]) - Number(b[0])),
    )
    expect(coordinator.fetchOffsets({ group: 'g', streams: ['other'] })).toEqual({ offsets: [] })
    expect(coordinator.fetchOffsets({ group: 'nobody' })).toEqual({ offsets: [] })
  })

  test('groups - commits are fenced: unknown member, stale epoch, a partition the member does not hold', async () => {
    const { coordinator, m1, m2 } = await withMembers()
    const mine = { stream: 'events', partition: partitionOf(m1), offset: 1n }
    const theirs = { stream: 'events', partition: partitionOf(m2), offset: 1n }
    expectCode(() => coordinator.checkCommit('g', 'nobody', 1, [mine]), 'CAIRN_GROUP_MEMBER_UNKNOWN')
    expectCode(() => coordinator.checkCommit('other', m1.memberId, m1.epoch, [mine]), 'CAIRN_GROUP_MEMBER_UNKNOWN')
    expectCode(() => coordinator.checkCommit('g', m1.memberId, m1.epoch + 1, [mine]), 'CAIRN_GROUP_STALE_EPOCH')
    expectCode(() => coordinator.checkCommit('g', m1.memberId, m1.epoch - 1, [mine]), 'CAIRN_GROUP_STALE_EPOCH')
    expectCode(() => coordinator.checkCommit('g', m1.memberId, undefined, [mine]), 'CAIRN_REQUEST_INVALID')
    expectCode(() => coordinator.checkCommit('g', m1.memberId, m1.epoch, [theirs]), 'CAIRN_PARTITION_NOT_ASSIGNED')
    expectCode(
      () => coordinator.checkCommit('g', m1.memberId, m1.epoch, [{ ...mine, offset: 11n }]),
      'CAIRN_OFFSET_OUT_OF_RANGE',
    )
    expectCode(
      () => coordinator.checkCommit('g', m1.memberId, m1.epoch, [{ ...mine, stream: 'nope' }]),
      'CAIRN_STREAM_NOT_FOUND',
    )
    expectCode(
      () => coordinator.checkCommit('g', m1.memberId, m1.epoch, [{ ...mine, partition: 5 }]),
      'CAIRN_PARTITION_NOT_FOUND',
    )
    expectCode(
      () => coordinator.checkCommit('g', m1.memberId, m1.epoch, [{ ...mine, metadata: 'x'.repeat(4097) }]),
      'CAIRN_REQUEST_INVALID',
    )
    await expectRejects(
      coordinator.commitOffsets({ group: 'g', memberId: m1.memberId, memberEpoch: m1.epoch, offsets: [theirs] }),
      'CAIRN_PARTITION_NOT_ASSIGNED',
    )
    expect(coordinator.committedOffset('g', 'events', theirs.partition)).toBeUndefined()
  })

  test('groups - a member finishing revoked partitions may commit them until it reports them released', async () => {
    const fixture = setupGroups()
    const { store, coordinator } = fixture
    store.createStream('events', { partitions: 2 })
    await appendRecords(store, 'events', 0, 5)
    await appendRecords(store, 'events', 1, 5)
    const m1 = new TestMember(coordinator, 'g', { streams: ['events'] })
    m1.join()
    const oldEpoch = m1.epoch
    const all = [
      { stream: 'events', partition: 0, offset: 5n },
      { stream: 'events', partition: 1, offset: 5n },
    ]
    new TestMember(coordinator, 'g', { streams: ['events'] }).join()
    // m1 is told to give one partition up but still holds it: the commit before releasing works.
    m1.heartbeat({ owned: [{ stream: 'events', partitions: [0, 1] }] })
    expect(m1.epoch).toBe(oldEpoch)
    coordinator.checkCommit('g', m1.memberId, m1.epoch, all)
    m1.heartbeat()
    expect(m1.epoch).toBe(oldEpoch + 1)
    // Released: the moved partition is no longer m1's to commit, the kept one is.
    expectCode(() => coordinator.checkCommit('g', m1.memberId, m1.epoch, all), 'CAIRN_PARTITION_NOT_ASSIGNED')
    coordinator.checkCommit('g', m1.memberId, m1.epoch, [{ stream: 'events', partition: partitionOf(m1), offset: 1n }])
  })

  test('groups - the previous epoch is accepted while the member reconciles, not once it is stable', async () => {
    const { store, coordinator } = setupGroups()
    store.createStream('events', { partitions: 2 })
    store.createStream('other')
    await appendRecords(store, 'events', 0, 5)
    await appendRecords(store, 'events', 1, 5)
    const m1 = new TestMember(coordinator, 'g', { streams: ['events'] })
    const m2 = new TestMember(coordinator, 'g', { streams: ['events'] })
    m1.join()
    m2.join()
    for (let i = 0; i < 3; i++) {
      m1.heartbeat()
      m2.heartbeat()
    }
    expect(m1.epoch).toBe(2)
    // m2 moves to another stream: m1's target grows, but m2 still holds the partition.
    m2.heartbeat({ streams: ['other'] })
    m1.heartbeat()
    expect(m1.epoch).toBe(3)
    expect(m1.owned).toHaveLength(1)
    const offsets = [{ stream: 'events', partition: partitionOf(m1), offset: 1n }]
    // Reconciling: a commit sent before the response with epoch 3 arrived still counts.
    coordinator.checkCommit('g', m1.memberId, 2, offsets)
    expectCode(() => coordinator.checkCommit('g', m1.memberId, 1, offsets), 'CAIRN_GROUP_STALE_EPOCH')
    m2.heartbeat()
    m1.heartbeat()
    expect(m1.owned).toHaveLength(2)
    expect(coordinator.describeGroup('g').state).toBe('stable')
    expectCode(() => coordinator.checkCommit('g', m1.memberId, 2, offsets), 'CAIRN_GROUP_STALE_EPOCH')
    coordinator.checkCommit('g', m1.memberId, 3, offsets)
  })

  test('groups - a simple commit (no member id) works only while the group has no members', async () => {
    const { store, coordinator } = setupGroups()
    store.createStream('events', { partitions: 2 })
    await appendRecords(store, 'events', 0, 5)
    await coordinator.commitOffsets({ group: 'tool', offsets: [{ stream: 'events', partition: 0, offset: 5n }] })
    expect(coordinator.committedOffset('tool', 'events', 0)).toBe(5n)
    expect(coordinator.listGroups()).toEqual({ groups: [{ group: 'tool', state: 'empty', members: 0 }] })
    const m = new TestMember(coordinator, 'tool', { streams: ['events'], instanceId: 'i' })
    m.join()
    await expectRejects(
      coordinator.commitOffsets({ group: 'tool', offsets: [{ stream: 'events', partition: 0, offset: 1n }] }),
      'CAIRN_GROUP_NOT_EMPTY',
    )
    // A static member away still counts as a member.
    m.leave(-2)
    expectCode(
      () => coordinator.checkCommit('tool', undefined, undefined, [{ stream: 'events', partition: 0, offset: 1n }]),
      'CAIRN_GROUP_NOT_EMPTY',
    )
    expect(coordinator.committedOffset('tool', 'events', 0)).toBe(5n)
    await expectRejects(
      coordinator.commitOffsets({ group: '', offsets: [{ stream: 'events', partition: 0, offset: 1n }] }),
      'CAIRN_GROUP_INVALID',
    )
  })

  test('groups - writeOffsets joins a write the caller enqueues (a transaction commit)', async () => {
    const { store, coordinator } = setupGroups()
    store.createStream('events')
    await appendRecords(store, 'events', 0, 3)
    const offsets = [{ stream: 'events', partition: 0, offset: 2n }]
    coordinator.checkCommit('txn', undefined, undefined, offsets)
    await new Promise<void>((resolve, reject) =>
      store.enqueueWrite(
        () => coordinator.writeOffsets('txn', offsets),
        'fsync',
        (error) => (error === null ? resolve() : reject(error)),
      ),
    )
    expect(coordinator.committedOffset('txn', 'events', 0)).toBe(2n)
  })

  test('groups - committed offsets survive a reopen; members do not', async () => {
    const { temp, coordinator, m1 } = await withMembers()
    const p = partitionOf(m1)
    await coordinator.commitOffsets({
      group: 'g',
      memberId: m1.memberId,
      memberEpoch: m1.epoch,
      offsets: [{ stream: 'events', partition: p, offset: 3n, metadata: 'meta' }],
    })
    coordinator.close()
    const store = await temp.reopen()
    const reopened = new GroupCoordinator({ store, clock: temp.clock })
    try {
      expect(reopened.committedOffset('g', 'events', p)).toBe(3n)
      const described = reopened.describeGroup('g')
      expect(described).toMatchObject({ state: 'empty', groupEpoch: 0, members: [] })
      expect(described.offsets).toMatchObject([{ partition: p, offset: 3n, metadata: 'meta' }])
      expectCode(
        () => reopened.heartbeat({ group: 'g', memberId: m1.memberId, memberEpoch: m1.epoch }),
        'CAIRN_GROUP_MEMBER_UNKNOWN',
      )
    } finally {
      reopened.close()
    }
  })

  test('groups - deleting a stream drops its offsets; a stream recreated under the name starts clean', async () => {
    const { store, coordinator } = setupGroups()
    store.createStream('a')
    store.createStream('b')
    await appendRecords(store, 'a', 0, 3)
    await appendRecords(store, 'b', 0, 3)
    const commit = (stream: string) =>
      coordinator.commitOffsets({ group: 'g', offsets: [{ stream, partition: 0, offset: 2n }] })
    await commit('a')
    await commit('b')
    store.deleteStream('a')
    await store.flush()
    const rows = store.database.prepare('SELECT stream FROM group_offset WHERE group_name = ?').pluck().all('g')
    expect(rows).toEqual(['b'])
    store.createStream('a')
    expect(coordinator.committedOffset('g', 'a', 0)).toBeUndefined()
    expect(coordinator.fetchOffsets({ group: 'g' }).offsets.map((o) => o.stream)).toEqual(['b'])
  })

  test('groups - offsets left behind for a stream deleted while no coordinator watched are dropped at start', async () => {
    const { store, coordinator, temp } = setupGroups()
    store.createStream('gone')
    await appendRecords(store, 'gone', 0, 3)
    await coordinator.commitOffsets({ group: 'g', offsets: [{ stream: 'gone', partition: 0, offset: 1n }] })
    coordinator.close()
    store.deleteStream('gone')
    await store.flush()
    expect(store.database.prepare('SELECT count(*) FROM group_offset').pluck().get()).toBe(1)
    const next = new GroupCoordinator({ store: temp.store, clock: temp.clock })
    try {
      await store.flush()
      expect(store.database.prepare('SELECT count(*) FROM group_offset').pluck().get()).toBe(0)
      expect(next.listGroups().groups).toEqual([])
    } finally {
      next.close()
    }
  })
})

describe('groups - offset tools', () => {
  /** Stream `s` with 3 partitions, 10 records each at timestamps 1000..1009, retention removed from p2's head. */
  async function withHistory(): Promise<GroupFixture> {
    const fixture = setupGroups()
    fixture.store.createStream('s', { partitions: 3 })
    for (let p = 0; p < 3; p++) await appendRecords(fixture.store, 's', p, 10, 1000)
    await fixture.coordinator.commitOffsets({
      group: 'g',
      offsets: [
        { stream: 's', partition: 0, offset: 4n },
        { stream: 's', partition: 1, offset: 9n },
      ],
    })
    return fixture
  }

  const reset = (fixture: GroupFixture, to: Parameters<GroupCoordinator['resetOffsets']>[0]['to'], extra = {}) =>
    fixture.coordinator.resetOffsets({ group: 'g', stream: 's', to, ...extra })

  test('groups - reset to earliest and to latest, over all partitions', async () => {
    const fixture = await withHistory()
    expect(await reset(fixture, { earliest: true })).toEqual({
      offsets: [
        { stream: 's', partition: 0, previous: 4n, offset: 0n },
        { stream: 's', partition: 1, previous: 9n, offset: 0n },
        { stream: 's', partition: 2, offset: 0n },
      ],
    })
    expect(fixture.coordinator.committedOffset('g', 's', 2)).toBe(0n)
    expect((await reset(fixture, { latest: true }, { partitions: [1] })).offsets).toEqual([
      { stream: 's', partition: 1, previous: 0n, offset: 10n },
    ])
    expect(fixture.coordinator.fetchOffsets({ group: 'g' }).offsets.map((o) => [o.offset, o.lag])).toEqual([
      [0n, 10],
      [10n, 0],
      [0n, 10],
    ])
  })

  test('groups - reset to a timestamp: the first record at or after it, else the log end', async () => {
    const fixture = await withHistory()
    expect((await reset(fixture, { timestamp: 1003 }, { partitions: [0] })).offsets).toEqual([
      { stream: 's', partition: 0, previous: 4n, offset: 3n },
    ])
    expect((await reset(fixture, { timestamp: 5000 }, { partitions: [0] })).offsets[0]?.offset).toBe(10n)
    expect((await reset(fixture, { timestamp: 0 }, { partitions: [0] })).offsets[0]?.offset).toBe(0n)
  })

  test('groups - reset by shift moves from the committed offset (or the log start), clamped to the log', async () => {
    const fixture = await withHistory()
    expect((await reset(fixture, { shift: -2n })).offsets.map((o) => o.offset)).toEqual([2n, 7n, 0n])
    expect((await reset(fixture, { shift: 5n })).offsets.map((o) => o.offset)).toEqual([7n, 10n, 5n])
    expect((await reset(fixture, { shift: -100n })).offsets.map((o) => o.offset)).toEqual([0n, 0n, 0n])
    expect((await reset(fixture, { shift: 100n })).offsets.map((o) => o.offset)).toEqual([10n, 10n, 10n])
  })

  test('groups - reset to an explicit offset inside the log; outside it is refused', async () => {
    const fixture = await withHistory()
    expect((await reset(fixture, { offset: 6n }, { partitions: [2, 0] })).offsets).toEqual([
      { stream: 's', partition: 2, offset: 6n },
      { stream: 's', partition: 0, previous: 4n, offset: 6n },
    ])
    expect((await reset(fixture, { offset: 10n }, { partitions: [0] })).offsets[0]?.offset).toBe(10n)
    await expectRejects(reset(fixture, { offset: 11n }), 'CAIRN_OFFSET_OUT_OF_RANGE')
    expect(fixture.coordinator.committedOffset('g', 's', 0)).toBe(10n)
  })

  test('groups - a dry run reports what a reset would do and writes nothing', async () => {
    const fixture = await withHistory()
    expect(await reset(fixture, { latest: true }, { dryRun: true })).toEqual({
      offsets: [
        { stream: 's', partition: 0, previous: 4n, offset: 10n },
        { stream: 's', partition: 1, previous: 9n, offset: 10n },
        { stream: 's', partition: 2, offset: 10n },
      ],
    })
    expect(fixture.coordinator.fetchOffsets({ group: 'g' }).offsets.map((o) => o.offset)).toEqual([4n, 9n])
  })

  test('groups - a reset is refused with active members, a missing stream or partition, a bad target', async () => {
    const fixture = await withHistory()
    await expectRejects(
      fixture.coordinator.resetOffsets({ group: 'g', stream: 'nope', to: { earliest: true } }),
      'CAIRN_STREAM_NOT_FOUND',
    )
    await expectRejects(reset(fixture, { earliest: true }, { partitions: [3] }), 'CAIRN_PARTITION_NOT_FOUND')
    await expectRejects(reset(fixture, { earliest: false }), 'CAIRN_REQUEST_INVALID')
    const m = new TestMember(fixture.coordinator, 'g', { streams: ['s'], instanceId: 'host' })
    m.join()
    await expectRejects(reset(fixture, { earliest: true }), 'CAIRN_GROUP_NOT_EMPTY')
    await expectRejects(reset(fixture, { earliest: true }, { dryRun: true }), 'CAIRN_GROUP_NOT_EMPTY')
    // A static member that left for now is not active: the operator may reset before it returns.
    m.leave(-2)
    expect((await reset(fixture, { earliest: true }, { partitions: [0] })).offsets[0]?.offset).toBe(0n)
  })

  test('groups - delete a group: only without members; unknown groups are not found', async () => {
    const fixture = await withHistory()
    const { coordinator, store } = fixture
    await expectRejects(coordinator.deleteGroup('nobody'), 'CAIRN_GROUP_NOT_FOUND')
    const m = new TestMember(coordinator, 'g', { streams: ['s'] })
    m.join()
    await expectRejects(coordinator.deleteGroup('g'), 'CAIRN_GROUP_NOT_EMPTY')
    m.leave()
    await coordinator.deleteGroup('g')
    expect(coordinator.committedOffset('g', 's', 0)).toBeUndefined()
    expectCode(() => coordinator.describeGroup('g'), 'CAIRN_GROUP_NOT_FOUND')
    expect(coordinator.listGroups().groups).toEqual([])
    expect(store.database.prepare('SELECT count(*) FROM group_offset').pluck().get()).toBe(0)
  })

  test('groups - list and describe cover groups with members, with offsets, or both', async () => {
    const fixture = await withHistory()
    const { coordinator } = fixture
    const m = new TestMember(coordinator, 'live', { streams: ['s'], clientId: 'c', instanceId: 'host' })
    m.join()
    const both = new TestMember(coordinator, 'g', { streams: ['s'] })
    both.join()
    expect(coordinator.listGroups()).toEqual({
      groups: [
        { group: 'g', state: 'stable', members: 1 },
        { group: 'live', state: 'stable', members: 1 },
      ],
    })
    const described = coordinator.describeGroup('live')
    expect(described).toEqual({
      group: 'live',
      state: 'stable',
      groupEpoch: 1,
      assignor: 'sticky',
      members: [
        {
          memberId: m.memberId,
          instanceId: 'host',
          clientId: 'c',
          memberEpoch: 1,
          streams: ['s'],
          assignment: [{ stream: 's', partitions: [0, 1, 2] }],
        },
      ],
      offsets: [],
    })
    expect(coordinator.describeGroup('g').offsets.map((o) => [o.partition, o.offset, o.lag])).toEqual([
      [0, 4n, 6],
      [1, 9n, 1],
    ])
  })
})
