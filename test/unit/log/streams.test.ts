import { describe, expect, test } from 'vitest'
import { BrokerError } from '../../../src/errors.ts'
import { defaultStreamConfig, maxPartitions } from '../../../src/log/stream-config.ts'
import type { StreamSettings } from '../../../src/log/types.ts'
import { bytes, openTempStore, text, thrownBy } from '../../helpers/temp-store.ts'

const value = (s: string) => ({ value: bytes(s) })

describe('streams - catalog', () => {
  test('streams - create returns the resolved config and empty partitions; list and describe agree', () => {
    const { store, clock } = openTempStore()
    const created = store.createStream('sensors', { partitions: 3, retentionMs: 60_000, subjects: ['sensors/#'] })
    expect(created).toEqual({
      name: 'sensors',
      config: { ...defaultStreamConfig, partitions: 3, retentionMs: 60_000, subjects: ['sensors/#'] },
      createdMs: clock.now(),
      partitions: [0, 1, 2].map((partition) => ({
        partition,
        logStartOffset: 0n,
        logEndOffset: 0n,
        records: 0,
        bytes: 0,
      })),
    })
    store.createStream('alerts')
    expect(store.describeStream('sensors')).toEqual(created)
    expect(store.listStreams().map((s) => s.name)).toEqual(['sensors', 'alerts'])
    expect(store.describeStream('alerts').config).toEqual(defaultStreamConfig)
    expect(store.hasStream('sensors')).toBe(true)
    expect(store.hasStream('nope')).toBe(false)
  })

  test('streams - the config handed back is a copy, not the live one', () => {
    const { store } = openTempStore()
    const info = store.createStream('s', { subjects: ['a/b'] })
    info.config.subjects.push('mutated')
    info.config.retentionMs = 1
    expect(store.describeStream('s').config.subjects).toEqual(['a/b'])
    expect(store.describeStream('s').config.retentionMs).toBe(defaultStreamConfig.retentionMs)
  })

  test('streams - names follow Kafka: A-Z a-z 0-9 . _ - and at most 249 characters', () => {
    const { store } = openTempStore()
    for (const name of ['a', 'A-z_0.9', 'x'.repeat(249), '...', '.hidden', '_', '-']) {
      expect(store.createStream(name).name).toBe(name)
    }
    const invalid: unknown[] = ['', '.', '..', 'x'.repeat(250), 'a/b', 'a b', 'ä', 'a:b', 'a+b', 'a\n', 42, null]
    for (const name of invalid) {
      const error = thrownBy(() => store.createStream(name as string))
      expect(error, JSON.stringify(name)).toBeInstanceOf(BrokerError)
      expect(error).toMatchObject({ code: 'CAIRN_STREAM_NAME_INVALID', details: { stream: name } })
    }
    expect(store.listStreams()).toHaveLength(7)
  })

  test('streams - a duplicate name is refused with CAIRN_STREAM_EXISTS and the first stream is untouched', async () => {
    const { store } = openTempStore()
    store.createStream('s', { partitions: 2 })
    await store.append('s', 0, [value('kept')])
    expect(thrownBy(() => store.createStream('s', { partitions: 5 }))).toMatchObject({
      code: 'CAIRN_STREAM_EXISTS',
      details: { stream: 's' },
    })
    expect(store.describeStream('s').config.partitions).toBe(2)
    expect(store.latestOffset('s', 0)).toBe(1n)
  })
})

describe('streams - settings', () => {
  const invalidSettings: Array<[field: string, settings: Record<string, unknown>]> = [
    ['partitions', { partitions: 0 }],
    ['partitions', { partitions: maxPartitions + 1 }],
    ['partitions', { partitions: 1.5 }],
    ['partitions', { partitions: '2' }],
    ['retentionMs', { retentionMs: 0 }],
    ['retentionMs', { retentionMs: -1 }],
    ['retentionMs', { retentionMs: 1.5 }],
    ['retentionMs', { retentionMs: Infinity }],
    ['retentionMs', { retentionMs: '1d' }],
    ['retentionBytes', { retentionBytes: 0 }],
    ['retentionBytes', { retentionBytes: -5 }],
    ['cleanupPolicy', { cleanupPolicy: 'compact,delete' }],
    ['durability', { durability: 'never' }],
    ['deleteRetentionMs', { deleteRetentionMs: -1 }],
    ['deleteRetentionMs', { deleteRetentionMs: null }],
    ['subjects', { subjects: [''] }],
    ['subjects', { subjects: [1] }],
    ['subjects', { subjects: 'a/b' }],
    ['subjects', { subjects: 7 }],
  ]

  test.each(invalidSettings)('streams - an invalid %s is refused and named (%j)', (field, settings) => {
    const { store } = openTempStore()
    const error = thrownBy(() => store.createStream('s', settings))
    expect(error).toBeInstanceOf(BrokerError)
    const { code, message, details } = error as BrokerError
    expect(code).toBe('CAIRN_STREAM_CONFIG_INVALID')
    expect(message).toContain(field)
    expect(details).toMatchObject({ stream: 's', problems: [expect.stringContaining(field)] })
    expect(store.hasStream('s')).toBe(false)
  })

  test('streams - several invalid settings are reported together, each naming its field', () => {
    const { store } = openTempStore()
    const error = thrownBy(() =>
      store.createStream('s', { partitions: 0, retentionMs: -1, durability: 'x' } as unknown as StreamSettings),
    ) as BrokerError
    expect(error.code).toBe('CAIRN_STREAM_CONFIG_INVALID')
    const problems = error.details['problems'] as string[]
    expect(problems).toHaveLength(3)
    for (const field of ['partitions', 'retentionMs', 'durability']) {
      expect(problems.some((p) => p.startsWith(field))).toBe(true)
    }
  })

  test('streams - an unknown setting is refused and named', () => {
    const { store } = openTempStore()
    const error = thrownBy(() => store.createStream('s', { retention: 5 } as unknown as StreamSettings))
    expect(error).toMatchObject({
      code: 'CAIRN_STREAM_CONFIG_INVALID',
      details: { problems: ['unknown setting "retention"'] },
    })
    expect(store.hasStream('s')).toBe(false)
    // Inherited names are unknown too (JSON.parse makes "__proto__" an own key).
    const inherited = JSON.parse('{"__proto__": 1, "toString": 2}') as StreamSettings
    expect(thrownBy(() => store.createStream('s', inherited))).toMatchObject({
      details: { problems: ['unknown setting "__proto__"', 'unknown setting "toString"'] },
    })
  })

  test('streams - null turns retention by age and by bytes off; valid edge values are accepted', () => {
    const { store } = openTempStore()
    const info = store.createStream('s', {
      partitions: maxPartitions,
      retentionMs: null,
      retentionBytes: null,
      deleteRetentionMs: 0,
      cleanupPolicy: 'compact',
      durability: 'os',
    })
    expect(info.partitions).toHaveLength(maxPartitions)
    expect(info.config).toMatchObject({ retentionMs: null, retentionBytes: null, deleteRetentionMs: 0 })
  })
})

describe('streams - unknown names', () => {
  test('streams - an unknown stream is CAIRN_STREAM_NOT_FOUND everywhere', async () => {
    const { store } = openTempStore()
    const calls: Array<() => unknown> = [
      () => store.describeStream('nope'),
      () => store.alterStream('nope', { retentionMs: 1 }),
      () => store.addPartitions('nope', 2),
      () => store.deleteStream('nope'),
      () => store.read('nope', 0, 0n),
      () => store.offsetForTimestamp('nope', 0, 0),
      () => store.earliestOffset('nope', 0),
      () => store.latestOffset('nope', 0),
      () => store.setRetentionHold('h', 'nope', 0, 0n),
      () => store.retentionHold('nope', 0),
    ]
    for (const call of calls) {
      expect(thrownBy(call)).toMatchObject({ code: 'CAIRN_STREAM_NOT_FOUND', details: { stream: 'nope' } })
    }
    await expect(store.append('nope', 0, [value('x')])).rejects.toMatchObject({ code: 'CAIRN_STREAM_NOT_FOUND' })
  })

  test('streams - an unknown partition is CAIRN_PARTITION_NOT_FOUND everywhere', async () => {
    const { store } = openTempStore()
    store.createStream('s', { partitions: 2 })
    for (const partition of [2, -1, 1.5, NaN]) {
      const calls: Array<() => unknown> = [
        () => store.read('s', partition, 0n),
        () => store.offsetForTimestamp('s', partition, 0),
        () => store.earliestOffset('s', partition),
        () => store.latestOffset('s', partition),
        () => store.setRetentionHold('h', 's', partition, 0n),
        () => store.retentionHold('s', partition),
      ]
      for (const call of calls) {
        expect(thrownBy(call)).toMatchObject({ code: 'CAIRN_PARTITION_NOT_FOUND', details: { stream: 's', partition } })
      }
      await expect(store.append('s', partition, [value('x')])).rejects.toMatchObject({
        code: 'CAIRN_PARTITION_NOT_FOUND',
      })
    }
    expect(store.latestOffset('s', 0)).toBe(0n)
    expect(store.latestOffset('s', 1)).toBe(0n)
  })
})

describe('streams - changes', () => {
  test('streams - alter changes the given settings and keeps the rest', () => {
    const { store } = openTempStore()
    store.createStream('s', { partitions: 2, retentionMs: 1000, subjects: ['a/#'] })
    const altered = store.alterStream('s', { retentionBytes: 4096, durability: 'os', subjects: ['b/+'] })
    expect(altered.config).toEqual({
      ...defaultStreamConfig,
      partitions: 2,
      retentionMs: 1000,
      retentionBytes: 4096,
      durability: 'os',
      subjects: ['b/+'],
    })
    expect(store.describeStream('s')).toEqual(altered)
    // Stating the current partition count is allowed; changing it is addPartitions' job.
    expect(store.alterStream('s', { partitions: 2, retentionMs: null }).config.retentionMs).toBeNull()
  })

  test('streams - alter is validated and a refused alter changes nothing', () => {
    const { store } = openTempStore()
    store.createStream('s', { retentionMs: 1000 })
    const before = store.describeStream('s')
    expect(thrownBy(() => store.alterStream('s', { partitions: 4 }))).toMatchObject({
      code: 'CAIRN_STREAM_CONFIG_INVALID',
      details: { stream: 's' },
    })
    expect(thrownBy(() => store.alterStream('s', { retentionMs: 0 }))).toMatchObject({
      code: 'CAIRN_STREAM_CONFIG_INVALID',
      details: { problems: [expect.stringContaining('retentionMs')] },
    })
    expect(thrownBy(() => store.alterStream('s', { bogus: true } as unknown as StreamSettings))).toMatchObject({
      code: 'CAIRN_STREAM_CONFIG_INVALID',
      details: { problems: ['unknown setting "bogus"'] },
    })
    expect(store.describeStream('s')).toEqual(before)
  })

  test('streams - addPartitions grows a stream and leaves existing partitions and offsets alone', async () => {
    const { store } = openTempStore()
    store.createStream('s', { partitions: 1 })
    await store.append('s', 0, [value('a'), value('b')])
    const grown = store.addPartitions('s', 3)
    expect(grown.config.partitions).toBe(3)
    expect(grown.partitions.map((p) => [p.partition, p.logEndOffset])).toEqual([
      [0, 2n],
      [1, 0n],
      [2, 0n],
    ])
    expect(await store.append('s', 2, [value('c')])).toMatchObject({ baseOffset: 0n })
    expect(await store.append('s', 0, [value('d')])).toMatchObject({ baseOffset: 2n })
    expect(store.read('s', 0, 0n).records.map((r) => text(r.value))).toEqual(['a', 'b', 'd'])

    for (const total of [3, 2, 0, 3.5, maxPartitions + 1]) {
      expect(
        thrownBy(() => store.addPartitions('s', total)),
        String(total),
      ).toMatchObject({
        code: 'CAIRN_STREAM_CONFIG_INVALID',
      })
    }
    expect(store.describeStream('s').partitions).toHaveLength(3)
  })

  test('streams - delete removes the stream and its records; a recreated stream starts at offset 0', async () => {
    const { store } = openTempStore()
    store.createStream('s', { partitions: 2 })
    await store.append('s', 0, [value('old-1'), value('old-2')])
    await store.append('s', 1, [value('old-3')])
    store.setRetentionHold('mirror', 's', 0, 0n)
    store.deleteStream('s')
    expect(store.hasStream('s')).toBe(false)
    expect(thrownBy(() => store.read('s', 0, 0n))).toMatchObject({ code: 'CAIRN_STREAM_NOT_FOUND' })

    const recreated = store.createStream('s', { partitions: 1 })
    expect(recreated.partitions).toEqual([{ partition: 0, logStartOffset: 0n, logEndOffset: 0n, records: 0, bytes: 0 }])
    expect(store.retentionHold('s', 0)).toBeNull()
    expect(store.read('s', 0, 0n).records).toEqual([])
    expect(await store.append('s', 0, [value('new')])).toMatchObject({ baseOffset: 0n, lastOffset: 0n })
    expect(store.read('s', 0, 0n).records.map((r) => text(r.value))).toEqual(['new'])
  })

  test('streams - an append still pending when its stream is deleted settles and never leaks into a recreated stream', async () => {
    const { store } = openTempStore()
    store.createStream('s')
    const pending = store.append('s', 0, [value('pending')])
    store.deleteStream('s')
    store.createStream('s')
    // Settles one way or the other (it is committed before the drop today); it must not hang.
    await pending.catch((error: unknown) => expect(error).toMatchObject({ code: 'CAIRN_STREAM_NOT_FOUND' }))
    await store.flush()
    expect(store.latestOffset('s', 0)).toBe(0n)
    expect(store.read('s', 0, 0n).records).toEqual([])
  })

  test('streams - the catalog survives reopen', async () => {
    const temp = openTempStore()
    const { store } = temp
    store.createStream('a', { partitions: 2, retentionMs: null, retentionBytes: 1 << 20, subjects: ['a/#'] })
    store.createStream('b', { cleanupPolicy: 'compact', durability: 'os', deleteRetentionMs: 10 })
    store.createStream('gone')
    store.alterStream('a', { durability: 'os' })
    store.addPartitions('b', 3)
    store.deleteStream('gone')
    await store.append('a', 1, [value('x'), value('y')])
    const before = store.listStreams()

    const reopened = await temp.reopen()
    expect(reopened.listStreams()).toEqual(before)
    expect(reopened.hasStream('gone')).toBe(false)
    expect(reopened.read('a', 1, 0n).records.map((r) => text(r.value))).toEqual(['x', 'y'])
    // And the reopened catalog is writable: a new stream does not collide with the old ones.
    reopened.createStream('gone')
    expect(reopened.describeStream('gone').partitions[0]?.logEndOffset).toBe(0n)
  })
})
