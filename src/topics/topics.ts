// Topic names, topic filters and shared-subscription filters: validation and a reference matcher.
// Everything here is pure and total. Topics and filters arrive from the network, so bad input is an
// expected outcome, returned as a typed reason that the protocol layer maps to a reason code (0x90
// Topic Name invalid, 0x8F Topic Filter invalid, Malformed Packet, ...) rather than thrown.
// Clause numbers are those of MQTT 5.0; the 3.1.1 rules on topics are the same, numbered differently.

/** A UTF-8 Encoded String carries a two-byte length prefix, so no topic can be longer on the wire. */
export const maxTopicBytes = 65_535

export interface TopicLimits {
  /** Maximum encoded length in UTF-8 bytes; capped at {@link maxTopicBytes}. */
  maxLength?: number
  /** Maximum number of levels (`a//b` has three). For a shared subscription, counts the inner filter. */
  maxLevels?: number
}

export const topicNameProblems = [
  'empty',
  'null-character',
  'malformed-utf8',
  'too-long',
  'too-many-levels',
  'wildcard-in-topic',
] as const
export type TopicNameProblem = (typeof topicNameProblems)[number]

export const topicFilterProblems = [
  'empty',
  'null-character',
  'malformed-utf8',
  'too-long',
  'too-many-levels',
  'multi-level-wildcard-misplaced',
  'single-level-wildcard-misplaced',
  'share-name-empty',
  'share-name-invalid',
  'share-filter-missing',
] as const
export type TopicFilterProblem = (typeof topicFilterProblems)[number]

export type TopicCheck<Problem extends string> =
  { readonly ok: true } | { readonly ok: false; readonly reason: Problem }

export interface SharedSubscription {
  shareName: string
  /** The filter the subscription matches with, i.e. everything after `$share/<shareName>/`. */
  filter: string
}

// Validation runs on every PUBLISH, so success returns one shared object instead of allocating.
const valid: { readonly ok: true } = Object.freeze({ ok: true })

const sharePrefix = '$share/'
const slash = 0x2f
const plus = 0x2b
const hash = 0x23
const dollar = 0x24

/** Checks the Topic Name of a PUBLISH (or a Will). An empty name with a Topic Alias is resolved before this. */
export function validateTopicName(topic: string, limits: TopicLimits = {}): TopicCheck<TopicNameProblem> {
  // [MQTT-4.7.3-1]
  if (topic.length === 0) return { ok: false, reason: 'empty' }
  let bytes = 0
  let levels = 1
  let wildcard = false
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i)
    if (c < 0x80) {
      bytes += 1
      if (c === slash) levels++
      else if (c === plus || c === hash) wildcard = true
      // [MQTT-4.7.3-2] [MQTT-1.5.4-2]
      else if (c === 0) return { ok: false, reason: 'null-character' }
    } else {
      const width = utf8Width(topic, i, c)
      if (width === 0) return { ok: false, reason: 'malformed-utf8' }
      bytes += width
      if (width === 4) i++
    }
  }
  // [MQTT-4.7.3-3]
  if (bytes > byteLimit(limits)) return { ok: false, reason: 'too-long' }
  // [MQTT-4.7.0-1]
  if (wildcard) return { ok: false, reason: 'wildcard-in-topic' }
  if (limits.maxLevels !== undefined && levels > limits.maxLevels) return { ok: false, reason: 'too-many-levels' }
  return valid
}

/**
 * Checks a Topic Filter of a SUBSCRIBE or UNSUBSCRIBE, including the `$share/<name>/<filter>` form.
 * A valid result says nothing about whether the server supports wildcards or shared subscriptions;
 * see {@link hasWildcard} and {@link parseSharedSubscription}.
 */
export function validateTopicFilter(filter: string, limits: TopicLimits = {}): TopicCheck<TopicFilterProblem> {
  // [MQTT-4.7.3-1]
  if (filter.length === 0) return { ok: false, reason: 'empty' }
  let start = 0
  if (filter.startsWith(sharePrefix)) {
    const end = filter.indexOf('/', sharePrefix.length)
    const nameEnd = end === -1 ? filter.length : end
    // [MQTT-4.8.2-1]
    if (nameEnd === sharePrefix.length) return { ok: false, reason: 'share-name-empty' }
    for (let i = sharePrefix.length; i < nameEnd; i++) {
      const c = filter.charCodeAt(i)
      // [MQTT-4.8.2-2]
      if (c === plus || c === hash) return { ok: false, reason: 'share-name-invalid' }
    }
    // [MQTT-4.8.2-2] the ShareName is followed by `/` and a Topic Filter, which [MQTT-4.7.3-1] makes non-empty
    if (end === -1 || end === filter.length - 1) return { ok: false, reason: 'share-filter-missing' }
    start = end + 1
  }

  let bytes = 0
  let levels = 1
  let misplaced: TopicFilterProblem | undefined
  let levelStart = start
  for (let i = 0; i < filter.length; i++) {
    const c = filter.charCodeAt(i)
    if (c >= 0x80) {
      const width = utf8Width(filter, i, c)
      if (width === 0) return { ok: false, reason: 'malformed-utf8' }
      bytes += width
      if (width === 4) i++
      continue
    }
    bytes += 1
    // [MQTT-4.7.3-2] [MQTT-1.5.4-2]
    if (c === 0) return { ok: false, reason: 'null-character' }
    if (i < start) continue
    if (c === slash) {
      levels++
      levelStart = i + 1
    } else if (c === hash) {
      // [MQTT-4.7.1-1]
      if (i !== levelStart || i !== filter.length - 1) misplaced ??= 'multi-level-wildcard-misplaced'
    } else if (c === plus) {
      // [MQTT-4.7.1-2]
      if (i !== levelStart || (i + 1 < filter.length && filter.charCodeAt(i + 1) !== slash)) {
        misplaced ??= 'single-level-wildcard-misplaced'
      }
    }
  }
  // [MQTT-4.7.3-3]
  if (bytes > byteLimit(limits)) return { ok: false, reason: 'too-long' }
  if (misplaced !== undefined) return { ok: false, reason: misplaced }
  if (limits.maxLevels !== undefined && levels > limits.maxLevels) return { ok: false, reason: 'too-many-levels' }
  return valid
}

/**
 * Splits `$share/<shareName>/<filter>` into its parts; null for a non-shared filter. Also null for a
 * malformed `$share/` filter, so run {@link validateTopicFilter} first: it rejects those with a reason.
 * The prefix is matched case-sensitively, as topics are.
 */
export function parseSharedSubscription(filter: string): SharedSubscription | null {
  if (!filter.startsWith(sharePrefix)) return null
  const end = filter.indexOf('/', sharePrefix.length)
  // [MQTT-4.8.2-1] [MQTT-4.8.2-2]
  if (end <= sharePrefix.length || end === filter.length - 1) return null
  const shareName = filter.slice(sharePrefix.length, end)
  // [MQTT-4.8.2-2]
  if (shareName.includes('+') || shareName.includes('#')) return null
  return { shareName, filter: filter.slice(end + 1) }
}

/** Whether a (valid) filter uses `+` or `#`: such a subscription needs Wildcard Subscription Available. */
export function hasWildcard(filter: string): boolean {
  const shared = parseSharedSubscription(filter)
  const inner = shared === null ? filter : shared.filter
  return inner.includes('+') || inner.includes('#')
}

/**
 * Reference matcher: whether a valid topic name matches a valid, non-shared topic filter (pass the
 * `filter` part of a shared subscription). Written for obviousness, not speed: it is the oracle the
 * TopicTrie is tested against. No normalization of either side [MQTT-4.7.3-4].
 */
export function topicMatchesFilter(topic: string, filter: string): boolean {
  const topicLevels = topic.split('/')
  const filterLevels = filter.split('/')
  const first = filterLevels[0]
  // [MQTT-4.7.2-1]
  if (topic.charCodeAt(0) === dollar && (first === '+' || first === '#')) return false
  for (let i = 0; i < filterLevels.length; i++) {
    const level = filterLevels[i]
    // `#` also matches the parent level: `sport/#` matches `sport` (MQTT 5.0 §4.7.1.2).
    if (level === '#') return true
    if (i >= topicLevels.length) return false
    if (level !== '+' && level !== topicLevels[i]) return false
  }
  return topicLevels.length === filterLevels.length
}

function byteLimit(limits: TopicLimits): number {
  return limits.maxLength === undefined ? maxTopicBytes : Math.min(limits.maxLength, maxTopicBytes)
}

// UTF-8 width of the non-ASCII code unit `c` at `i`, 0 for a lone surrogate: such a string has no UTF-8
// encoding [MQTT-1.5.4-1], and encoding it anyway would silently turn it into U+FFFD.
function utf8Width(s: string, i: number, c: number): number {
  if (c < 0x800) return 2
  if (c < 0xd800 || c > 0xdfff) return 3
  if (c > 0xdbff) return 0
  const next = s.charCodeAt(i + 1)
  return next >= 0xdc00 && next <= 0xdfff ? 4 : 0
}
