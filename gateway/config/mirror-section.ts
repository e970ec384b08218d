// The `mirror:` section (links to upstream Kafka clusters) and `--mirror-to`: parsed here, resolved into
// one MirrorLinkOptions per link (defaults < file < env < flags, per field), and turned into the
// mirror's own link configs.

import { ConfigErrors, type ConfigError } from '../../src/errors.ts'
import { defaultBackoffConfig, LinkBackoff, type BackoffConfig } from '../../src/mirror/link-backoff.ts'
import { defaultLinkSettings, type MirrorLinkConfig, type MirrorStreamRule } from '../../src/mirror/mirror.ts'
import type { UnmirroredPolicy } from '../../src/mirror/partition-mirror.ts'
import { createReplicationPolicy, type NamingConfig } from '../../src/mirror/replication-policy.ts'
import { systemClock } from '../../src/util/clock.ts'
import type { Layer } from '../config.ts'
import {
  applyChecks,
  assign,
  checkKeys,
  checkPath,
  expectMapping,
  integerIn,
  isOneOf,
  isValidStreamName,
  maxTimerMs,
  nameMap,
  nonEmptyString,
  nullable,
  oneOf,
  positiveInteger,
  rangeText,
  readSection,
  suggest,
  withError,
  type Check,
  type Checked,
  type Problems,
} from './checks.ts'

export const saslMechanisms = ['plain', 'scram-sha-256', 'scram-sha-512'] as const

export type SaslMechanism = (typeof saslMechanisms)[number]

export const timestampModes = ['origin', 'send'] as const

/** TLS towards the Kafka brokers of a link; `tls: true` in the file is every field at its default. */
export interface MirrorTlsOptions {
  /** PEM CA certificates to trust instead of Node's bundled ones; null: the bundled ones. */
  caFile: string | null
  /** PEM client certificate (mutual TLS), with keyFile; null: none. */
  certFile: string | null
  keyFile: string | null
  rejectUnauthorized: boolean
}

export interface MirrorSaslOptions {
  mechanism: SaslMechanism
  username: string
  password: string
}

/** One upstream Kafka cluster (mirror.links.<name>), resolved: every field set. */
export interface MirrorLinkOptions {
  /** Bootstrap brokers, `host:port`. */
  bootstrap: string[]
  /** The Kafka client id; the file's default (null) is `cairn-<gatewayAlias>`. */
  clientId: string
  /** Upstream topic prefix and provenance identity (em.src); the file's default (null) is mirror.gatewayId. */
  gatewayAlias: string
  naming: NamingConfig
  /** Empty: every stream, policy block, priority 0. */
  streams: MirrorStreamRule[]
  exclude: string[]
  timestampMode: (typeof timestampModes)[number]
  batchMaxRecords: number
  batchMaxBytes: number
  /** After a crash or an uncertain send, how long a batch's intent must age before upstream is read back. */
  recoveryGraceMs: number
  /** Catch-up rate limit; 0: none. */
  maxBytesPerSec: number
  /** MM2 consumer-group checkpoints every this many ms and at link-up; 0: off. */
  checkpointIntervalMs: number
  /** MM2 heartbeats every this many ms; 0: off. */
  heartbeatIntervalMs: number
  /** Local groups whose positions are checkpointed: names or patterns with *. */
  checkpointGroups: string[]
  connectionTimeoutMs: number
  requestTimeoutMs: number
  /** Rewrites broker addresses (`"10.0.0.5:9092": "127.0.0.1:19092"`): NAT, SSH tunnels. */
  brokerAddressMap: Record<string, string>
  /** null: plaintext. */
  tls: MirrorTlsOptions | null
  /** null: no SASL. */
  sasl: MirrorSaslOptions | null
  backoff: BackoffConfig
}

export interface MirrorOptions {
  /** This gateway's id: the default gateway alias of every link. Required once a link is configured. */
  gatewayId: string | null
  /** Empty: the mirror is off. */
  links: Record<string, MirrorLinkOptions>
}

/** The link `--mirror-to` / CAIRN_MIRROR_TO creates (or whose bootstrap it replaces). */
export const mirrorToLink = 'upstream'

/** What a link gets for every field its declaration leaves out (bootstrap has no default). */
export const mirrorLinkDefaults: Omit<MirrorLinkOptions, 'bootstrap' | 'clientId' | 'gatewayAlias'> = {
  // The mirror's default (prefix), with its separator spelt out.
  naming: { policy: 'prefix', separator: '.' },
  streams: defaultLinkSettings.streams,
  exclude: defaultLinkSettings.exclude,
  timestampMode: defaultLinkSettings.timestampMode,
  batchMaxRecords: defaultLinkSettings.batchMaxRecords,
  batchMaxBytes: defaultLinkSettings.batchMaxBytes,
  recoveryGraceMs: defaultLinkSettings.recoveryGraceMs,
  maxBytesPerSec: defaultLinkSettings.maxBytesPerSec,
  checkpointIntervalMs: defaultLinkSettings.checkpointIntervalMs,
  heartbeatIntervalMs: defaultLinkSettings.heartbeatIntervalMs,
  checkpointGroups: defaultLinkSettings.checkpointGroups,
  // KafkajsSink's own defaults.
  connectionTimeoutMs: 3000,
  requestTimeoutMs: 30_000,
  brokerAddressMap: {},
  tls: null,
  sasl: null,
  backoff: { ...defaultBackoffConfig },
}

/** A link as one source declares it: gatewayAlias and clientId null mean "the default". */
export type LinkLayer = Partial<
  Omit<MirrorLinkOptions, 'gatewayAlias' | 'clientId' | 'backoff'> & {
    gatewayAlias: string | null
    clientId: string | null
    backoff: Partial<BackoffConfig>
  }
>

export const linkNamePattern = /^[A-Za-z0-9_-]{1,64}$/

export const brokerAddressPattern = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/

export const streamPatternPattern = /^[A-Za-z0-9._*-]{1,249}$/

export const namingPolicies = ['prefix', 'identity', 'map'] as const

export const maxBatchBytes = 64 * 1024 * 1024

/** Keys of a link, in the order the example file shows them. */
export const linkKeys = [
  'bootstrap',
  'clientId',
  'gatewayAlias',
  'naming',
  'streams',
  'exclude',
  'timestampMode',
  'batchMaxRecords',
  'batchMaxBytes',
  'recoveryGraceMs',
  'maxBytesPerSec',
  'checkpointIntervalMs',
  'heartbeatIntervalMs',
  'checkpointGroups',
  'connectionTimeoutMs',
  'requestTimeoutMs',
  'brokerAddressMap',
  'tls',
  'sasl',
  'backoff',
] as const satisfies readonly (keyof LinkLayer)[]

export const linkChecks: { [K in keyof Required<LinkLayer>]?: Check<Required<LinkLayer>[K]> } = {
  bootstrap: checkBootstrap,
  clientId: nullable(checkClientId),
  // The replication policy checks the alias, with the naming it goes with (resolveMirrorLinks).
  gatewayAlias: nullable(nonEmptyString),
  exclude: checkStreamPatterns,
  timestampMode: oneOf(timestampModes),
  batchMaxRecords: integerIn(1, 1_000_000),
  batchMaxBytes: integerIn(1, maxBatchBytes),
  recoveryGraceMs: integerIn(0, maxTimerMs),
  maxBytesPerSec: (value) =>
    value === 0
      ? { value }
      : withError(positiveInteger(value), 'must be 0 (no limit) or a positive integer (bytes per second)'),
  checkpointIntervalMs: intervalOrOff,
  heartbeatIntervalMs: intervalOrOff,
  checkpointGroups: checkGroupPatterns,
  connectionTimeoutMs: integerIn(100, maxTimerMs),
  requestTimeoutMs: integerIn(100, maxTimerMs),
  brokerAddressMap: checkBrokerAddressMap,
}

export function intervalOrOff(value: unknown): Checked<number> {
  return value === 0
    ? { value }
    : withError(integerIn(1000, maxTimerMs)(value), `must be 0 (off) or ${rangeText(1000, maxTimerMs)}`)
}

/** Consumer group names are 1 to 249 characters of any kind; `*` matches any run of them. */
export function checkGroupPatterns(value: unknown): Checked<string[]> {
  const error = 'must be a list of consumer group names or patterns with * (1 to 249 characters each)'
  if (!Array.isArray(value)) return { error }
  const bad = value.flatMap((pattern: unknown, i) =>
    typeof pattern === 'string' && pattern.length >= 1 && pattern.length <= 249
      ? []
      : [`[${i}] ${JSON.stringify(pattern)}`],
  )
  return bad.length === 0 ? { value: value as string[] } : { error: `${error}; bad: ${bad.join(', ')}` }
}

export const backoffChecks: { [K in keyof BackoffConfig]: Check<BackoffConfig[K]> } = {
  baseMs: integerIn(1, maxTimerMs),
  capMs: integerIn(0, maxTimerMs),
  authCapMs: integerIn(0, maxTimerMs),
  stableAfterMs: integerIn(0, maxTimerMs),
}

export const mirrorTlsChecks: { [K in keyof MirrorTlsOptions]: Check<MirrorTlsOptions[K]> } = {
  caFile: nullable(checkPath),
  certFile: nullable(checkPath),
  keyFile: nullable(checkPath),
  rejectUnauthorized: (value) => (typeof value === 'boolean' ? { value } : { error: 'must be true or false' }),
}

export function readMirrorSection(
  mirror: Record<string, unknown>,
  layer: Layer,
  problems: Problems,
  source: string,
): void {
  checkKeys(mirror, 'mirror.', ['gatewayId', 'links'], problems, source)
  if ('gatewayId' in mirror) {
    const checked = nullable(checkGatewayAlias)(mirror.gatewayId)
    assign(layer.mirror, 'gatewayId', checked, 'mirror.gatewayId', mirror.gatewayId, problems, source)
  }
  const links = mirror.links
  if (links === undefined || links === null) return
  const mapping = expectMapping(links, 'mirror.links', problems, source)
  if (mapping === undefined) return
  for (const [name, raw] of Object.entries(mapping)) {
    const path = `mirror.links.${name}`
    if (!linkNamePattern.test(name)) {
      problems.add(path, name, 'a link name is 1 to 64 of A-Z a-z 0-9 _ -', source)
      continue
    }
    // `name:` with nothing after it is reported as a link without bootstrap.
    const settings = raw === null ? {} : expectMapping(raw, path, problems, source)
    if (settings !== undefined) layer.mirror.links[name] = readMirrorLink(settings, path, problems, source)
  }
}

export function readMirrorLink(
  settings: Record<string, unknown>,
  path: string,
  problems: Problems,
  source: string,
): LinkLayer {
  const link: LinkLayer = {}
  checkKeys(settings, `${path}.`, linkKeys, problems, source)
  applyChecks(settings, path, linkChecks, link, problems, source)
  if ('naming' in settings) {
    const naming = readNaming(settings.naming, `${path}.naming`, problems, source)
    if (naming !== undefined) link.naming = naming
  }
  if ('streams' in settings) {
    const streams = readStreamRules(settings.streams, `${path}.streams`, problems, source)
    if (streams !== undefined) link.streams = streams
  }
  if ('tls' in settings) {
    const tls = readMirrorTls(settings.tls, `${path}.tls`, problems, source)
    if (tls !== undefined) link.tls = tls
  }
  if ('sasl' in settings) {
    const sasl = readSasl(settings.sasl, `${path}.sasl`, problems, source)
    if (sasl !== undefined) link.sasl = sasl
  }
  if ('backoff' in settings && settings.backoff !== null) {
    const backoff = expectMapping(settings.backoff, `${path}.backoff`, problems, source)
    if (backoff !== undefined) {
      const target: Partial<BackoffConfig> = {}
      readSection(backoff, `${path}.backoff`, backoffChecks, target, problems, source)
      link.backoff = target
    }
  }
  return link
}

export function readNaming(raw: unknown, path: string, problems: Problems, source: string): NamingConfig | undefined {
  const naming = expectMapping(raw, path, problems, source)
  if (naming === undefined) return undefined
  checkKeys(naming, `${path}.`, ['policy', 'separator', 'topics'], problems, source)
  const { policy } = naming
  if (!isOneOf(namingPolicies, policy)) {
    problems.add(`${path}.policy`, policy, `must be one of ${namingPolicies.join(', ')}`, source)
    return undefined
  }
  const onlyWith = { separator: 'prefix', topics: 'map' } as const
  let ok = true
  for (const [key, owner] of Object.entries(onlyWith)) {
    if (key in naming && policy !== owner) {
      problems.add(`${path}.${key}`, naming[key], `only with policy ${owner}`, source)
      ok = false
    }
  }
  switch (policy) {
    case 'identity':
      return ok ? { policy } : undefined
    case 'prefix': {
      if (!('separator' in naming)) return ok ? { policy } : undefined
      // The replication policy checks its characters.
      const separator = nonEmptyString(naming.separator)
      if ('error' in separator) {
        problems.add(`${path}.separator`, naming.separator, separator.error, source)
        return undefined
      }
      return ok ? { policy, separator: separator.value } : undefined
    }
    case 'map': {
      if (!('topics' in naming)) {
        problems.add(`${path}.topics`, undefined, 'required with policy map: { STREAM: UPSTREAM_TOPIC, ... }', source)
        return undefined
      }
      const topics = expectMapping(naming.topics, `${path}.topics`, problems, source)
      if (topics === undefined) return undefined
      for (const [stream, topic] of Object.entries(topics)) {
        const topicPath = `${path}.topics.${stream}`
        if (!isValidStreamName(stream)) {
          problems.add(topicPath, stream, 'must be a stream name: 1 to 249 of A-Z a-z 0-9 . _ -', source)
          ok = false
        } else if (typeof topic !== 'string') {
          problems.add(topicPath, topic, 'must be an upstream topic name', source)
          ok = false
        }
      }
      return ok ? { policy, topics: topics as Record<string, string> } : undefined
    }
  }
}

export function readStreamRules(
  raw: unknown,
  path: string,
  problems: Problems,
  source: string,
): MirrorStreamRule[] | undefined {
  if (!Array.isArray(raw)) {
    problems.add(path, raw, 'must be a list of { match, policy, priority }', source)
    return undefined
  }
  const rules: MirrorStreamRule[] = []
  for (const [i, item] of raw.entries()) {
    const rulePath = `${path}[${i}]`
    const rule = expectMapping(item, rulePath, problems, source)
    if (rule === undefined) continue
    checkKeys(rule, `${rulePath}.`, ['match', 'policy', 'priority'], problems, source)
    const parsed: Partial<MirrorStreamRule> = { priority: 0 }
    applyChecks(
      rule,
      rulePath,
      { match: checkStreamPattern, policy: checkUnmirroredPolicy, priority: integerIn(-1_000_000, 1_000_000) },
      parsed,
      problems,
      source,
    )
    for (const key of ['match', 'policy'] as const) {
      if (!(key in rule)) {
        const what = key === 'match' ? 'a stream name or pattern with *' : 'block, evict or { holdThenEvict: MS }'
        problems.add(`${rulePath}.${key}`, undefined, `required: ${what}`, source)
      }
    }
    const { match, policy, priority } = parsed
    if (match !== undefined && policy !== undefined && priority !== undefined) rules.push({ match, policy, priority })
  }
  return rules.length === raw.length ? rules : undefined
}

export function checkUnmirroredPolicy(value: unknown): Checked<UnmirroredPolicy> {
  const error = 'must be block, evict or { holdThenEvict: MS } (keep unmirrored records at most MS milliseconds)'
  if (value === 'block' || value === 'evict') return { value: { kind: value } }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { error }
  const keys = Object.keys(value)
  const maxAgeMs = (value as Record<string, unknown>).holdThenEvict
  if (keys.length !== 1 || keys[0] !== 'holdThenEvict') return { error }
  const checked = positiveInteger(maxAgeMs)
  if ('error' in checked) return { error: `holdThenEvict ${checked.error} (milliseconds)` }
  return { value: { kind: 'hold-then-evict', maxAgeMs: checked.value } }
}

export function readMirrorTls(
  raw: unknown,
  path: string,
  problems: Problems,
  source: string,
): MirrorTlsOptions | null | undefined {
  const off = null
  const defaultsOn: MirrorTlsOptions = { caFile: null, certFile: null, keyFile: null, rejectUnauthorized: true }
  if (raw === null || raw === false) return off
  if (raw === true) return defaultsOn
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    problems.add(
      path,
      raw,
      'must be true, false or a mapping { caFile, certFile, keyFile, rejectUnauthorized }',
      source,
    )
    return undefined
  }
  const tls: Partial<MirrorTlsOptions> = {}
  readSection(raw as Record<string, unknown>, path, mirrorTlsChecks, tls, problems, source)
  const merged = { ...defaultsOn, ...tls }
  if ((merged.certFile === null) !== (merged.keyFile === null)) {
    const missing = merged.certFile === null ? 'certFile' : 'keyFile'
    problems.add(`${path}.${missing}`, null, 'certFile and keyFile go together (a client certificate)', source)
    return undefined
  }
  return merged
}

export function readSasl(
  raw: unknown,
  path: string,
  problems: Problems,
  source: string,
): MirrorSaslOptions | null | undefined {
  if (raw === null) return null
  const sasl = expectMapping(raw, path, problems, source)
  if (sasl === undefined) return undefined
  // A misspelt key may hold the password: never echo the values of this section.
  const redacted = '(redacted)'
  const known = ['mechanism', 'username', 'password']
  for (const key of Object.keys(sasl)) {
    if (known.includes(key)) continue
    const hint = suggest(key, known)
    const message = `unknown key${hint === undefined ? '' : `; did you mean "${hint}"?`} (known: ${known.join(', ')})`
    problems.add(`${path}.${key}`, redacted, message, source)
  }
  const mechanism = oneOf(saslMechanisms)(sasl.mechanism)
  const username = nonEmptyString(sasl.username)
  const password = nonEmptyString(sasl.password)
  if ('error' in mechanism) problems.add(`${path}.mechanism`, sasl.mechanism, mechanism.error, source)
  if ('error' in username) problems.add(`${path}.username`, sasl.username, username.error, source)
  if ('error' in password) problems.add(`${path}.password`, redacted, password.error, source)
  if ('error' in mechanism || 'error' in username || 'error' in password) return undefined
  return { mechanism: mechanism.value, username: username.value, password: password.value }
}

/**
 * Every declared link, complete: defaults filled in, alias and client id derived, and the naming and backoff
 * checked by the mirror's own code (so what would fail in the Mirror constructor fails here, before start).
 */
export function resolveMirrorLinks(
  gatewayId: string | null,
  declared: Readonly<Record<string, LinkLayer>>,
  problems: Problems,
  warnings: string[],
): Record<string, MirrorLinkOptions> {
  const links = nameMap<MirrorLinkOptions>()
  for (const [name, link] of Object.entries(declared)) {
    const path = `mirror.links.${name}`
    const { bootstrap } = link
    if (bootstrap === undefined && !problems.has(`${path}.bootstrap`)) {
      problems.add(`${path}.bootstrap`, undefined, 'required: the Kafka brokers, as ["HOST:PORT", ...]')
    }
    const gatewayAlias = link.gatewayAlias ?? gatewayId
    if (gatewayAlias === null || gatewayAlias === undefined) {
      if (!problems.has('mirror.gatewayId') && !problems.has(`${path}.gatewayAlias`)) {
        problems.add(
          'mirror.gatewayId',
          null,
          `required to mirror: the upstream topic prefix and provenance identity (or set ${path}.gatewayAlias)`,
        )
      }
      continue
    }
    const naming = link.naming ?? mirrorLinkDefaults.naming
    try {
      createReplicationPolicy(gatewayAlias, naming, path)
    } catch (err) {
      if (!(err instanceof ConfigErrors)) throw err
      for (const problem of err.problems) {
        if (link.gatewayAlias == null && problem.path === `${path}.gatewayAlias`) {
          // The alias is the gateway id: say so, at the setting to change.
          problems.add('mirror.gatewayId', gatewayAlias, `${bareMessage(problem)} (it is the gateway alias of ${path})`)
        } else {
          problems.addError(problem)
        }
      }
    }
    const backoff = { ...defaultBackoffConfig, ...link.backoff }
    try {
      new LinkBackoff({ clock: systemClock, config: backoff, path: `${path}.backoff` })
    } catch (err) {
      if (!(err instanceof ConfigErrors)) throw err
      for (const problem of err.problems) if (!problems.has(problem.path)) problems.addError(problem)
    }
    if (bootstrap === undefined) continue
    const resolved: MirrorLinkOptions = {
      ...structuredClone(mirrorLinkDefaults),
      ...link,
      bootstrap,
      gatewayAlias,
      clientId: link.clientId ?? `cairn-${gatewayAlias}`,
      backoff,
    }
    if (resolved.sasl?.mechanism === 'plain' && resolved.tls === null) {
      warnings.push(`${path}.sasl: mechanism plain without tls sends the password in clear text`)
    }
    links[name] = resolved
  }
  return links
}

/** The links as the Mirror takes them. */
export function mirrorLinkConfigs(mirror: MirrorOptions): MirrorLinkConfig[] {
  return Object.entries(mirror.links).map(([name, link]) => ({
    name,
    gatewayAlias: link.gatewayAlias,
    naming: link.naming,
    streams: link.streams,
    exclude: link.exclude,
    timestampMode: link.timestampMode,
    batchMaxRecords: link.batchMaxRecords,
    batchMaxBytes: link.batchMaxBytes,
    recoveryGraceMs: link.recoveryGraceMs,
    maxBytesPerSec: link.maxBytesPerSec,
    backoff: link.backoff,
    checkpointIntervalMs: link.checkpointIntervalMs,
    heartbeatIntervalMs: link.heartbeatIntervalMs,
    checkpointGroups: link.checkpointGroups,
  }))
}

/** A ConfigError's message without its "path: " prefix and " (got ...)" suffix. */
export function bareMessage(problem: ConfigError): string {
  return problem.message.slice(problem.path.length + 2).replace(/ \(got [^]*\)$/, '')
}

/** `kafka://HOST:PORT[,HOST:PORT...]`, the value of --mirror-to and CAIRN_MIRROR_TO. */
export function checkMirrorTo(value: string): Checked<string[]> {
  const form = 'kafka://HOST:PORT[,HOST:PORT...]'
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(value.trim())
  if (scheme === null) return { error: `must be ${form}` }
  if (scheme[1]?.toLowerCase() !== 'kafka') {
    return { error: `unsupported scheme "${scheme[1]}://": must be ${form}` }
  }
  const addresses = value
    .trim()
    .slice(scheme[0].length)
    .replace(/\/$/, '')
    .split(',')
    .map((a) => a.trim())
  const checked = checkBootstrap(addresses)
  return 'error' in checked ? { error: `must be ${form}: ${checked.error}` } : checked
}

export function checkBootstrap(value: unknown): Checked<string[]> {
  const error = 'must be a non-empty list of "HOST:PORT"'
  if (!Array.isArray(value) || value.length === 0) return { error }
  const bad = value.flatMap((address, i) => (isBrokerAddress(address) ? [] : [`[${i}] ${JSON.stringify(address)}`]))
  return bad.length === 0 ? { value: value as string[] } : { error: `${error}; not HOST:PORT: ${bad.join(', ')}` }
}

export function isBrokerAddress(value: unknown): value is string {
  if (typeof value !== 'string') return false
  const match = brokerAddressPattern.exec(value)
  const port = Number(match?.[1])
  return match !== null && port >= 1 && port <= 65535
}

export function checkBrokerAddressMap(value: unknown): Checked<Record<string, string>> {
  const error = 'must be a mapping { "HOST:PORT": "HOST:PORT" } (advertised broker address: address to dial)'
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { error }
  const bad = Object.entries(value).flatMap(([from, to]) =>
    isBrokerAddress(from) && isBrokerAddress(to) ? [] : [`${JSON.stringify(from)}: ${JSON.stringify(to)}`],
  )
  return bad.length === 0 ? { value: value as Record<string, string> } : { error: `${error}; bad: ${bad.join(', ')}` }
}

export function checkGatewayAlias(value: unknown): Checked<string> {
  // The replication policy owns the rule; ask it rather than copy it.
  try {
    if (typeof value !== 'string') throw new TypeError('not a string')
    createReplicationPolicy(value, { policy: 'identity' })
    return { value }
  } catch {
    return { error: 'must be 1 to 64 of A-Z a-z 0-9 _ -' }
  }
}

export function checkClientId(value: unknown): Checked<string> {
  return typeof value === 'string' && /^[\x21-\x7e]{1,255}$/.test(value)
    ? { value }
    : { error: 'must be 1 to 255 printable ASCII characters, no spaces' }
}

export function checkStreamPattern(value: unknown): Checked<string> {
  return typeof value === 'string' && streamPatternPattern.test(value)
    ? { value }
    : { error: 'must be a stream name, or a pattern with * (1 to 249 of A-Z a-z 0-9 . _ - *)' }
}

export function checkStreamPatterns(value: unknown): Checked<string[]> {
  const error = 'must be a list of stream names or patterns with *'
  if (!Array.isArray(value)) return { error }
  const bad = value.flatMap((pattern, i) =>
    'error' in checkStreamPattern(pattern) ? [`[${i}] ${JSON.stringify(pattern)}`] : [],
  )
  return bad.length === 0 ? { value: value as string[] } : { error: `${error}; bad: ${bad.join(', ')}` }
}
