import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { ConfigError, ConfigErrors } from '../../../src/errors.ts'
import {
  checkpointsTopic,
  createReplicationPolicy,
  heartbeatsTopic,
  isReservedHeader,
  mapStreams,
  parseProvenance,
  provenanceHeaders,
  type Header,
  type Provenance,
} from '../../../src/mirror/replication-policy.ts'
import { thrownBy } from '../../helpers/temp-store.ts'

/** The problems of a ConfigErrors, as (path, message) pairs. */
function problems(fn: () => unknown): { path: string; message: string }[] {
  const error = thrownBy(fn)
  if (!(error instanceof ConfigErrors)) throw new Error(`expected ConfigErrors, got ${String(error)}`)
  return error.problems.map((p) => ({ path: p.path, message: p.message }))
}

describe('replication policy - naming', () => {
  test('prefix - <alias>.<stream> by default, any legal separator', () => {
    expect(createReplicationPolicy('gw-0042', { policy: 'prefix' }).upstreamTopic('telemetry')).toBe(
      'gw-0042.telemetry',
    )
    expect(createReplicationPolicy('gw0042', { policy: 'prefix', separator: '-' }).upstreamTopic('t')).toBe('gw0042-t')
  })

  test('identity and map - the stream name, or the table entry', () => {
    expect(createReplicationPolicy('gw', { policy: 'identity' }).upstreamTopic('telemetry')).toBe('telemetry')
    const map = createReplicationPolicy('gw', { policy: 'map', topics: { telemetry: 'fleet.telemetry' } })
    expect(map.upstreamTopic('telemetry')).toBe('fleet.telemetry')
    const error = thrownBy(() => map.upstreamTopic('alarms'))
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as ConfigError).path).toBe('mirror.link.naming.topics.alarms')
  })

  test('gateway alias - the allowed characters, and never the separator', () => {
    const dotted = problems(() => createReplicationPolicy('gw.0042', { policy: 'prefix' }))
    expect(dotted.map((p) => p.path)).toEqual(['mirror.link.gatewayAlias'])
    expect(dotted[0]?.message).toMatch(/use 1 to 64 of/)
    expect(problems(() => createReplicationPolicy('x'.repeat(65), { policy: 'identity' }))[0]?.path).toBe(
      'mirror.link.gatewayAlias',
    )
    expect(problems(() => createReplicationPolicy('gw-1', { policy: 'prefix', separator: '-' }, 'links.c'))).toEqual([
      {
        path: 'links.c.gatewayAlias',
        message: 'links.c.gatewayAlias: must not contain the separator "-" (got "gw-1")',
      },
    ])
    expect(problems(() => createReplicationPolicy('gw', { policy: 'prefix', separator: '/' }))[0]?.path).toBe(
      'mirror.link.naming.separator',
    )
  })

  test('length - a prefixed name beyond 249 characters is a config error naming the stream', () => {
    const policy = createReplicationPolicy('gw-0042', { policy: 'prefix' })
    expect(policy.upstreamTopic('s'.repeat(241))).toHaveLength(249)
    const error = thrownBy(() => policy.upstreamTopic('s'.repeat(242))) as ConfigError
    expect(error).toBeInstanceOf(ConfigError)
    expect(error.path).toBe('mirror.link.naming')
    expect(error.message).toMatch(/would be 250 characters; Kafka allows 249/)
  })

  test('map - illegal targets and two streams on one topic are reported together', () => {
    const found = problems(() =>
      createReplicationPolicy('gw', { policy: 'map', topics: { a: 'shared', b: 'shared', c: 'no/slash', d: '..' } }),
    )
    expect(found.map((p) => p.path)).toEqual([
      'mirror.link.naming.topics.c',
      'mirror.link.naming.topics.d',
      'mirror.link.naming.topics',
    ])
    expect(found[2]?.message).toMatch(/streams "a" and "b" map to upstream topic "shared"/)
  })

  test('mapStreams - "." and "_" variants collide in Kafka, so two such streams are refused', () => {
    const policy = createReplicationPolicy('gw', { policy: 'prefix' })
    expect(mapStreams(policy, ['a.b', 'c'])).toEqual(
      new Map([
        ['a.b', 'gw.a.b'],
        ['c', 'gw.c'],
      ]),
    )
    const found = problems(() => mapStreams(policy, ['a.b', 'a_b']))
    expect(found).toHaveLength(1)
    expect(found[0]?.message).toMatch(/streams "a.b" and "a_b" map to upstream topics "gw.a.b" and "gw.a_b"/)
  })

  test('mapStreams - a stream may not land on the link internal topics or Kafka ones', () => {
    const prefix = createReplicationPolicy('gw', { policy: 'prefix' })
    expect(problems(() => mapStreams(prefix, ['heartbeats', 'checkpoints.internal'])).map((p) => p.message)).toEqual([
      expect.stringMatching(/reserved topic "gw.heartbeats"/),
      expect.stringMatching(/reserved topic "gw.checkpoints.internal"/),
    ])
    const identity = createReplicationPolicy('gw', { policy: 'identity' })
    expect(problems(() => mapStreams(identity, ['__consumer_offsets']))).toHaveLength(1)
    expect(problems(() => mapStreams(prefix, ['checkpoints_internal']))[0]?.message).toMatch(
      /reserved topic "gw.checkpoints.internal"/,
    )
  })

  test('mapStreams - every problem at once, each with its path', () => {
    const policy = createReplicationPolicy('gw', { policy: 'prefix' })
    expect(problems(() => mapStreams(policy, ['x'.repeat(300), 'heartbeats']))).toHaveLength(2)
  })

  test('identity - many gateways may share a topic: no check across gateways', () => {
    const a = createReplicationPolicy('gw-a', { policy: 'identity' })
    const b = createReplicationPolicy('gw-b', { policy: 'identity' })
    expect(mapStreams(a, ['telemetry']).get('telemetry')).toBe(mapStreams(b, ['telemetry']).get('telemetry'))
  })

  test('internal topics - MM2 names', () => {
    expect(checkpointsTopic('gw-0042')).toBe('gw-0042.checkpoints.internal')
    expect(heartbeatsTopic('gw-0042')).toBe('gw-0042.heartbeats')
  })
})

describe('replication policy - provenance headers', () => {
  const provenance: Provenance = {
    gatewayAlias: 'gw-0042',
    stream: 'telemetry',
    partition: 3,
    offset: 9_007_199_254_740_993n, // beyond 2^53: must survive exactly
    timestampMs: 1_700_000_000_000,
    epoch: 2,
    redelivered: false,
    gapBefore: 0n,
  }
  const text = (headers: readonly Header[]) => headers.map(([n, v]) => [n, Buffer.from(v).toString('latin1')])

  test('build - ASCII decimal text values, optional headers only when set', () => {
    expect(text(provenanceHeaders(provenance))).toEqual([
      ['em.v', '1'],
      ['em.src', 'gw-0042'],
      ['em.src.topic', 'telemetry'],
      ['em.src.part', '3'],
      ['em.src.off', '9007199254740993'],
      ['em.src.ts', '1700000000000'],
      ['em.src.epoch', '2'],
    ])
    expect(text(provenanceHeaders({ ...provenance, redelivered: true, gapBefore: 17n })).slice(7)).toEqual([
      ['em.redelivered', '1'],
      ['em.gap.before', '17'],
    ])
    expect(() => provenanceHeaders({ ...provenance, partition: -1 })).toThrow(RangeError)
  })

  test('parse - round trip, among user headers in any order', () => {
    const headers: Header[] = [['trace', Buffer.from('x')], ...provenanceHeaders(provenance).reverse()]
    expect(parseProvenance(headers)).toEqual(provenance)
    const flagged = { ...provenance, redelivered: true, gapBefore: 5n }
    expect(parseProvenance(provenanceHeaders(flagged))).toEqual(flagged)
  })

  test('parse - absent or malformed provenance is undefined', () => {
    const good = provenanceHeaders(provenance)
    const replace = (name: string, value: string): Header[] =>
      good.map(([n, v]) => [n, n === name ? Buffer.from(value) : v])
    expect(parseProvenance([])).toBeUndefined()
    expect(parseProvenance(good.filter(([n]) => n !== 'em.src.off'))).toBeUndefined()
    expect(parseProvenance(replace('em.v', '2'))).toBeUndefined()
    for (const bad of ['', '-1', '01', '1e3', ' 1', '0x10', '9223372036854775808']) {
      expect(parseProvenance(replace('em.src.off', bad))).toBeUndefined()
    }
    expect(parseProvenance(replace('em.src.part', '9007199254740993'))).toBeUndefined()
    expect(parseProvenance(replace('em.src', ''))).toBeUndefined()
    expect(parseProvenance([...good, ['em.redelivered', Buffer.from('yes')]])).toBeUndefined()
    expect(parseProvenance([...good, ['em.src.off', Buffer.from('5')]])).toBeUndefined() // two different values
    expect(parseProvenance([...good, ['em.src.off', Buffer.from('9007199254740993')]])).toEqual(provenance)
    expect(parseProvenance(replace('em.src.topic', '\xff'))).toEqual({ ...provenance, stream: '\xff' })
    expect(parseProvenance([...good.slice(1), ['em.v', Uint8Array.of(0xff)]])).toBeUndefined() // bad UTF-8
  })

  test('reserved prefix - em.* belongs to the mirror', () => {
    expect(isReservedHeader('em.src')).toBe(true)
    expect(isReservedHeader('emx')).toBe(false)
  })

  test('round trip - any provenance', () => {
    const arb = fc.record({
      gatewayAlias: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
      stream: fc.stringMatching(/^[A-Za-z0-9._-]{1,249}$/),
      partition: fc.nat(),
      offset: fc.bigInt({ min: 0n, max: (1n << 63n) - 1n }),
      timestampMs: fc.maxSafeNat(),
      epoch: fc.nat(),
      redelivered: fc.boolean(),
      gapBefore: fc.bigInt({ min: 0n, max: (1n << 63n) - 1n }),
    })
    fc.assert(
      fc.property(arb, (p) => {
        expect(parseProvenance(provenanceHeaders(p))).toEqual(p)
      }),
    )
  })
})
