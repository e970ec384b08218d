import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { TopicTrie } from '../../../src/topics/topic-trie.ts'
import { topicMatchesFilter, validateTopicFilter, validateTopicName } from '../../../src/topics/topics.ts'
import { matchingCases } from './topic-matching-cases.ts'

// Small alphabets so that random topics and filters actually meet: `$` exercises [MQTT-4.7.2-1],
// empty strings give empty levels (`a//b`, `/a`, `a/`).
const topicLevel = fc.string({ unit: fc.constantFrom('a', 'b', '$'), maxLength: 2 })
const topicArb = fc
  .array(topicLevel, { minLength: 1, maxLength: 6 })
  .map((levels) => levels.join('/'))
  .filter((topic) => topic.length > 0)
const filterArb = fc
  .tuple(fc.array(fc.oneof(topicLevel, fc.constant('+')), { maxLength: 5 }), fc.boolean())
  .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'))
  .filter((filter) => filter.length > 0)

function sorted(values: number[]): number[] {
  return values.toSorted((a, b) => a - b)
}

describe('TopicTrie matching', () => {
  it.each(matchingCases)('%j against %j → %s', (topic, filter, expected) => {
    const trie = new TopicTrie<string>()
    trie.add(filter, 'x')
    expect(trie.match(topic)).toEqual(expected ? ['x'] : [])
  })

  it('finds every matching filter when all the spec examples share one trie', () => {
    const trie = new TopicTrie<number>()
    const filters = [...new Set(matchingCases.map(([, filter]) => filter))]
    filters.forEach((filter, i) => trie.add(filter, i))
    for (const [topic] of matchingCases) {
      const expected = filters.flatMap((filter, i) => (topicMatchesFilter(topic, filter) ? [i] : []))
      expect(sorted(trie.match(topic)), topic).toEqual(expected)
    }
  })

  it('agrees with topicMatchesFilter on random topics and filters', () => {
    fc.assert(
      fc.property(
        fc.array(filterArb, { maxLength: 25 }),
        fc.array(topicArb, { minLength: 1, maxLength: 10 }),
        (filters, topics) => {
          const trie = new TopicTrie<number>()
          filters.forEach((filter, i) => trie.add(filter, i))
          for (const topic of topics) {
            const expected = filters.flatMap((filter, i) => (topicMatchesFilter(topic, filter) ? [i] : []))
            expect(sorted(trie.match(topic))).toEqual(expected)
          }
        },
      ),
      { numRuns: 500 },
    )
  })

  it('generates only inputs the validators accept, so the property above tests valid input', () => {
    fc.assert(
      fc.property(filterArb, topicArb, (filter, topic) => {
        expect(validateTopicFilter(filter)).toEqual({ ok: true })
        expect(validateTopicName(topic)).toEqual({ ok: true })
      }),
    )
  })

  it('reports each (filter, value) pair, duplicates included', () => {
    const trie = new TopicTrie<string>()
    trie.add('a/+', 's1')
    trie.add('a/#', 's1')
    trie.add('a/b', 's1')
    trie.add('a/b', 's1')
    trie.add('#', 's2')
    expect(trie.size).toBe(5)
    expect(trie.match('a/b').toSorted()).toEqual(['s1', 's1', 's1', 's1', 's2'])
    const visited: string[] = []
    trie.match('a/c', (value) => visited.push(value))
    expect(visited.toSorted()).toEqual(['s1', 's1', 's2'])
  })

  it('handles topics and filters of thousands of levels without recursion', () => {
    const depth = 5_000
    const topic = Array.from({ length: depth }, (_, i) => `l${i % 7}`).join('/')
    const trie = new TopicTrie<string>()
    trie.add(topic, 'exact')
    trie.add(Array.from({ length: depth }, () => '+').join('/'), 'plus')
    trie.add(`${topic.slice(0, topic.lastIndexOf('/'))}/#`, 'hash')
    const emptyLevels = '/'.repeat(depth - 1)
    trie.add(emptyLevels, 'empty-levels')
    expect(trie.match(topic).toSorted()).toEqual(['exact', 'hash', 'plus'])
    expect(trie.match(emptyLevels).toSorted()).toEqual(['empty-levels', 'plus'])
  })

  it('supports a match started from inside a visitor', () => {
    const trie = new TopicTrie<string>()
    trie.add('a/+', 'outer')
    trie.add('b/#', 'inner')
    const seen: string[] = []
    trie.match('a/x', (value) => {
      seen.push(value)
      trie.match('b/y/z', (nested) => seen.push(nested))
    })
    expect(seen).toEqual(['outer', 'inner'])
    expect(trie.match('a/x')).toEqual(['outer'])
  })

  it('recovers from a visitor that throws', () => {
    const trie = new TopicTrie<number>()
    for (let i = 0; i < 5; i++) trie.add(i % 2 === 0 ? 'a/+' : 'a/#', i)
    expect(() =>
      trie.match('a/b', () => {
        throw new Error('boom')
      }),
    ).toThrow('boom')
    expect(sorted(trie.match('a/b'))).toEqual([0, 1, 2, 3, 4])
  })

  it('stays consistent when a visitor removes and adds subscriptions', () => {
    const trie = new TopicTrie<number>()
    for (let i = 0; i < 4; i++) trie.add('a/b', i)
    trie.add('a/+', 10)
    const seen: number[] = []
    trie.match('a/b', (value) => {
      seen.push(value)
      if (value === 1) trie.remove('a/b', 2)
      if (value === 10) trie.remove('a/+', 10)
      trie.add('a/#', 100 + value)
    })
    expect(seen).toContain(0)
    expect(seen).toContain(1)
    expect(sorted(trie.match('a/b')).filter((v) => v < 100)).toEqual([0, 1, 3])
    expect(trie.size).toBe(3 + seen.length)
  })
})

describe('TopicTrie add and remove', () => {
  it('rejects filters with misplaced wildcards rather than storing them as literals', () => {
    const trie = new TopicTrie<number>()
    for (const filter of ['a/#/b', '#/', 'a#', 'a/b+', '+a/b', '##']) {
      expect(() => trie.add(filter, 1), filter).toThrow(RangeError)
    }
    expect(trie.size).toBe(0)
    expect(trie.nodeCount).toBe(0)
  })

  it('removes by value, only under the exact filter', () => {
    const trie = new TopicTrie<string>()
    trie.add('a', 'x')
    trie.add('a/#', 'x')
    trie.add('a/+', 'x')
    expect(trie.remove('a/b', 'x')).toBe(false)
    expect(trie.remove('a', 'y')).toBe(false)
    expect(trie.remove('#', 'x')).toBe(false)
    expect(trie.remove('a/#', 'x')).toBe(true)
    expect(trie.remove('a/#', 'x')).toBe(false)
    expect(trie.match('a')).toEqual(['x'])
    expect(trie.match('a/b')).toEqual(['x'])
    expect(trie.size).toBe(2)
  })

  it('removes every occurrence of a value, or those a predicate selects', () => {
    const trie = new TopicTrie<{ session: string; qos: number }>()
    const s1 = { session: 's1', qos: 0 }
    trie.add('t', s1)
    trie.add('t', s1)
    trie.add('t', { session: 's2', qos: 1 })
    trie.add('t', { session: 's2', qos: 2 })
    trie.add('t', { session: 's3', qos: 2 })
    expect(trie.remove('t', s1)).toBe(true)
    expect(trie.size).toBe(3)
    expect(trie.removeWhere('t', (sub) => sub.session === 's2')).toBe(2)
    expect(trie.removeWhere('t', (sub) => sub.session === 's2')).toBe(0)
    expect(trie.removeWhere('nope/+', () => true)).toBe(0)
    expect(trie.match('t')).toEqual([{ session: 's3', qos: 2 }])
  })

  it('prunes the branches a removal empties, and only those', () => {
    const trie = new TopicTrie<number>()
    trie.add('a/b/c/d', 1)
    trie.add('a/b', 2)
    trie.add('a/+/#', 3)
    expect(trie.nodeCount).toBe(5) // a, a/b, a/b/c, a/b/c/d, a/+
    trie.remove('a/b/c/d', 1)
    expect(trie.nodeCount).toBe(3)
    trie.remove('a/+/#', 3)
    expect(trie.nodeCount).toBe(2)
    expect(trie.match('a/b')).toEqual([2])
    trie.remove('a/b', 2)
    expect(trie.nodeCount).toBe(0)
    expect(trie.size).toBe(0)
  })

  it('keeps size and node count at zero after random add/remove churn', () => {
    const op = fc.record({ add: fc.boolean(), filter: filterArb, value: fc.integer({ min: 0, max: 3 }) })
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 60 }),
        fc.array(topicArb, { minLength: 1, maxLength: 5 }),
        (ops, topics) => {
          const trie = new TopicTrie<number>()
          const model: [string, number][] = []
          for (const { add, filter, value } of ops) {
            if (add) {
              trie.add(filter, value)
              model.push([filter, value])
            } else {
              const before = model.length
              const remaining = model.filter(([f, v]) => f !== filter || v !== value)
              model.splice(0, model.length, ...remaining)
              expect(trie.remove(filter, value)).toBe(remaining.length < before)
            }
            expect(trie.size).toBe(model.length)
          }
          for (const topic of topics) {
            const expected = model.flatMap(([filter, value]) => (topicMatchesFilter(topic, filter) ? [value] : []))
            expect(sorted(trie.match(topic))).toEqual(sorted(expected))
          }
          for (const [filter] of model) trie.removeWhere(filter, () => true)
          expect(trie.size).toBe(0)
          expect(trie.nodeCount).toBe(0)
          for (const topic of topics) expect(trie.match(topic)).toEqual([])
        },
      ),
      { numRuns: 500 },
    )
  })
})
