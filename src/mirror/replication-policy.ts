import { ConfigError, ConfigErrors } from '../errors.ts'

/*
 * Upstream names of a link (mirror.md B2.1, B2.3) and the provenance headers every mirrored record
 * carries (B2.2).
 *
 * Policies:
 * - prefix:   <gatewayAlias><separator><stream>, MM2's DefaultReplicationPolicy. Each gateway writes
 *             its own topics (exclusive partitions: cheap reconciliation, gap-free offset maps), and
 *             MM2 tooling finds the source with topicSource() = text before the first separator,
 *             which is why the alias may not contain the separator.
 * - identity: <stream>, MM2's IdentityReplicationPolicy. Many gateways aggregate into one topic, so
 *             upstream partitions are shared; injectivity across gateways is deliberately not checked.
 * - map:      an explicit table stream → upstream topic.
 *
 * Stream names are already Kafka-legal ([A-Za-z0-9._-]{1,249}, not "." or ".."), so no escaping is
 * needed; only the prefix can push a name past Kafka's 249 characters, which is refused.
 */

export type NamingConfig =
  | { readonly policy: 'prefix'; readonly separator?: string }
  | { readonly policy: 'identity' }
  | { readonly policy: 'map'; readonly topics: Readonly<Record<string, string>> }

export interface ReplicationPolicy {
  readonly policy: NamingConfig['policy']
  readonly gatewayAlias: string
  /** The upstream topic of `stream`; throws ConfigError if it has none or it is not a legal topic. */
  upstreamTopic(stream: string): string
}

const gatewayAliasPattern = /^[A-Za-z0-9_-]{1,64}$/
const topicPattern = /^[A-Za-z0-9._-]{1,249}$/
const maxTopicLength = 249
const kafkaInternalTopics = ['__consumer_offsets', '__transaction_state']

/** MM2's checkpoints topic name: RemoteClusterUtils.translateOffsets(props, alias, group) reads it. */
export function checkpointsTopic(gatewayAlias: string): string {
  return `${gatewayAlias}.checkpoints.internal`
}

/** MM2's name for heartbeats replicated from `gatewayAlias`: MirrorClient counts hops from it. */
export function heartbeatsTopic(gatewayAlias: string): string {
  return `${gatewayAlias}.heartbeats`
}

/**
 * Validates the alias and the naming config (for `map`: every target legal, no two streams on one
 * topic). `path` is the dotted config path of the link, used in error messages. Throws ConfigErrors.
 */
export function createReplicationPolicy(
  gatewayAlias: string,
  naming: NamingConfig,
  path = 'mirror.link',
): ReplicationPolicy {
  const problems: ConfigError[] = []
  if (!gatewayAliasPattern.test(gatewayAlias)) {
    problems.push(new ConfigError(`${path}.gatewayAlias`, gatewayAlias, 'use 1 to 64 of A-Z a-z 0-9 _ -'))
  }
  let upstreamTopic: (stream: string) => string
  switch (naming.policy) {
    case 'prefix': {
      const separator = naming.separator ?? '.'
      if (!/^[A-Za-z0-9._-]{1,8}$/.test(separator)) {
        problems.push(new ConfigError(`${path}.naming.separator`, separator, 'use 1 to 8 of A-Z a-z 0-9 . _ -'))
      } else if (gatewayAliasPattern.test(gatewayAlias) && gatewayAlias.includes(separator)) {
        // MM2 splits the source alias off at the first separator; an alias containing it would be misparsed.
        problems.push(
          new ConfigError(`${path}.gatewayAlias`, gatewayAlias, `must not contain the separator "${separator}"`),
        )
      }
      upstreamTopic = (stream) => legalTopic(`${gatewayAlias}${separator}${stream}`, stream, `${path}.naming`)
      break
    }
    case 'identity':
      upstreamTopic = (stream) => legalTopic(stream, stream, `${path}.naming`)
      break
    case 'map': {
      const topicsPath = `${path}.naming.topics`
      const table = new Map(Object.entries(naming.topics))
      for (const [stream, topic] of table) {
        try {
          legalTopic(topic, stream, `${topicsPath}.${stream}`)
        } catch (error) {
          problems.push(error as ConfigError)
        }
      }
      problems.push(...collisions(table, topicsPath))
      upstreamTopic = (stream) => {
        const topic = table.get(stream)
        if (topic === undefined) {
          throw new ConfigError(`${topicsPath}.${stream}`, undefined, `stream "${stream}" has no upstream topic`)
        }
        return topic
      }
      break
    }
  }
  if (problems.length > 0) throw new ConfigErrors(problems)
  return { policy: naming.policy, gatewayAlias, upstreamTopic }
}

/**
 * The upstream topic of every stream a link mirrors, checked as a whole: every name legal, no two
 * streams on one topic, none on the link's internal topics or Kafka's. Throws ConfigErrors.
 */
export function mapStreams(
  policy: ReplicationPolicy,
  streams: Iterable<string>,
  path = 'mirror.link',
): Map<string, string> {
  const problems: ConfigError[] = []
  const mapping = new Map<string, string>()
  for (const stream of streams) {
    try {
      mapping.set(stream, policy.upstreamTopic(stream))
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error
      problems.push(error)
    }
  }
  problems.push(...collisions(mapping, `${path}.naming`))
  // Compared with '.' and '_' folded, as Kafka compares them (see collisions()).
  const fold = (topic: string) => topic.replaceAll('.', '_')
  const internal = [checkpointsTopic(policy.gatewayAlias), heartbeatsTopic(policy.gatewayAlias), ...kafkaInternalTopics]
  const reserved = new Map(internal.map((topic) => [fold(topic), topic]))
  for (const [stream, topic] of mapping) {
    const clash = reserved.get(fold(topic))
    if (clash !== undefined) {
      problems.push(new ConfigError(`${path}.naming`, stream, `stream "${stream}" maps to reserved topic "${clash}"`))
    }
  }
  if (problems.length > 0) throw new ConfigErrors(problems)
  return mapping
}

function legalTopic(topic: string, stream: string, path: string): string {
  if (topic.length > maxTopicLength) {
    throw new ConfigError(
      path,
      stream,
      `upstream topic of stream "${stream}" would be ${topic.length} characters; Kafka allows ${maxTopicLength}`,
    )
  }
  if (!topicPattern.test(topic) || topic === '.' || topic === '..') {
    throw new ConfigError(path, topic, 'not a Kafka topic name: use 1 to 249 of A-Z a-z 0-9 . _ - (not "." or "..")')
  }
  return topic
}

// Two streams on one topic would interleave two offset sequences in one map. Kafka also refuses to
// create a topic that differs from an existing one only by '.' versus '_' (they collide in metric
// names), so those pairs are collisions too.
function collisions(mapping: ReadonlyMap<string, string>, path: string): ConfigError[] {
  const problems: ConfigError[] = []
  const seen = new Map<string, { stream: string; topic: string }>()
  for (const [stream, topic] of mapping) {
    const normalized = topic.replaceAll('.', '_')
    const other = seen.get(normalized)
    if (other === undefined) {
      seen.set(normalized, { stream, topic })
      continue
    }
    const what = other.topic === topic ? `upstream topic "${topic}"` : `upstream topics "${other.topic}" and "${topic}"`
    const why = other.topic === topic ? '' : ", which Kafka treats as colliding ('.' and '_')"
    problems.push(
      new ConfigError(path, [other.stream, stream], `streams "${other.stream}" and "${stream}" map to ${what}${why}`),
    )
  }
  return problems
}

// ---- provenance headers (B2.2) ----

/** Header names starting with this belong to the mirror; user headers may not use them. */
export const reservedHeaderPrefix = 'em.'

export function isReservedHeader(name: string): boolean {
  return name.startsWith(reservedHeaderPrefix)
}

export interface Provenance {
  /** em.src: the gateway alias. */
  gatewayAlias: string
  /** em.src.topic: the local stream. */
  stream: string
  /** em.src.part */
  partition: number
  /** em.src.off: the local offset. */
  offset: bigint
  /** em.src.ts: local append time, kept even when the Kafka timestamp is the send time. */
  timestampMs: number
  /** em.src.epoch: the local log epoch. */
  epoch: number
  /** em.redelivered: an at-least-once fallback resend (B5.5); the header is present only when true. */
  redelivered: boolean
  /** em.gap.before: local records evicted right before this one; the header is present only when > 0. */
  gapBefore: bigint
}

export type Header = readonly [name: string, value: Uint8Array]

const headerVersion = '1'

/** The em.* header names, in the order every mirrored record carries them (the last two only when set). */
export const provenanceNames = {
  version: 'em.v',
  gateway: 'em.src',
  stream: 'em.src.topic',
  partition: 'em.src.part',
  offset: 'em.src.off',
  timestamp: 'em.src.ts',
  epoch: 'em.src.epoch',
  redelivered: 'em.redelivered',
  gapBefore: 'em.gap.before',
} as const
const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** What provenanceHeaders() needs: the flags default to absent. */
export type ProvenanceInput = Omit<Provenance, 'redelivered' | 'gapBefore'> & {
  redelivered?: boolean
  gapBefore?: bigint
}

/**
 * Builds the em.* headers of a partition's records: the values that are the same for every record
 * of the partition are encoded once (the mirror builds seven headers per record, so this matters).
 */
export class ProvenanceEncoder {
  readonly #constant: { v: Uint8Array; src: Uint8Array; topic: Uint8Array; part: Uint8Array; epoch: Uint8Array }

  constructor(p: Pick<Provenance, 'gatewayAlias' | 'stream' | 'partition' | 'epoch'>) {
    for (const [name, value] of [
      ['partition', p.partition],
      ['epoch', p.epoch],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < 0)
        throw new RangeError(`provenance ${name} ${value} is not an integer >= 0`)
    }
    this.#constant = {
      v: encoder.encode(headerVersion),
      src: encoder.encode(p.gatewayAlias),
      topic: encoder.encode(p.stream),
      part: encoder.encode(String(p.partition)),
      epoch: encoder.encode(String(p.epoch)),
    }
  }

  /** The em.* headers of one record. Values are text (numbers in ASCII decimal), readable with kcat. */
  headers(offset: bigint, timestampMs: number, redelivered = false, gapBefore = 0n): [string, Uint8Array][] {
    if (!Number.isSafeInteger(timestampMs) || timestampMs < 0)
      throw new RangeError(`provenance timestampMs ${timestampMs} is not an integer >= 0`)
    if (offset < 0n || gapBefore < 0n) throw new RangeError('provenance offset and gapBefore must be >= 0')
    const c = this.#constant
    const n = provenanceNames
    const headers: [string, Uint8Array][] = [
      [n.version, c.v],
      [n.gateway, c.src],
      [n.stream, c.topic],
      [n.partition, c.part],
      [n.offset, encoder.encode(String(offset))],
      [n.timestamp, encoder.encode(String(timestampMs))],
      [n.epoch, c.epoch],
    ]
    if (redelivered) headers.push([n.redelivered, encoder.encode('1')])
    if (gapBefore > 0n) headers.push([n.gapBefore, encoder.encode(String(gapBefore))])
    return headers
  }
}

/** The em.* headers of one record (see ProvenanceEncoder for a partition's many records). */
export function provenanceHeaders(p: ProvenanceInput): [string, Uint8Array][] {
  return new ProvenanceEncoder(p).headers(p.offset, p.timestampMs, p.redelivered === true, p.gapBefore ?? 0n)
}

/**
 * The provenance of an upstream record, or undefined if it has none (another producer's record) or
 * it is malformed: an unknown em.v, a missing or non-decimal field, or an em.* header given twice
 * with different values. Reconciliation treats all of these as "not ours".
 */
export function parseProvenance(headers: readonly Header[]): Provenance | undefined {
  const fields = new Map<string, string>()
  for (const [name, value] of headers) {
    if (!isReservedHeader(name)) continue
    let text: string
    try {
      text = decoder.decode(value)
    } catch {
      return undefined
    }
    const previous = fields.get(name)
    if (previous !== undefined && previous !== text) return undefined
    fields.set(name, text)
  }
  const n = provenanceNames
  if (fields.get(n.version) !== headerVersion) return undefined
  const gatewayAlias = fields.get(n.gateway)
  const stream = fields.get(n.stream)
  const partition = safeDecimal(fields.get(n.partition))
  const offset = decimal(fields.get(n.offset))
  const timestampMs = safeDecimal(fields.get(n.timestamp))
  const epoch = safeDecimal(fields.get(n.epoch))
  const redelivered = fields.get(n.redelivered)
  const gapBefore = fields.has(n.gapBefore) ? decimal(fields.get(n.gapBefore)) : 0n
  if (
    gatewayAlias === undefined ||
    gatewayAlias === '' ||
    stream === undefined ||
    stream === '' ||
    partition === undefined ||
    offset === undefined ||
    timestampMs === undefined ||
    epoch === undefined ||
    gapBefore === undefined ||
    (redelivered !== undefined && redelivered !== '1')
  ) {
    return undefined
  }
  return { gatewayAlias, stream, partition, offset, timestampMs, epoch, redelivered: redelivered === '1', gapBefore }
}

const maxInt64 = (1n << 63n) - 1n

// Canonical ASCII decimal only (no sign, no leading zeros, no spaces): what provenanceHeaders writes.
function decimal(text: string | undefined): bigint | undefined {
  if (text === undefined || !/^(0|[1-9][0-9]{0,18})$/.test(text)) return undefined
  const value = BigInt(text)
  return value <= maxInt64 ? value : undefined
}

function safeDecimal(text: string | undefined): number | undefined {
  const value = decimal(text)
  return value !== undefined && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined
}
