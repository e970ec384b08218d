// The command lines of the client tools (`cairn produce|consume|streams|groups|mirror`): argv in, a typed command out.
// Pure: no environment, no I/O; every bad argument is a UsageError naming it (exit code 2).

import { parseArgs, type ParseArgsConfig } from 'node:util'
import { resolveActions, type ResolveAction } from '../../src/mirror/partition-mirror.ts'
import { UsageError } from './usage-error.ts'

export const toolNames = ['produce', 'consume', 'streams', 'groups', 'mirror', 'status'] as const
export type ToolName = (typeof toolNames)[number]

export const defaultBroker = '127.0.0.1:7883'
export const defaultTimeoutMs = 5000
/** `cairn status`: how far apart its two samples are (rates). */
export const defaultSampleMs = 1000

/** Options every client command takes. */
export interface ToolGlobals {
  /** As typed (validated when resolved against CAIRN_BROKER); undefined: the variable, then the default. */
  broker: string | undefined
  /** Connect timeout (TCP connect + handshake). */
  timeoutMs: number
  json: boolean
}

/** A point in time: absolute (epoch ms), or a duration before the moment the command runs. */
export type TimeSpec = { at: number } | { ago: number }

export type StartSpec = { earliest: true } | { latest: true } | { offset: bigint } | { time: TimeSpec }
export type ResetSpec =
  { earliest: true } | { latest: true } | { time: TimeSpec } | { shift: bigint } | { offset: bigint }

/** Stream settings as the tools send them: -1 is "no limit" on the wire. */
export interface StreamCreateSettings {
  partitions?: number
  retentionMs?: number
  retentionBytes?: number
  cleanupPolicy?: 'delete' | 'compact'
  durability?: 'fsync' | 'os'
  subjects?: string[]
}

export type ToolCommand =
  | {
      name: 'produce'
      stream: string
      file: string | undefined
      keySeparator: string | undefined
      partition: number | undefined
      acks: 0 | 1 | -1
      headers: [string, string][]
    }
  | {
      name: 'consume'
      stream: string
      partitions: number[] | undefined
      start: StartSpec
      group: string | undefined
      maxRecords: number | undefined
      follow: boolean
      format: 'text' | 'json'
      output: string | undefined
    }
  | { name: 'streams list' }
  | { name: 'streams create'; stream: string; settings: StreamCreateSettings }
  | { name: 'streams describe'; stream: string }
  | { name: 'streams delete'; stream: string; yes: boolean }
  | { name: 'groups list' }
  | { name: 'groups describe'; group: string }
  | {
      name: 'groups reset-offsets'
      group: string
      stream: string
      partitions: number[] | undefined
      to: ResetSpec
      dryRun: boolean
    }
  | { name: 'mirror status' }
  | {
      name: 'mirror translate'
      stream: string
      partition: number
      /** Local for to-upstream, upstream for to-local. */
      offset: bigint
      kind: 'record' | 'position'
      direction: 'to-upstream' | 'to-local'
      link: string | undefined
    }
  | { name: 'mirror resolve'; stream: string; partition: number; action: ResolveAction; link: string | undefined }
  /** Over HTTP, not the native protocol: `http` as typed (resolved with CAIRN_HTTP in status.ts). */
  | { name: 'status'; http: string | undefined; sampleMs: number }

export interface ToolCommandLine {
  globals: ToolGlobals
  command: ToolCommand
}

type Options = NonNullable<ParseArgsConfig['options']>

const globalOptions: Options = {
  broker: { type: 'string' },
  'timeout-ms': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
}

// Options that take a value, by name, so the command word can be found after leading global options.
const globalsWithValue = new Set(['--broker', '--timeout-ms'])

export function isToolName(word: string | undefined): word is ToolName {
  return (toolNames as readonly (string | undefined)[]).includes(word)
}

/**
 * The client tool named in argv, if any: the first word, or the first word after client global options
 * (`cairn --broker h:1 streams list`). undefined for everything else (serve, version, help, typos).
 */
export function findTool(argv: readonly string[]): ToolName | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (isToolName(arg)) return arg
    if (globalsWithValue.has(arg)) i++
    else if (arg === '--json' || [...globalsWithValue].some((flag) => arg.startsWith(`${flag}=`))) continue
    else return undefined
  }
  return undefined
}

/** Parses a client command line (argv without node and script). Returns 'help' for --help. Throws UsageError. */
export function parseToolCommandLine(argv: readonly string[]): ToolCommandLine | 'help' {
  const tool = findTool(argv)
  if (tool === undefined) throw new UsageError('not a client command')
  const rest = [...argv]
  rest.splice(rest.indexOf(tool), 1)
  switch (tool) {
    case 'produce':
      return parseProduce(rest)
    case 'consume':
      return parseConsume(rest)
    case 'streams':
      return parseStreams(rest)
    case 'groups':
      return parseGroups(rest)
    case 'mirror':
      return parseMirror(rest)
    case 'status':
      return parseStatus(rest)
  }
}

function parseStatus(argv: readonly string[]): ToolCommandLine | 'help' {
  const parsed = parse(argv, { http: { type: 'string' }, 'sample-ms': { type: 'string' } })
  if (parsed === 'help') return 'help'
  positionals(parsed, [], 'status')
  if (parsed.globals.broker !== undefined) {
    throw new UsageError('status reads the HTTP API: give its address with --http [HOST:]PORT, not --broker')
  }
  const sample = str(parsed.values, 'sample-ms')
  const sampleMs = sample === undefined ? defaultSampleMs : nonNegativeInteger(sample, '--sample-ms')
  return { globals: parsed.globals, command: { name: 'status', http: str(parsed.values, 'http'), sampleMs } }
}

interface Parsed {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>
  positionals: string[]
  globals: ToolGlobals
}

function parse(argv: readonly string[], options: Options): Parsed | 'help' {
  let parsed
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: true,
      options: { ...globalOptions, ...options },
    })
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    throw new UsageError(message.replace(/\. To specify a positional argument.*$/s, ''))
  }
  const values = parsed.values as Parsed['values']
  if (values.help === true) return 'help'
  const timeout = values['timeout-ms']
  const globals: ToolGlobals = {
    broker: typeof values.broker === 'string' ? values.broker : undefined,
    timeoutMs: typeof timeout === 'string' ? positiveInteger(timeout, '--timeout-ms') : defaultTimeoutMs,
    json: values.json === true,
  }
  return { values, positionals: parsed.positionals, globals }
}

const str = (values: Parsed['values'], name: string): string | undefined => {
  const value = values[name]
  return typeof value === 'string' ? value : undefined
}

const strings = (values: Parsed['values'], name: string): string[] => {
  const value = values[name]
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []
}

function positionals(parsed: Parsed, names: readonly string[], command: string): string[] {
  const { positionals: given } = parsed
  if (given.length < names.length) throw new UsageError(`${command}: missing ${names[given.length]}`)
  if (given.length > names.length) throw new UsageError(`${command}: unexpected argument "${given[names.length]}"`)
  return given
}

function parseProduce(argv: readonly string[]): ToolCommandLine | 'help' {
  const parsed = parse(argv, {
    file: { type: 'string' },
    'key-separator': { type: 'string' },
    partition: { type: 'string' },
    acks: { type: 'string' },
    header: { type: 'string', multiple: true },
  })
  if (parsed === 'help') return 'help'
  const [stream] = positionals(parsed, ['STREAM'], 'produce') as [string]
  const { values } = parsed
  const separator = str(values, 'key-separator')
  if (separator === '') throw new UsageError('--key-separator must not be empty')
  const acksText = str(values, 'acks') ?? 'all'
  const acks = ({ '0': 0, '1': 1, all: -1, '-1': -1 } as const)[acksText]
  if (acks === undefined) throw new UsageError(`--acks must be 0, 1 or all (got "${acksText}")`)
  const headers = strings(values, 'header').map((header): [string, string] => {
    const eq = header.indexOf('=')
    if (eq <= 0) throw new UsageError(`--header must be NAME=VALUE (got "${header}")`)
    return [header.slice(0, eq), header.slice(eq + 1)]
  })
  const partition = str(values, 'partition')
  return {
    globals: parsed.globals,
    command: {
      name: 'produce',
      stream,
      file: str(values, 'file'),
      keySeparator: separator,
      partition: partition === undefined ? undefined : nonNegativeInteger(partition, '--partition'),
      acks,
      headers,
    },
  }
}

function parseConsume(argv: readonly string[]): ToolCommandLine | 'help' {
  const parsed = parse(argv, {
    partition: { type: 'string', multiple: true },
    offset: { type: 'string' },
    from: { type: 'string' },
    group: { type: 'string' },
    'max-records': { type: 'string' },
    follow: { type: 'boolean', short: 'f' },
    format: { type: 'string' },
    output: { type: 'string', short: 'o' },
  })
  if (parsed === 'help') return 'help'
  const [stream] = positionals(parsed, ['STREAM'], 'consume') as [string]
  const { values } = parsed
  const offset = str(values, 'offset')
  const from = str(values, 'from')
  const group = str(values, 'group')
  if (offset !== undefined && from !== undefined) throw new UsageError('give --offset or --from, not both')
  let start: StartSpec = { earliest: true }
  if (offset === 'earliest') start = { earliest: true }
  else if (offset === 'latest') start = { latest: true }
  else if (offset !== undefined)
    start = { offset: parseOffset(offset, '--offset', 'a non-negative offset, earliest or latest') }
  else if (from !== undefined) start = { time: parseTimeSpec(from, '--from') }
  const partitions = strings(values, 'partition').map((p) => nonNegativeInteger(p, '--partition'))
  if (group !== undefined) {
    // A group member reads what the group assigns it, from the group's committed offsets.
    if (partitions.length > 0) throw new UsageError('--partition cannot be used with --group (the group assigns them)')
    if ('offset' in start || 'time' in start) {
      throw new UsageError(
        '--group starts at the committed offsets (--offset earliest|latest applies where none is committed); ' +
          'move them with "cairn groups reset-offsets"',
      )
    }
    if (group === '') throw new UsageError('--group must not be empty')
  }
  const format = str(values, 'format') ?? (parsed.globals.json ? 'json' : 'text')
  if (format !== 'text' && format !== 'json') throw new UsageError(`--format must be text or json (got "${format}")`)
  const maxRecords = str(values, 'max-records')
  return {
    globals: parsed.globals,
    command: {
      name: 'consume',
      stream,
      partitions: partitions.length === 0 ? undefined : [...new Set(partitions)].sort((a, b) => a - b),
      start,
      group,
      maxRecords: maxRecords === undefined ? undefined : positiveInteger(maxRecords, '--max-records'),
      follow: values.follow === true,
      format,
      output: str(values, 'output'),
    },
  }
}

const streamsCommands = ['list', 'create', 'describe', 'delete'] as const

function parseStreams(argv: readonly string[]): ToolCommandLine | 'help' {
  const parsed = parse(argv, {
    partitions: { type: 'string' },
    retention: { type: 'string' },
    'retention-bytes': { type: 'string' },
    cleanup: { type: 'string' },
    durability: { type: 'string' },
    subject: { type: 'string', multiple: true },
    yes: { type: 'boolean', short: 'y' },
  })
  if (parsed === 'help') return 'help'
  const { values, globals } = parsed
  const [sub, ...args] = parsed.positionals
  if (sub === undefined) throw new UsageError(`streams: missing command (${streamsCommands.join(', ')})`)
  const only = (allowed: readonly string[]) => {
    for (const flag of ['partitions', 'retention', 'retention-bytes', 'cleanup', 'durability', 'subject', 'yes']) {
      if (values[flag] !== undefined && !allowed.includes(flag))
        throw new UsageError(`streams ${sub}: --${flag} does not apply`)
    }
  }
  const rest = { ...parsed, positionals: args }
  switch (sub) {
    case 'list':
      only([])
      positionals(rest, [], 'streams list')
      return { globals, command: { name: 'streams list' } }
    case 'describe': {
      only([])
      const [stream] = positionals(rest, ['NAME'], 'streams describe') as [string]
      return { globals, command: { name: 'streams describe', stream } }
    }
    case 'delete': {
      only(['yes'])
      const [stream] = positionals(rest, ['NAME'], 'streams delete') as [string]
      return { globals, command: { name: 'streams delete', stream, yes: values.yes === true } }
    }
    case 'create': {
      const [stream] = positionals(rest, ['NAME'], 'streams create') as [string]
      const settings: StreamCreateSettings = {}
      const partitions = str(values, 'partitions')
      if (partitions !== undefined) settings.partitions = positiveInteger(partitions, '--partitions')
      const retention = str(values, 'retention')
      if (retention !== undefined)
        settings.retentionMs = isNone(retention) ? -1 : parseDuration(retention, '--retention')
      const retentionBytes = str(values, 'retention-bytes')
      if (retentionBytes !== undefined) {
        settings.retentionBytes = isNone(retentionBytes) ? -1 : parseByteSize(retentionBytes, '--retention-bytes')
      }
      const cleanup = str(values, 'cleanup')
      if (cleanup !== undefined) {
        if (cleanup !== 'delete' && cleanup !== 'compact') {
          throw new UsageError(`--cleanup must be delete or compact (got "${cleanup}")`)
        }
        settings.cleanupPolicy = cleanup
      }
      const durability = str(values, 'durability')
      if (durability !== undefined) {
        if (durability !== 'fsync' && durability !== 'os') {
          throw new UsageError(`--durability must be fsync or os (got "${durability}")`)
        }
        settings.durability = durability
      }
      const subjects = strings(values, 'subject')
      if (subjects.length > 0) settings.subjects = subjects
      only(['partitions', 'retention', 'retention-bytes', 'cleanup', 'durability', 'subject'])
      return { globals, command: { name: 'streams create', stream, settings } }
    }
    default:
      throw new UsageError(`streams: unknown command "${sub}" (${streamsCommands.join(', ')})`)
  }
}

const groupsCommands = ['list', 'describe', 'reset-offsets'] as const
const resetModes = ['to-earliest', 'to-latest', 'to-time', 'shift-by', 'to-offset'] as const

function parseGroups(argv: readonly string[]): ToolCommandLine | 'help' {
  const parsed = parse(argv, {
    stream: { type: 'string' },
    partition: { type: 'string', multiple: true },
    'to-earliest': { type: 'boolean' },
    'to-latest': { type: 'boolean' },
    'to-time': { type: 'string' },
    'shift-by': { type: 'string' },
    'to-offset': { type: 'string' },
    'dry-run': { type: 'boolean' },
  })
  if (parsed === 'help') return 'help'
  const { values, globals } = parsed
  const [sub, ...args] = parsed.positionals
  if (sub === undefined) throw new UsageError(`groups: missing command (${groupsCommands.join(', ')})`)
  const rest = { ...parsed, positionals: args }
  const resetFlags = ['stream', 'partition', ...resetModes, 'dry-run']
  if (sub !== 'reset-offsets') {
    const misplaced = resetFlags.find((flag) => values[flag] !== undefined)
    if (misplaced !== undefined) throw new UsageError(`groups ${sub}: --${misplaced} does not apply`)
  }
  switch (sub) {
    case 'list':
      positionals(rest, [], 'groups list')
      return { globals, command: { name: 'groups list' } }
    case 'describe': {
      const [group] = positionals(rest, ['GROUP'], 'groups describe') as [string]
      return { globals, command: { name: 'groups describe', group } }
    }
    case 'reset-offsets': {
      const [group] = positionals(rest, ['GROUP'], 'groups reset-offsets') as [string]
      const stream = str(values, 'stream')
      if (stream === undefined) throw new UsageError('groups reset-offsets: --stream is required')
      const modes = resetModes.filter((mode) => values[mode] !== undefined)
      if (modes.length !== 1) {
        throw new UsageError(
          `groups reset-offsets: give exactly one of ${resetModes.map((m) => `--${m}`).join(', ')}` +
            (modes.length > 1 ? ` (got ${modes.map((m) => `--${m}`).join(' and ')})` : ''),
        )
      }
      const mode = modes[0] as (typeof resetModes)[number]
      const text = str(values, mode) ?? ''
      const to: ResetSpec =
        mode === 'to-earliest'
          ? { earliest: true }
          : mode === 'to-latest'
            ? { latest: true }
            : mode === 'to-time'
              ? { time: parseTimeSpec(text, '--to-time') }
              : mode === 'shift-by'
                ? { shift: parseShift(text) }
                : { offset: parseOffset(text, '--to-offset', 'a non-negative offset') }
      const partitions = strings(values, 'partition').map((p) => nonNegativeInteger(p, '--partition'))
      return {
        globals,
        command: {
          name: 'groups reset-offsets',
          group,
          stream,
          partitions: partitions.length === 0 ? undefined : [...new Set(partitions)].sort((a, b) => a - b),
          to,
          dryRun: values['dry-run'] === true,
        },
      }
    }
    default:
      throw new UsageError(`groups: unknown command "${sub}" (${groupsCommands.join(', ')})`)
  }
}

const mirrorCommands = ['status', 'translate', 'resolve'] as const

function parseMirror(argv: readonly string[]): ToolCommandLine | 'help' {
  const parsed = parse(argv, {
    'to-local': { type: 'boolean' },
    position: { type: 'boolean' },
    link: { type: 'string' },
  })
  if (parsed === 'help') return 'help'
  const { values, globals } = parsed
  const [sub, ...args] = parsed.positionals
  if (sub === undefined) throw new UsageError(`mirror: missing command (${mirrorCommands.join(', ')})`)
  const rest = { ...parsed, positionals: args }
  switch (sub) {
    case 'status': {
      const misplaced = ['to-local', 'position', 'link'].find((flag) => values[flag] !== undefined)
      if (misplaced !== undefined) throw new UsageError(`mirror status: --${misplaced} does not apply`)
      positionals(rest, [], 'mirror status')
      return { globals, command: { name: 'mirror status' } }
    }
    case 'translate': {
      const [stream, partition, offset] = positionals(rest, ['STREAM', 'PARTITION', 'OFFSET'], 'mirror translate') as [
        string,
        string,
        string,
      ]
      const link = str(values, 'link')
      if (link === '') throw new UsageError('--link must not be empty')
      return {
        globals,
        command: {
          name: 'mirror translate',
          stream,
          partition: nonNegativeInteger(partition, 'PARTITION'),
          offset: parseOffset(offset, 'OFFSET', 'a non-negative offset'),
          kind: values.position === true ? 'position' : 'record',
          direction: values['to-local'] === true ? 'to-local' : 'to-upstream',
          link,
        },
      }
    }
    case 'resolve': {
      const misplaced = ['to-local', 'position'].find((flag) => values[flag] !== undefined)
      if (misplaced !== undefined) throw new UsageError(`mirror resolve: --${misplaced} does not apply`)
      const [stream, partition, action] = positionals(rest, ['STREAM', 'PARTITION', 'ACTION'], 'mirror resolve') as [
        string,
        string,
        string,
      ]
      if (!(resolveActions as readonly string[]).includes(action)) {
        throw new UsageError(`ACTION must be ${resolveActions.join(', ')} (got "${action}")`)
      }
      const link = str(values, 'link')
      if (link === '') throw new UsageError('--link must not be empty')
      const command = {
        name: 'mirror resolve' as const,
        stream,
        partition: nonNegativeInteger(partition, 'PARTITION'),
        action: action as ResolveAction,
        link,
      }
      return { globals, command }
    }
    default:
      throw new UsageError(`mirror: unknown command "${sub}" (${mirrorCommands.join(', ')})`)
  }
}

// ---- value parsers (exported for the tests and for CAIRN_BROKER) ----

const isNone = (text: string) => text === 'none' || text === 'forever' || text === 'unlimited'

export function nonNegativeInteger(text: string, flag: string): number {
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`${flag} must be a non-negative integer (got "${text}")`)
  }
  return Number(text)
}

export function positiveInteger(text: string, flag: string): number {
  const n = nonNegativeInteger(text, flag)
  if (n === 0) throw new UsageError(`${flag} must be a positive integer (got "${text}")`)
  return n
}

const maxOffset = (1n << 63n) - 1n

function parseOffset(text: string, flag: string, what: string): bigint {
  if (!/^\d+$/.test(text) || BigInt(text) > maxOffset) throw new UsageError(`${flag} must be ${what} (got "${text}")`)
  return BigInt(text)
}

function parseShift(text: string): bigint {
  if (!/^[+-]?\d+$/.test(text) || BigInt(text) > maxOffset || BigInt(text) < -maxOffset) {
    throw new UsageError(`--shift-by must be an integer, e.g. -10 or 5 (got "${text}"; write --shift-by=-10)`)
  }
  return BigInt(text)
}

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }

/** `90s`, `15m`, `2h`, `1d`, `1w`, `500ms`, or combined `1h30m`. */
export function parseDuration(text: string, flag: string): number {
  const trimmed = text.trim()
  if (!/^(\d+(ms|s|m|h|d|w))+$/.test(trimmed)) {
    throw new UsageError(`${flag} must be a duration such as 90s, 15m, 2h, 7d or 1h30m (got "${text}")`)
  }
  let ms = 0
  for (const [, amount, unit] of trimmed.matchAll(/(\d+)(ms|s|m|h|d|w)/g)) {
    ms += Number(amount) * (durationUnits[unit as string] ?? 0)
  }
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new UsageError(`${flag} must be a positive duration (got "${text}")`)
  return ms
}

/**
 * A time: ISO 8601 (`2026-11-21T10:00:00Z`, `2026-11-21`), epoch milliseconds (`1795000000000`), or a
 * duration ago (`15m`, `2h`, `1d`; a leading `-` is allowed, as in MQTT replay).
 */
export function parseTimeSpec(text: string, flag: string): TimeSpec {
  const trimmed = text.trim()
  if (/^\d+$/.test(trimmed)) return { at: Number(trimmed) }
  if (/^-?(\d+(ms|s|m|h|d|w))+$/.test(trimmed)) return { ago: parseDuration(trimmed.replace(/^-/, ''), flag) }
  if (/^\d{4}-\d{2}-\d{2}/.test(trimmed)) {
    const ms = Date.parse(trimmed)
    if (Number.isFinite(ms) && ms >= 0) return { at: ms }
  }
  throw new UsageError(
    `${flag} must be an ISO time (2026-11-21T10:00:00Z), epoch milliseconds, or a duration ago (15m, 2h, 1d) (got "${text}")`,
  )
}

export function resolveTime(spec: TimeSpec, nowMs: number): number {
  return 'at' in spec ? spec.at : Math.max(0, nowMs - spec.ago)
}

const byteUnits: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1000,
  kb: 1000,
  kib: 1024,
  m: 1000 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1000 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1000 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
}

/** `1000000`, `512MiB`, `1.5GB`, `64k`. */
export function parseByteSize(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(text.trim())
  const unit = byteUnits[(match?.[2] ?? 'x').toLowerCase()]
  const bytes = match === null || unit === undefined ? NaN : Math.round(Number(match[1]) * unit)
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new UsageError(`${flag} must be a size in bytes such as 1000000, 512MiB or 2GB, or none (got "${text}")`)
  }
  return bytes
}

/** `HOST:PORT`, `[IPV6]:PORT`, `HOST` (port 7883) or `PORT` (127.0.0.1). Throws UsageError naming `source`. */
export function parseBroker(text: string, source: string): { host: string; port: number } {
  const error = () =>
    new UsageError(`${source} must be HOST:PORT (IPv6 hosts in brackets), e.g. ${defaultBroker} (got "${text}")`)
  const trimmed = text.trim()
  const match = /^(?:\[([^\]\s]+)\]|([^:\s[\]]+))?(?::(\d{1,5}))?$/.exec(trimmed)
  if (match === null || trimmed === '') throw error()
  const host = match[1] ?? match[2]
  const portText = match[3]
  // A bare number is a port on this machine.
  if (host !== undefined && /^\d+$/.test(host) && portText === undefined) return checkPort('127.0.0.1', host)
  if (host === undefined) throw error()
  return checkPort(host, portText ?? '7883')

  function checkPort(h: string, p: string) {
    const port = Number(p)
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw error()
    return { host: h, port }
  }
}
