import { describe, expect, test } from 'vitest'
import { expectCode, flat, heldByMember, setupGroups, TestMember } from './group-helpers.ts'

const all = (stream: string, count: number) => Array.from({ length: count }, (_, p) => `${stream}/${p}`)

describe('groups - joining', () => {
  test('groups - the first member gets every partition and the group is stable', () => {
    const { store, coordinator } = setupGroups()
    store.createStream('events', { partitions: 4 })
    const m1 = new TestMember(coordinator, 'g', { streams: ['events'], clientId: 'app-1' })
    expect(m1.join()).toEqual(all('events', 4))
    expect(m1.memberId).toMatch(/^[0-9a-f-]{36}$/)
    expect(m1.epoch).toBe(1)
    expect(m1.last?.heartbeatIntervalMs).toBe(3000)
    const described = coordinator.describeGroup('g')
    expect(described).toMatchObject({ group: 'g', state: 'stable', groupEpoch: 1, assignor: 'sticky', offsets: [] })
    expect(described.members).toEqual([
      {
        memberId: m1.memberId,
        clientId: 'app-1',
        memberEpoch: 1,
        streams: ['events'],
        assignment: [{ stream: 'events', partitions: [0, 1, 2, 3] }],
      },
    ])
    expect(coordinator.listGroups()).toEqual({ groups: [{ group: 'g', state: 'stable', members: 1 }] })
    // Nothing changes: heartbeats keep the epoch and the assignment.
    expect(m1.heartbeat()).toEqual(all('events', 4))
    expect(m1.epoch).toBe(1)
  })

  test('groups - a second member takes over only moved partitions, after the first released them', () => {
    const { store, coordinator } = setupGroups()
    store.createStream('events', { partitions: 4 })
    const m1 = new TestMember(coordinator, 'g', { streams: ['events'] })
    const m2 = new TestMember(coordinator, 'g', { streams: ['events'] })
    m1.join()
    const before = m1.owned

    // m2's target is half of the partitions, but m1 still holds them: it gets nothing yet.
    expect(m2.join()).toEqual([])
    expect(m2.epoch).toBe(2)
    expect(coordinator.describeGroup('g')).toMatchObject({ state: 'reconciling', groupEpoch: 2 })

    // m1 learns what it keeps: a subset of what it had, half of it. It still holds the rest.
    const kept = m1.heartbeat({ owned: [{ stream: 'events', partitions: [0, 1, 2, 3] }] })
    expect(kept).toHaveLength(2)
    expect(before).toEqual(expect.arrayContaining(kept))
    expect(m1.epoch).toBe(1) // not at the new epoch until it has given up the moved partitions
    const moved = before.filter((k) => !kept.includes(k))
    expect(heldByMember(coordinator, 'g').get(m1.memberId)).toEqual(before)

    // Until m1 reports them released, m2 is not given them.
    expect(m2.heartbeat()).toEqual([])
    m1.heartbeat({ owned: [{ stream: 'events', partitions: [0, 1, 2, 3] }] })
    expect(m2.heartbeat()).toEqual([])

    // m1 reports owning only what it kept: it reaches the group epoch, and m2 gets the moved ones.
    m1.owned = kept
    expect(m1.heartbeat()).toEqual(kept)
    expect(m1.epoch).toBe(2)
    expect(m2.heartbeat()).toEqual(moved)
    expect(m2.epoch).toBe(2)
    expect(coordinator.describeGroup('g').state).toBe('stable')
    heldByMember(coordinator, 'g')
  })

  test('groups - a join needs streams; an unknown stream gets partitions once it is created', () => {
    const { store, coordinator } = setupGroups()
    expectCode(() => coordinator.heartbeat({ group: 'g', memberId: '', memberEpoch: 0 }), 'CAIRN_REQUEST_INVALID')
    expectCode(
      () => coordinator.heartbeat({ group: 'g', memberId: '', memberEpoch: 0, streams: [] }),
      'CAIRN_REQUEST_INVALID',
    )
    expect(coordinator.listGroups().groups).toEqual([])
    const m1 = new TestMember(coordinator, 'g', { streams: ['later'] })
    expect(m1.join()).toEqual([])
    expect(coordinator.describeGroup('g')).toMatchObject({ state: 'stable', groupEpoch: 1 })
    store.createStream('later', { partitions: 2 })
    expect(coordinator.describeGroup('g')).toMatchObject({ state: 'reconciling', groupEpoch: 2 })
    expect(m1.heartbeat()).toEqual(all('later', 2))
    expect(m1.epoch).toBe(2)
  })

  test('groups - group names have 1 to 249 characters', () => {
    const { store, coordinator } = setupGroups()
    store.createStream('s')
    for (const group of ['', 'x'.repeat(250)]) {
      expectCode(
        () => coordinator.heartbeat({ group, memberId: '', memberEpoch: 0, streams: ['s'] }),
        'CAIRN_GROUP_INVALID',
      )
      expectCode(() => coordinator.describeGroup(group), 'CAIRN_GROUP_INVALID')
    }
    expect(new TestMember(coordinator, 'x'.repeat(249), { streams: ['s'] }).join()).toEqual(['s/0'])
  })

  test('groups - the first member picks the assignor; a member asking for another is refused', () => {
    const { store, coordinator } = setupGroups()
    store.createStream('s', { partitions: 2 })
    new TestMember(coordinator, 'g', { streams: ['s'], assignor: 'range' }).join()
    expect(coordinator.describeGroup('g').assignor).toBe('range')
    expectCode(
      () => new TestMember(coordinator, 'g', { streams: ['s'], assignor: 'sticky' }).join(),
      'CAIRN_GROUP_INVALID',
    )
    new TestMember(coordinator, 'g', { streams: ['s'] }).join()
    expect(coordinator.describeGroup('g').members).toHaveLength(2)
  })

  test('groups - the default assignor comes from the defaults', () => {
    const { store, coordinator } = setupGroups({ assignor: 'roundrobin', heartbeatIntervalMs: 500 })
    store.createStream('s')
    const m = new TestMember(coordinator, 'g', { streams: ['s'] })
    m.join()
    expect(m.last?.heartbeatIntervalMs).toBe(500)
    expect(coordinator.describeGroup('g').assignor).toBe('roundrobin')
  })

  test('groups - the heartbeat interval stays well inside a short session timeout', () => {
    const { store, coordinator } = setupGroups()
    store.createStream('s')
    const m = new TestMember(coordinator, 'g', { streams: ['s'], sessionTimeoutMs: 1500 })
    m.join()
    expect(m.last?.heartbeatIntervalMs).toBe(500)
    expectCode(
      () => new TestMember(coordinator, 'g', { streams: ['s'], sessionTimeoutMs: 0 }).join(),
      'CAIRN_REQUEST_INVALID',
    )
  })

  test('groups - range and roundrobin groups assign as Kafka does', () => {
    const { store, coordinator } = setupGroups()
    store.createStream('t0', { partitions: 3 })
    store.createStream('t1', { partitions: 3 })
    for (const assignor of ['range', 'roundrobin'] as const) {
      const a = new TestMember(coordinator, assignor, { streams: ['t0', 't1'], assignor, instanceId: 'a' })
      const b = new TestMember(coordinator, assignor, { streams: ['t0', 't1'], assignor, instanceId: 'b' })
      a.join()
      b.join()
      for (let round = 0; round < 3; round++) {
        a.heartbeat()
        b.heartbeat()
      }
      if (assignor === 'range') {
        expect(a.owned).toEqual(['t0/0', 't0/1', 't1/0', 't1/1'])
        expect(b.owned).toEqual(['t0/2', 't1/2'])
      } else {
        expect(a.owned).toEqual(['t0/0', 't0/2', 't1/1'])
        expect(b.owned).toEqual(['t0/1', 't1/0', 't1/2'])
      }
    }
  })
})

describe('groups - leaving and failing', () => {
  test('groups - a member leaving frees its partitions at once', () => {
    const { store, coordinator } = setupGroups()
    store.createStream('events', { partitions: 4 })
    const m1 = new TestMember(coordinator, 'g', { streams: ['events'] })
    const m2 = new TestMember(coordinator, 'g', { streams: ['events'] })
    m1.join()
    m2.join()
    for (let i = 0; i < 3; i++) {
      m1.heartbeat()
      m2.heartbeat()
    }
    expect(m1.owned).toHaveLength(2)
    const response = m2.leave()
    expect(response).toEqual({ memberId: m2.memberId, memberEpoch: -1, heartbeatIntervalMs: 3000, assignment: [] })
    expect(coordinator.describeGroup('g').groupEpoch).toBe(3)
    expect(m1.heartbeat()).toEqual(all('events', 4))
    expect(m1.epoch).toBe(3)
    expectCode(() => m2.heartbeat(), 'CAIRN_GROUP_MEMBER_UNKNOWN')
    // The last member leaving ends the group (it has no offsets).
    m1.leave()
    expect(coordinator.listGroups().groups).toEqual([])
    expectCode(() => coordinator.describeGroup('g'), 'CAIRN_GROUP_NOT_FOUND')
  })

  test('groups - a crashed member keeps its partitions until its session times out, then they move', () => {
    const { store, coordinator, temp } = setupGroups({ sessionTimeoutMs: 10_000 })
    store.createStream('events', { partitions: 4 })
    const m1 = new TestMember(coordinator, 'g', { streams: ['events'] })
    const m2 = new TestMember(coordinator, 'g', { streams: ['events'] })
    m1.join()
    m2.join()
    for (let i = 0; i < 3; i++) {
      m1.heartbeat()
      m2.heartbeat()
    }
    const lost = m2.owned
    // m2 stops heartbeating; m1 keeps going and gets nothing of m2's until the timeout.
    for (let t = 0; t < 9; t++) {
      temp.clock.advance(1000)
      m1.heartbeat()
      expect(m1.owned.some((k) => lost.includes(k))).toBe(false)
    }
    temp.clock.advance(1000)
    expect(coordinator.describeGroup('g').members.map((m) => m.memberId)).toEqual([m1.memberId])
    expect(m1.heartbeat()).toEqual(all('events', 4))
    expectCode(() => m2.heartbeat(), 'CAIRN_GROUP_MEMBER_UNKNOWN')
  })

  test('groups - each member has its own session timeout, renewed by every heartbeat', () => {
    const { store, coordinator, temp } = setupGroups({ sessionTimeoutMs: 10_000 })
    store.createStream('s')
    const fast = new TestMember(coordinator, 'g', { streams: ['s'], sessionTimeoutMs: 2000 })
    const slow = new TestMember(coordinator, 'g', { streams: ['s'] })
    fast.join()
    slow.join()
    temp.clock.advance(1999)
    fast.heartbeat()
    temp.clock.advance(1999)
    expect(coordinator.describeGroup('g').members).toHaveLength(2)
    temp.clock.advance(1)
    expect(coordinator.describeGroup('g').members.map((m) => m.memberId)).toEqual([slow.memberId])
    temp.clock.advance(10_000)
    expect(coordinator.listGroups().groups).toEqual([])
  })

  test('groups - a member that does not give up moved partitions within the rebalance timeout is removed', () => {
    const { store, coordinator, temp } = setupGroups({ rebalanceTimeoutMs: 5000 })
    store.createStream('events', { partitions: 4 })
    const m1 = new TestMember(coordinator, 'g', { streams: ['events'] })
    const m2 = new TestMember(coordinator, 'g', { streams: ['events'] })
    m1.join()
    m2.join()
    const stubborn = { owned: [{ stream: 'events', partitions: [0, 1, 2, 3] }] }
    m1.heartbeat(stubborn)
    for (let i = 0; i < 4; i++) {
      temp.clock.advance(1000)
      m1.heartbeat(stubborn)
      expect(m2.heartbeat()).toEqual([])
    }
    temp.clock.advance(1000)
    expectCode(() => m1.heartbeat(stubborn), 'CAIRN_GROUP_MEMBER_UNKNOWN')
    expect(m2.heartbeat()).toEqual(all('events', 4))
  })

  test('groups - a partition pending revocation that returns to the member is simply kept', () => {
    const { store, coordinator } = setupGroups()
    store.createStream('events', { partitions: 4 })
    const m1 = new TestMember(coordinator, 'g', { streams: ['events'] })
    const m2 = new TestMember(coordinator, 'g', { streams: ['events'] })
    m1.join()
    m2.join()
    m1.heartbeat({ owned: [{ stream: 'events', partitions: [0, 1, 2, 3] }] })
    m2.leave()
    // m1 never released anything, and it has everything back without having to restart any.
    expect(m1.heartbeat({ owned: [{ stream: 'events', partitions: [0, 1, 2, 3] }] })).toEqual(all('events', 4))
    expect(coordinator.describeGroup('g').state).toBe('stable')
  })
})

describe('groups - epochs', () => {
  test('groups - a stale or future epoch is fenced; the previous one is accepted (a lost response)', () => {
    const { store, coordinator } = setupGroups()
    store.createStream('events', { partitions: 6 })
    const m1 = new TestMember(coordinator, 'g', { streams: ['events'] })
    m1.join()
    const joinMember = (n: number) => {
      const m = new TestMember(coordinator, 'g', { streams: ['events'] })
      m.join()
      for (let i = 0; i < n; i++) m1.heartbeat()
      return m
    }
    joinMember(2)
    expect(m1.epoch).toBe(2)
    expectCode(() => m1.heartbeat({ memberEpoch: 3 }), 'CAIRN_GROUP_STALE_EPOCH')
    // The response carrying epoch 2 was lost: epoch 1 still works.
    m1.heartbeat({ memberEpoch: 1 })
    expect(m1.epoch).toBe(2)
    joinMember(2)
    expect(m1.epoch).toBe(3)
    expectCode(() => m1.heartbeat({ memberEpoch: 1 }), 'CAIRN_GROUP_STALE_EPOCH')
    m1.heartbeat({ memberEpoch: 2 })
    // A fenced member may start over under its member id: it owns nothing, and gets its target back.
    const before = m1.owned
    const response = coordinator.heartbeat({ group: 'g', memberId: m1.memberId, memberEpoch: 0, streams: ['events'] })
    expect(response.memberId).toBe(m1.memberId)
    expect(flat(response.assignment)).toEqual(before)
    expect(coordinator.describeGroup('g').groupEpoch).toBe(3)
  })

  test('groups - unknown members and unknown groups are refused', () => {
    const { store, coordinator } = setupGroups()
    store.createStream('s')
    expectCode(
      () => coordinator.heartbeat({ group: 'g', memberId: 'nope', memberEpoch: 1 }),
      'CAIRN_GROUP_MEMBER_UNKNOWN',
    )
    expectCode(() => coordinator.heartbeat({ group: 'g', memberId: '', memberEpoch: 1 }), 'CAIRN_GROUP_MEMBER_UNKNOWN')
    new TestMember(coordinator, 'g', { streams: ['s'] }).join()
    expectCode(
      () => coordinator.heartbeat({ group: 'g', memberId: 'nope', memberEpoch: 1 }),
      'CAIRN_GROUP_MEMBER_UNKNOWN',
    )
    expectCode(
      () => coordinator.heartbeat({ group: 'g', memberId: 'nope', memberEpoch: 0, streams: ['s'] }),
      'CAIRN_GROUP_MEMBER_UNKNOWN',
    )
    expectCode(
      () => coordinator.heartbeat({ group: 'g', memberId: 'nope', memberEpoch: -1 }),
      'CAIRN_GROUP_MEMBER_UNKNOWN',
    )
  })

  test('groups - changing subscriptions bumps the epoch and reassigns', () => {
    const { store, coordinator } = setupGroups()
    store.createStream('a', { partitions: 2 })
    store.createStream('b', { partitions: 2 })
    const m1 = new TestMember(coordinator, 'g', { streams: ['a'] })
    m1.join()
    expect(m1.heartbeat({ streams: ['a'] })).toEqual(all('a', 2))
    expect(coordinator.describeGroup('g').groupEpoch).toBe(1)
    expect(m1.heartbeat({ streams: ['b', 'a'] })).toEqual([...all('a', 2), ...all('b', 2)])
    expect(m1.epoch).toBe(2)
    // Dropping `a`: its partitions are revoked first, then the member is at the new epoch.
    expect(m1.heartbeat({ streams: ['b'] })).toEqual(all('b', 2))
    expect(m1.epoch).toBe(2)
    expect(m1.heartbeat()).toEqual(all('b', 2))
    expect(m1.epoch).toBe(3)
    expect(coordinator.describeGroup('g').members[0]?.streams).toEqual(['b'])
  })
})

describe('groups - static membership', () => {
  test('groups - a static member rejoining takes back its partitions without a rebalance', () => {
    const { store, coordinator } = setupGroups()
    store.createStream('events', { partitions: 4 })
    const s1 = new TestMember(coordinator, 'g', { streams: ['events'], instanceId: 'host-1' })
    const s2 = new TestMember(coordinator, 'g', { streams: ['events'], instanceId: 'host-2' })
    s1.join()
    s2.join()
    for (let i = 0; i < 3; i++) {
      s1.heartbeat()
      s2.heartbeat()
    }
    const mine = s1.owned
    const epoch = coordinator.describeGroup('g').groupEpoch
    const oldId = s1.memberId

    expect(s1.leave(-2)).toMatchObject({ memberId: oldId, memberEpoch: -2, assignment: [] })
    const away = coordinator.describeGroup('g')
    expect(away.groupEpoch).toBe(epoch)
    expect(away.members.find((m) => m.memberId === oldId)).toMatchObject({ instanceId: 'host-1', memberEpoch: -2 })
    // Its partitions stay reserved: s2 does not get them.
    expect(s2.heartbeat().some((k) => mine.includes(k))).toBe(false)
    expectCode(() => s1.heartbeat(), 'CAIRN_GROUP_MEMBER_UNKNOWN')

    expect(s1.join()).toEqual(mine)
    expect(s1.memberId).not.toBe(oldId)
    expect(s1.epoch).toBe(epoch)
    expect(coordinator.describeGroup('g')).toMatchObject({ groupEpoch: epoch, state: 'stable' })
    expectCode(
      () => coordinator.heartbeat({ group: 'g', memberId: oldId, memberEpoch: epoch }),
      'CAIRN_GROUP_MEMBER_UNKNOWN',
    )
    heldByMember(coordinator, 'g')
  })

  test('groups - a static member away past its session timeout is removed and its partitions move', () => {
    const { store, coordinator, temp } = setupGroups({ sessionTimeoutMs: 10_000 })
    store.createStream('events', { partitions: 4 })
    const s1 = new TestMember(coordinator, 'g', { streams: ['events'], instanceId: 'host-1' })
    const s2 = new TestMember(coordinator, 'g', { streams: ['events'], instanceId: 'host-2' })
    s1.join()
    s2.join()
    for (let i = 0; i < 3; i++) {
      s1.heartbeat()
      s2.heartbeat()
    }
    temp.clock.advance(5000)
    s2.heartbeat()
    s1.leave(-2)
    // The session timeout counts from the leave.
    temp.clock.advance(9000)
    s2.heartbeat()
    expect(s2.owned).toHaveLength(2)
    temp.clock.advance(1000)
    expect(coordinator.describeGroup('g').members).toHaveLength(1)
    expect(s2.heartbeat()).toEqual(all('events', 4))
    // Rejoining now is a plain join: a rebalance.
    const epoch = coordinator.describeGroup('g').groupEpoch
    s1.join()
    expect(coordinator.describeGroup('g').groupEpoch).toBe(epoch + 1)
  })

  test('groups - a join with the instance id of an active member replaces it and fences the old one', () => {
    const { store, coordinator } = setupGroups()
    store.createStream('events', { partitions: 2 })
    const old = new TestMember(coordinator, 'g', { streams: ['events'], instanceId: 'host-1' })
    old.join()
    const epoch = coordinator.describeGroup('g').groupEpoch
    const replacement = new TestMember(coordinator, 'g', { streams: ['events'], instanceId: 'host-1' })
    expect(replacement.join()).toEqual(all('events', 2))
    expect(replacement.memberId).not.toBe(old.memberId)
    expectCode(() => old.heartbeat(), 'CAIRN_GROUP_MEMBER_UNKNOWN')
    expect(coordinator.describeGroup('g')).toMatchObject({ groupEpoch: epoch, members: [{ instanceId: 'host-1' }] })
    expectCode(
      () => coordinator.checkCommit('g', old.memberId, old.epoch, [{ stream: 'events', partition: 0, offset: 0n }]),
      'CAIRN_GROUP_MEMBER_UNKNOWN',
    )
    // A replacement subscribing differently is a rebalance.
    new TestMember(coordinator, 'g', { streams: ['events', 'other'], instanceId: 'host-1' }).join()
    expect(coordinator.describeGroup('g').groupEpoch).toBe(epoch + 1)
  })

  test('groups - a static member cannot change its instance id; -2 from a dynamic member is a leave', () => {
    const { store, coordinator } = setupGroups()
    store.createStream('s')
    const s = new TestMember(coordinator, 'g', { streams: ['s'], instanceId: 'a' })
    s.join()
    expectCode(() => s.heartbeat({ instanceId: 'b' }), 'CAIRN_REQUEST_INVALID')
    const d = new TestMember(coordinator, 'g', { streams: ['s'] })
    d.join()
    expect(d.leave(-2).memberEpoch).toBe(-1)
    expect(coordinator.describeGroup('g').members.map((m) => m.memberId)).toEqual([s.memberId])
  })
})

describe('groups - stream changes', () => {
  test('groups - partitions added to a subscribed stream are a rebalance', () => {
    const { store, coordinator } = setupGroups()
    store.createStream('events', { partitions: 2 })
    store.createStream('other')
    const m1 = new TestMember(coordinator, 'g', { streams: ['events'] })
    const m2 = new TestMember(coordinator, 'g', { streams: ['events'] })
    m1.join()
    m2.join()
    for (let i = 0; i < 3; i++) {
      m1.heartbeat()
      m2.heartbeat()
    }
    const epoch = coordinator.describeGroup('g').groupEpoch
    const before = [m1.owned, m2.owned]
    store.addPartitions('other', 3)
    store.alterStream('events', { retentionMs: 1000 })
    expect(coordinator.describeGroup('g').groupEpoch).toBe(epoch)
    store.addPartitions('events', 6)
    expect(coordinator.describeGroup('g')).toMatchObject({ groupEpoch: epoch + 1, state: 'reconciling' })
    m1.heartbeat()
    m2.heartbeat()
    expect(m1.owned).toHaveLength(3)
    expect(m2.owned).toHaveLength(3)
    // Sticky: nobody lost anything.
    expect(m1.owned).toEqual(expect.arrayContaining(before[0] ?? []))
    expect(m2.owned).toEqual(expect.arrayContaining(before[1] ?? []))
    expect(coordinator.describeGroup('g').state).toBe('stable')
  })

  test('groups - a subscribed stream deleted is a rebalance that revokes its partitions', () => {
    const { store, coordinator } = setupGroups()
    store.createStream('a', { partitions: 2 })
    store.createStream('b', { partitions: 2 })
    const m1 = new TestMember(coordinator, 'g', { streams: ['a', 'b'] })
    m1.join()
    store.deleteStream('b')
    expect(coordinator.describeGroup('g').groupEpoch).toBe(2)
    expect(m1.heartbeat()).toEqual(all('a', 2))
    expect(m1.heartbeat()).toEqual(all('a', 2))
    expect(m1.epoch).toBe(2)
    expect(coordinator.describeGroup('g').members[0]?.assignment).toEqual([{ stream: 'a', partitions: [0, 1] }])
  })

  test('groups - close stops the timers and the stream watching', () => {
    const { store, coordinator, temp } = setupGroups()
    store.createStream('s')
    const storeTimers = temp.clock.pendingTimers
    new TestMember(coordinator, 'g', { streams: ['s'] }).join()
    expect(temp.clock.pendingTimers).toBe(storeTimers + 1)
    coordinator.close()
    expect(temp.clock.pendingTimers).toBe(storeTimers)
    store.addPartitions('s', 2)
    expect(coordinator.listGroups().groups).toEqual([])
  })
})
