// Gateway configuration: defaults < config file < environment < command-line flags.
//
// This is the only module that reads process.env, and only `loadConfig` does; everything else is a pure
// function of (file text, env object, argv) so tests need no files and no environment. Validation lives
// here too and reports every problem at once, each naming its dotted path, because a gateway is usually
// configured remotely and one round trip per typo is expensive.

import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import YAML from 'yaml'
import { ConfigError, ConfigErrors } from '../src/errors.ts'
import { defaultStreamConfig, maxPartitions, validateStreamName } from '../src/log/stream-config.ts'
import { cleanupPolicies, durabilities, type StreamConfig } from '../src/log/types.ts'

export const logLevels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const
export type LogLevel = (typeof logLevels)[number]

export const listenerNames = ['mqtt', 'native', 'http'] as const
export type ListenerName = (typeof listenerNames)[number]

export interface ListenAddress {
  /** null: every interface (Node picks `::` or `0.0.0.0`). */
  host: string | null
  /** 0 lets the OS choose (tests). */
  port: number
}

export type StreamDeclaration = Pick<
  StreamConfig,
  'partitions' | 'retentionMs' | 'retentionBytes' | 'cleanupPolicy' | 'durability'
>

export interface GatewayOptions {
  /** Relative paths resolve against the working directory, whichever source set them. */
  dataDir: string
  logLevel: LogLevel
  listeners: Record<ListenerName, ListenAddress>
  storage: {
    /** The log store's disk budget; null means none (retention settings alone bound the data). */
    maxDiskBytes: number | null
  }
  /** Streams created at start when missing; existing streams keep their stored settings. */
  streams: Record<string, StreamDeclaration>
}

/** Settings a declared stream gets for every field its declaration leaves out: the log store's own defaults. */
export const streamDefaults: StreamDeclaration = {
  partitions: defaultStreamConfig.partitions,
  retentionMs: defaultStreamConfig.retentionMs,
  retentionBytes: defaultStreamConfig.retentionBytes,
  cleanupPolicy: defaultStreamConfig.cleanupPolicy,
  durability: defaultStreamConfig.durability,
}

export const defaults: GatewayOptions = {
  dataDir: './cairn-data',
  logLevel: 'info',
  listeners: {
    mqtt: { host: null, port: 1883 },
    native: { host: null, port: 7883 },
    http: { host: null, port: 8080 },
  },
  storage: { maxDiskBytes: null },
  // The MQTT front end appends into `mqtt` unless a subject routes elsewhere, so it always exists.
  streams: { mqtt: { ...streamDefaults } },
}

/** Command-line flags that feed the configuration (strings as typed; validated with everything else). */
export interface Flags {
  config?: string
  dataDir?: string
  logLevel?: string
  mqtt?: string
  native?: string
  http?: string
}

export const commands = ['serve', 'version', 'help'] as const
export type Command = (typeof commands)[number]

export interface CommandLine {
  command: Command
  flags: Flags
}

/** Bad command-line usage (unknown flag, missing value, unknown command): exit code 2 with usage. */
export class UsageError extends Error {
  readonly code = 'CAIRN_USAGE'
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

const envVars = {
  CAIRN_DATA_DIR: 'dataDir',
  CAIRN_LOG_LEVEL: 'logLevel',
  CAIRN_MQTT: 'mqtt',
  CAIRN_NATIVE: 'native',
  CAIRN_HTTP: 'http',
} as const satisfies Record<string, keyof Flags>

const portOf = (a: ListenAddress) => (a.host === null ? String(a.port) : formatAddress(a))

// Defaults are read from `defaults`, so the help cannot drift from what the resolver does.
const optionRows: [string, string, string][] = [
  ['-c, --config FILE', 'YAML (or JSON) config file; see gateway/cairn.example.yaml', ''],
  ['    --data-dir DIR', `log store directory (default ${defaults.dataDir})`, 'CAIRN_DATA_DIR'],
  ['    --mqtt [HOST:]PORT', `MQTT listener (default ${portOf(defaults.listeners.mqtt)})`, 'CAIRN_MQTT'],
  [
    '    --native [HOST:]PORT',
    `native protocol listener (default ${portOf(defaults.listeners.native)})`,
    'CAIRN_NATIVE',
  ],
  ['    --http [HOST:]PORT', `HTTP listener (default ${portOf(defaults.listeners.http)})`, 'CAIRN_HTTP'],
  ['    --log-level LEVEL', `${logLevels.join('|')} (default ${defaults.logLevel})`, 'CAIRN_LOG_LEVEL'],
  ['-h, --help', 'print this help', ''],
  ['-v, --version', 'print the version', ''],
]

function formatOptionRow([flag, text, env]: [string, string, string]): string {
  return `  ${flag.padEnd(26)}${env === '' ? text : `${text.padEnd(58)}env ${env}`}`
}

export const usage = `Usage: cairn <command> [options]

Commands:
  serve    run the broker until SIGINT or SIGTERM
  version  print the version
  help     print this help

Options (precedence: defaults < config file < environment < flags):
${optionRows.map(formatOptionRow).join('\n')}

Exit codes: 0 clean shutdown, 1 runtime failure, 2 bad usage or configuration.
`

/** Parses argv (without the node and script paths). Throws UsageError. */
export function parseCommandLine(argv: readonly string[]): CommandLine {
  let parsed
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        'data-dir': { type: 'string' },
        'log-level': { type: 'string' },
        mqtt: { type: 'string' },
        native: { type: 'string' },
        http: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    })
  } catch (err) {
    // parseArgs' own messages name the flag ("Unknown option '--bogus'"); keep them, minus the advice about
    // positionals that start with '-', which cairn never takes.
    const message = err instanceof Error ? err.message : String(err)
    throw new UsageError(message.replace(/\. To specify a positional argument.*$/s, ''))
  }
  const { values, positionals } = parsed
  const flags: Flags = {}
  if (values.config !== undefined) flags.config = values.config
  if (values['data-dir'] !== undefined) flags.dataDir = values['data-dir']
  if (values['log-level'] !== undefined) flags.logLevel = values['log-level']
  if (values.mqtt !== undefined) flags.mqtt = values.mqtt
  if (values.native !== undefined) flags.native = values.native
  if (values.http !== undefined) flags.http = values.http

  if (values.help === true) return { command: 'help', flags }
  if (values.version === true) return { command: 'version', flags }
  const [command, ...rest] = positionals
  if (command === undefined) throw new UsageError('missing command (try "cairn serve")')
  if (!isOneOf(commands, command)) throw new UsageError(`unknown command "${command}"`)
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`)
  return { command, flags }
}

export interface ConfigSources {
  /** The config file's text and the name to show in messages. */
  file?: { name: string; text: string }
  env: Readonly<Record<string, string | undefined>>
  flags: Flags
}

export interface ResolvedConfig {
  options: GatewayOptions
  /** Suspicious but harmless findings (e.g. an unknown CAIRN_* variable), to log once a logger exists. */
  warnings: string[]
}

/** Reads the config file named by the flags and process.env, then resolves. Throws ConfigErrors. */
export function loadConfig(flags: Flags): ResolvedConfig {
  const sources: ConfigSources = { env: process.env, flags }
  if (flags.config !== undefined) {
    let text
    try {
      text = readFileSync(flags.config, 'utf8')
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err)
      throw new ConfigErrors([new ConfigError('config', flags.config, `cannot read the config file: ${reason}`)])
    }
    sources.file = { name: flags.config, text }
  }
  return resolveConfig(sources)
}

/** Pure: layers defaults, file, environment and flags, validating all of them. Throws ConfigErrors. */
export function resolveConfig(sources: ConfigSources): ResolvedConfig {
  const problems = new Problems()
  const warnings: string[] = []
  const layers: Layer[] = []
  if (sources.file !== undefined) layers.push(readFileLayer(sources.file, problems))
  layers.push(readEnvLayer(sources.env, problems, warnings))
  layers.push(readFlagLayer(sources.flags, problems))

  const options = structuredClone(defaults)
  for (const layer of layers) {
    if (layer.dataDir !== undefined) options.dataDir = layer.dataDir
    if (layer.logLevel !== undefined) options.logLevel = layer.logLevel
    for (const name of listenerNames) {
      const address = layer.listeners[name]
      if (address !== undefined) options.listeners[name] = address
    }
    if (layer.storage.maxDiskBytes !== undefined) options.storage.maxDiskBytes = layer.storage.maxDiskBytes
    for (const [name, declared] of Object.entries(layer.streams)) {
      options.streams[name] = { ...streamDefaults, ...options.streams[name], ...declared }
    }
  }
  checkListenerClashes(options, problems)
  problems.throwIfAny()
  return { options, warnings }
}

// One source's contribution: what it set, already validated.
interface Layer {
  dataDir?: string
  logLevel?: LogLevel
  listeners: Partial<Record<ListenerName, ListenAddress>>
  storage: { maxDiskBytes?: number | null }
  streams: Record<string, Partial<StreamDeclaration>>
}

const emptyLayer = (): Layer => ({ listeners: {}, storage: {}, streams: {} })

class Problems {
  readonly #errors: ConfigError[] = []

  add(path: string, value: unknown, message: string, source?: string): void {
    this.#errors.push(new ConfigError(path, value, source === undefined ? message : `${message}; from ${source}`))
  }

  throwIfAny(): void {
    if (this.#errors.length > 0) throw new ConfigErrors(this.#errors)
  }
}

type Checked<T> = { value: T } | { error: string }

function readFileLayer(file: { name: string; text: string }, problems: Problems): Layer {
  const layer = emptyLayer()
  const source = file.name
  const doc = YAML.parseDocument(file.text)
  if (doc.errors.length > 0) {
    const lines = file.text.split('\n')
    for (const e of doc.errors) {
      const line = e.linePos?.[0].line
      const excerpt = line === undefined ? undefined : lines[line - 1]
      problems.add(
        line === undefined ? '(file)' : `(line ${line})`,
        excerpt,
        (e.message.split('\n')[0] ?? e.code).replace(/:$/, ''),
        source,
      )
    }
    return layer
  }
  let root: unknown
  try {
    root = doc.toJS()
  } catch (err) {
    problems.add('(file)', undefined, err instanceof Error ? err.message : String(err), source)
    return layer
  }
  // An empty (or all-comment) file is a valid "use the defaults".
  if (root === null || root === undefined) return layer
  const top = expectMapping(root, '(root)', problems, source)
  if (top === undefined) return layer

  checkKeys(top, '', ['dataDir', 'logLevel', 'listeners', 'storage', 'streams'], problems, source)
  if ('dataDir' in top) assign(layer, 'dataDir', checkDataDir(top.dataDir), 'dataDir', top.dataDir, problems, source)
  if ('logLevel' in top) {
    assign(layer, 'logLevel', checkLogLevel(top.logLevel), 'logLevel', top.logLevel, problems, source)
  }

  const listeners = expectSection(top, 'listeners', problems, source)
  if (listeners !== undefined) {
    checkKeys(listeners, 'listeners.', listenerNames, problems, source)
    for (const name of listenerNames) {
      if (!(name in listeners)) continue
      const path = `listeners.${name}`
      assign(layer.listeners, name, checkListenAddress(listeners[name]), path, listeners[name], problems, source)
    }
  }

  const storage = expectSection(top, 'storage', problems, source)
  if (storage !== undefined) {
    checkKeys(storage, 'storage.', ['maxDiskBytes'], problems, source)
    if ('maxDiskBytes' in storage) {
      const value = storage.maxDiskBytes
      assign(
        layer.storage,
        'maxDiskBytes',
        nullable(positiveInteger)(value),
        'storage.maxDiskBytes',
        value,
        problems,
        source,
      )
    }
  }

  const streams = expectSection(top, 'streams', problems, source)
  if (streams !== undefined) {
    for (const [name, raw] of Object.entries(streams)) {
      const path = `streams.${name}`
      if (!isValidStreamName(name)) {
        problems.add(path, name, 'a stream name is 1 to 249 of A-Z a-z 0-9 . _ - (not "." or "..")', source)
        continue
      }
      // `name:` with nothing after it declares a stream with every default.
      const settings = raw === null ? {} : expectMapping(raw, path, problems, source)
      if (settings === undefined) continue
      layer.streams[name] = readStreamDeclaration(settings, path, problems, source)
    }
  }
  return layer
}

const streamChecks: { [K in keyof StreamDeclaration]: (value: unknown) => Checked<StreamDeclaration[K]> } = {
  partitions: (value) => {
    const checked = positiveInteger(value)
    if ('value' in checked && checked.value > maxPartitions) return { error: `must be at most ${maxPartitions}` }
    return checked
  },
  retentionMs: nullable(positiveInteger),
  retentionBytes: nullable(positiveInteger),
  cleanupPolicy: oneOf(cleanupPolicies),
  durability: oneOf(durabilities),
}

function readStreamDeclaration(
  settings: Record<string, unknown>,
  path: string,
  problems: Problems,
  source: string,
): Partial<StreamDeclaration> {
  const declaration: Partial<StreamDeclaration> = {}
  const keys = Object.keys(streamChecks) as (keyof StreamDeclaration)[]
  checkKeys(settings, `${path}.`, keys, problems, source)
  for (const key of keys) {
    if (!(key in settings)) continue
    const value = settings[key]
    // The generic assign cannot see that key and check belong together; each entry is typed above.
    assign(
      declaration as Record<string, unknown>,
      key,
      streamChecks[key](value),
      `${path}.${key}`,
      value,
      problems,
      source,
    )
  }
  return declaration
}

function readEnvLayer(env: ConfigSources['env'], problems: Problems, warnings: string[]): Layer {
  const layer = emptyLayer()
  for (const [name, value] of Object.entries(env)) {
    // An empty variable means unset, as shells and env files conventionally treat it.
    if (value === undefined || value === '') continue
    if (!name.startsWith('CAIRN_')) continue
    if (!(name in envVars)) {
      const hint = suggest(name, Object.keys(envVars))
      warnings.push(
        `ignoring unknown environment variable ${name}${hint === undefined ? '' : `; did you mean ${hint}?`}`,
      )
      continue
    }
    readStringSetting(layer, envVars[name as keyof typeof envVars], value, name, problems)
  }
  return layer
}

const flagNames = { dataDir: '--data-dir', logLevel: '--log-level', mqtt: '--mqtt', native: '--native', http: '--http' }

function readFlagLayer(flags: Flags, problems: Problems): Layer {
  const layer = emptyLayer()
  for (const key of Object.keys(flagNames) as (keyof typeof flagNames)[]) {
    const value = flags[key]
    if (value !== undefined) readStringSetting(layer, key, value, flagNames[key], problems)
  }
  return layer
}

// Environment variables and flags share one shape: a string for one top-level or listener setting.
function readStringSetting(
  layer: Layer,
  setting: Exclude<keyof Flags, 'config'>,
  value: string,
  source: string,
  problems: Problems,
): void {
  switch (setting) {
    case 'dataDir':
      assign(layer, 'dataDir', checkDataDir(value), 'dataDir', value, problems, source)
      return
    case 'logLevel':
      assign(layer, 'logLevel', checkLogLevel(value), 'logLevel', value, problems, source)
      return
    case 'mqtt':
    case 'native':
    case 'http':
      assign(layer.listeners, setting, checkListenAddress(value), `listeners.${setting}`, value, problems, source)
      return
  }
}

function checkListenerClashes(options: GatewayOptions, problems: Problems): void {
  for (const [i, a] of listenerNames.entries()) {
    for (const b of listenerNames.slice(i + 1)) {
      const x = options.listeners[a]
      const y = options.listeners[b]
      if (x.port === 0 || x.port !== y.port) continue
      if (x.host !== null && y.host !== null && x.host !== y.host) continue
      problems.add(`listeners.${b}`, formatAddress(y), `same port as listeners.${a} (${formatAddress(x)})`)
    }
  }
}

function assign<T extends object, K extends keyof T>(
  target: T,
  key: K,
  checked: Checked<T[K]>,
  path: string,
  raw: unknown,
  problems: Problems,
  source: string,
): void {
  if ('error' in checked) problems.add(path, raw, checked.error, source)
  else target[key] = checked.value
}

function checkKeys(
  mapping: Record<string, unknown>,
  prefix: string,
  known: readonly string[],
  problems: Problems,
  source: string,
): void {
  for (const key of Object.keys(mapping)) {
    if (known.includes(key)) continue
    const hint = suggest(key, known)
    const message = `unknown key${hint === undefined ? '' : `; did you mean "${hint}"?`} (known: ${known.join(', ')})`
    problems.add(`${prefix}${key}`, mapping[key], message, source)
  }
}

function expectMapping(
  value: unknown,
  path: string,
  problems: Problems,
  source: string,
): Record<string, unknown> | undefined {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>
  problems.add(path, value, 'must be a mapping', source)
  return undefined
}

// A section written with no body (`storage:`) is YAML null; treat it as empty rather than an error.
function expectSection(
  top: Record<string, unknown>,
  key: string,
  problems: Problems,
  source: string,
): Record<string, unknown> | undefined {
  const value = top[key]
  if (value === undefined || value === null) return undefined
  return expectMapping(value, key, problems, source)
}

function checkDataDir(value: unknown): Checked<string> {
  if (typeof value !== 'string' || value.trim() === '') return { error: 'must be a non-empty path' }
  return { value }
}

function checkLogLevel(value: unknown): Checked<LogLevel> {
  return oneOf(logLevels)(value)
}

/** Accepts a port number, "PORT", "HOST:PORT" or "[IPV6]:PORT". */
export function checkListenAddress(value: unknown): Checked<ListenAddress> {
  const error = 'must be [HOST:]PORT with PORT 0-65535 (IPv6 hosts in brackets)'
  if (typeof value === 'number') {
    return Number.isInteger(value) && value >= 0 && value <= 65535 ? { value: { host: null, port: value } } : { error }
  }
  if (typeof value !== 'string') return { error }
  const match = /^(?:(?:\[([^\]\s]+)\]|([^:\s[\]]+)):)?(\d{1,5})$/.exec(value.trim())
  if (match === null) return { error }
  const port = Number(match[3])
  if (port > 65535) return { error }
  return { value: { host: match[1] ?? match[2] ?? null, port } }
}

export function formatAddress({ host, port }: ListenAddress): string {
  if (host === null) return `*:${port}`
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

// The log store owns the rule; ask it rather than copy it.
function isValidStreamName(name: string): boolean {
  try {
    validateStreamName(name)
    return true
  } catch {
    return false
  }
}

function positiveInteger(value: unknown): Checked<number> {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0
    ? { value }
    : { error: 'must be a positive integer' }
}

function nullable<T>(check: (value: unknown) => Checked<T>): (value: unknown) => Checked<T | null> {
  return (value) => {
    if (value === null) return { value: null }
    const checked = check(value)
    return 'error' in checked ? { error: `${checked.error}, or null` } : checked
  }
}

function oneOf<const T extends string>(allowed: readonly T[]): (value: unknown) => Checked<T> {
  return (value) => (isOneOf(allowed, value) ? { value } : { error: `must be one of ${allowed.join(', ')}` })
}

function isOneOf<T extends string>(allowed: readonly T[], value: unknown): value is T {
  return typeof value === 'string' && (allowed as readonly string[]).includes(value)
}

// A near miss (edit distance ≤ 2, case-insensitive) is almost always a typo worth naming.
function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = 3
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase())
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return best
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1)
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution))
    }
    previous = current
  }
  return previous[b.length] ?? 0
}
