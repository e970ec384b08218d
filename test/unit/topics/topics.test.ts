import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  hasWildcard,
  maxTopicBytes,
  parseSharedSubscription,
  topicMatchesFilter,
  validateTopicFilter,
  validateTopicName,
  type TopicFilterProblem,
  type TopicNameProblem,
} from '../../../src/topics/topics.ts'
import { matchingCases } from './topic-matching-cases.ts'

describe('validateTopicName', () => {
  it.each([
    'sport/tennis/player1',
    'sport',
    '/',
    '//',
    '/finance',
    'finance/',
    'Accounts payable',
    '$SYS/broker/load',
    '$share/g/a', // only a filter is a shared subscription; as a name it is an ordinary topic
    'température/𝄞',
    'a'.repeat(maxTopicBytes),
  ])('accepts %j', (topic) => {
    expect(validateTopicName(topic)).toEqual({ ok: true })
  })

  it.each<[string, TopicNameProblem]>([
    ['', 'empty'],
    ['sport/+', 'wildcard-in-topic'],
    ['sport/#', 'wildcard-in-topic'],
    ['sport+', 'wildcard-in-topic'],
    ['#', 'wildcard-in-topic'],
    ['a\u0000b', 'null-character'],
    ['a/\ud800', 'malformed-utf8'],
    ['a/\udc00/b', 'malformed-utf8'],
    ['\ud800a', 'malformed-utf8'],
    ['a'.repeat(maxTopicBytes + 1), 'too-long'],
    ['é'.repeat(32_768), 'too-long'], // 32,768 characters but 65,536 bytes
  ])('rejects %j as %s', (topic, reason) => {
    expect(validateTopicName(topic)).toEqual({ ok: false, reason })
  })

  it('applies configured limits in bytes and levels', () => {
    expect(validateTopicName('ééé', { maxLength: 6 })).toEqual({ ok: true })
    expect(validateTopicName('ééé', { maxLength: 5 })).toEqual({ ok: false, reason: 'too-long' })
    expect(validateTopicName('a/b/c', { maxLevels: 3 })).toEqual({ ok: true })
    expect(validateTopicName('a//c/', { maxLevels: 3 })).toEqual({ ok: false, reason: 'too-many-levels' })
  })

  it('never lets a configured limit exceed what the wire can carry', () => {
    expect(validateTopicName('a'.repeat(maxTopicBytes + 1), { maxLength: 1_000_000 })).toEqual({
      ok: false,
      reason: 'too-long',
    })
  })

  it('counts bytes as Buffer.byteLength does for any well-formed string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.nat({ max: 200 }), (topic, maxLength) => {
        fc.pre(topic.length > 0 && !['+', '#', '\u0000'].some((c) => topic.includes(c)))
        const fits = Buffer.byteLength(topic, 'utf8') <= maxLength
        expect(validateTopicName(topic, { maxLength }).ok).toBe(fits)
      }),
    )
  })
})

describe('validateTopicFilter', () => {
  it.each([
    // MQTT 5.0 §4.7.1.2 and §4.7.1.3 examples of valid filters
    'sport/tennis/player1/#',
    'sport/tennis/#',
    '#',
    '+',
    '+/tennis/#',
    'sport/+/player1',
    'sport/+',
    '+/+',
    '/+',
    '/finance',
    '$SYS/#',
    '$SYS/monitor/+',
    'a//b',
    '/',
    '+/',
    '/#',
    '$share/consumers/sport/+',
    '$share/g/#',
    '$share/g/$share/h/a', // nothing forbids a filter that itself starts with $share
    '$share', // no `/` after it: an ordinary filter
    '$SHARE//x', // the prefix is case-sensitive: an ordinary filter
  ])('accepts %j', (filter) => {
    expect(validateTopicFilter(filter)).toEqual({ ok: true })
  })

  it.each<[string, TopicFilterProblem]>([
    ['', 'empty'],
    ['sport/tennis#', 'multi-level-wildcard-misplaced'],
    ['sport/tennis/#/ranking', 'multi-level-wildcard-misplaced'],
    ['#/', 'multi-level-wildcard-misplaced'],
    ['##', 'multi-level-wildcard-misplaced'],
    ['a/#b', 'multi-level-wildcard-misplaced'],
    ['sport+', 'single-level-wildcard-misplaced'],
    ['+sport', 'single-level-wildcard-misplaced'],
    ['sport/+player1', 'single-level-wildcard-misplaced'],
    ['++', 'single-level-wildcard-misplaced'],
    ['+#', 'single-level-wildcard-misplaced'],
    ['a\u0000', 'null-character'],
    ['\udfff/#', 'malformed-utf8'],
    ['a/'.repeat(maxTopicBytes / 2) + 'ab', 'too-long'],
    ['$share//a', 'share-name-empty'],
    ['$share/', 'share-name-empty'],
    ['$share/g+/a', 'share-name-invalid'],
    ['$share/#/a', 'share-name-invalid'],
    ['$share/+/a', 'share-name-invalid'],
    ['$share/g', 'share-filter-missing'],
    ['$share/g/', 'share-filter-missing'],
    ['$share/g/a#', 'multi-level-wildcard-misplaced'],
    ['$share/g/#/a', 'multi-level-wildcard-misplaced'],
    ['$share/g/a+', 'single-level-wildcard-misplaced'],
    ['$share/g\u0000/a', 'null-character'],
  ])('rejects %j as %s', (filter, reason) => {
    expect(validateTopicFilter(filter)).toEqual({ ok: false, reason })
  })

  it('applies configured limits; levels of a shared subscription are those of its inner filter', () => {
    expect(validateTopicFilter('a/+/#', { maxLevels: 3 })).toEqual({ ok: true })
    expect(validateTopicFilter('a/+/c/#', { maxLevels: 3 })).toEqual({ ok: false, reason: 'too-many-levels' })
    expect(validateTopicFilter('$share/g/a/+/#', { maxLevels: 3 })).toEqual({ ok: true })
    expect(validateTopicFilter('$share/g/a/b/c/d', { maxLevels: 3 })).toEqual({
      ok: false,
      reason: 'too-many-levels',
    })
    expect(validateTopicFilter('$share/g/a', { maxLength: 10 })).toEqual({ ok: true })
    expect(validateTopicFilter('$share/g/ab', { maxLength: 10 })).toEqual({ ok: false, reason: 'too-long' })
  })
})

describe('parseSharedSubscription', () => {
  it.each([
    ['$share/consumers/sport/tennis/+', { shareName: 'consumers', filter: 'sport/tennis/+' }],
    ['$share/g/#', { shareName: 'g', filter: '#' }],
    ['$share/g//', { shareName: 'g', filter: '/' }],
    ['$share/g/$SYS/#', { shareName: 'g', filter: '$SYS/#' }],
    ['$share/ünï/a', { shareName: 'ünï', filter: 'a' }],
  ])('splits %j', (filter, expected) => {
    expect(parseSharedSubscription(filter)).toEqual(expected)
  })

  it.each(['sport/#', '$share', '$SHARE/g/a', '$shared/g/a', '$share//a', '$share/g', '$share/g/', '$share/+/a'])(
    'returns null for %j',
    (filter) => {
      expect(parseSharedSubscription(filter)).toBeNull()
    },
  )

  it('returns null exactly where validateTopicFilter finds the $share/ form itself malformed', () => {
    const level = fc.constantFrom('', 'a', 'g', '+', '#', 'g#', '$share')
    const shareProblems: readonly TopicFilterProblem[] = [
      'share-name-empty',
      'share-name-invalid',
      'share-filter-missing',
    ]
    fc.assert(
      fc.property(fc.array(level, { minLength: 1, maxLength: 5 }), (levels) => {
        const filter = `$share/${levels.join('/')}`
        const shared = parseSharedSubscription(filter)
        const check = validateTopicFilter(filter)
        const shareProblem = !check.ok && shareProblems.includes(check.reason)
        expect(shared === null).toBe(shareProblem)
        if (shared !== null) {
          expect(`$share/${shared.shareName}/${shared.filter}`).toBe(filter)
          // The inner filter is valid exactly when the whole is; checked alone, an inner `$share/...`
          // would be read as a shared subscription again.
          if (!shared.filter.startsWith('$share/')) expect(validateTopicFilter(shared.filter).ok).toBe(check.ok)
        }
      }),
    )
  })
})

describe('hasWildcard', () => {
  it.each([
    ['a/b', false],
    ['a/+', true],
    ['#', true],
    ['$share/g/a', false],
    ['$share/g/a/#', true],
  ])('%j → %s', (filter, expected) => {
    expect(hasWildcard(filter)).toBe(expected)
  })
})

describe('topicMatchesFilter', () => {
  it.each(matchingCases)('%j against %j → %s', (topic, filter, expected) => {
    expect(topicMatchesFilter(topic, filter)).toBe(expected)
  })

  it('matches any topic name used as a filter against itself', () => {
    const level = fc.constantFrom('', 'a', 'b', '$', '$a')
    fc.assert(
      fc.property(fc.array(level, { minLength: 1, maxLength: 6 }), (levels) => {
        const topic = levels.join('/')
        fc.pre(topic.length > 0)
        expect(topicMatchesFilter(topic, topic)).toBe(true)
      }),
    )
  })
})
