// Gateway configuration: defaults < config file < environment < command-line flags.
//
// This is the only module that reads process.env, and only `loadConfig` does; everything else is a pure
// function of (file text, env object, argv) so tests need no files and no environment. Validation lives
// here too and reports every problem at once, each naming its dotted path, because a gateway is usually
// configured remotely and one round trip per typo is expensive.

import { createPrivateKey, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createSecureContext } from 'node:tls'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import YAML from 'yaml'
import { ConfigError, ConfigErrors } from '../src/errors.ts'
import { defaultStreamConfig, maxPartitions, validateStreamName } from '../src/log/stream-config.ts'
import { cleanupPolicies, durabilities, type StreamConfig } from '../src/log/types.ts'
import { defaultMqttOptions, type MqttOptions } from '../src/mqtt/options.ts'
import { maxTopicBytes, parseSharedSubscription, validateTopicFilter } from '../src/topics/topics.ts'
import { findTool, parseToolCommandLine, type ToolCommandLine } from './tools/args.ts'
import { clientCommandsHelp, clientUsage } from './tools/help.ts'
import { UsageError } from './tools/usage-error.ts'

export const logLevels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const
export type LogLevel = (typeof logLevels)[number]

/** MQTT over TCP, over TLS and over WebSocket; the native protocol; the HTTP API. */
export const listenerNames = ['mqtt', 'mqttTls', 'mqttWs', 'native', 'http'] as const
export type ListenerName = (typeof listenerNames)[number]

export interface ListenAddress {
  /** null: every interface (Node picks `::` or `0.0.0.0`). */
  host: string | null
  /** 0 lets the OS choose (tests). */
  port: number
}

export const tlsVersions = ['TLSv1.2', 'TLSv1.3'] as const
export type TlsVersion = (typeof tlsVersions)[number]

export interface TlsOptions {
  /** PEM certificate (chain) the TLS listeners present; required once one is on. */
  certFile: string | null
  /** PEM private key of that certificate, unencrypted. */
  keyFile: string | null
  /** Extra PEM CA certificates sent to complete the chain; null: none. */
  caFile: string | null
  minVersion: TlsVersion
}

export type StreamDeclaration = Pick<
  StreamConfig,
  'partitions' | 'retentionMs' | 'retentionBytes' | 'cleanupPolicy' | 'durability' | 'subjects'
>

export interface GatewayOptions {
  /** Relative paths resolve against the working directory, whichever source set them. */
  dataDir: string
  logLevel: LogLevel
  /** null: the listener is off. */
  listeners: Record<ListenerName, ListenAddress | null>
  /** Relative paths resolve against the working directory, as for dataDir. */
  tls: TlsOptions
  /** The MQTT front end's limits and behaviour, shared by its three listeners. */
  mqtt: MqttOptions
  storage: {
    /** The log store's disk budget; null means none (retention settings alone bound the data). */
    maxDiskBytes: number | null
  }
  /** Streams created at start when missing; existing streams keep their stored settings except subjects. */
  streams: Record<string, StreamDeclaration>
}

/** Settings a declared stream gets for every field its declaration leaves out: the log store's own defaults. */
export const streamDefaults: StreamDeclaration = {
  partitions: defaultStreamConfig.partitions,
  retentionMs: defaultStreamConfig.retentionMs,
  retentionBytes: defaultStreamConfig.retentionBytes,
  cleanupPolicy: defaultStreamConfig.cleanupPolicy,
  durability: defaultStreamConfig.durability,
  subjects: [...defaultStreamConfig.subjects],
}

export const defaults: GatewayOptions = {
  dataDir: './cairn-data',
  logLevel: 'info',
  listeners: {
    mqtt: { host: null, port: 1883 },
    mqttTls: null,
    mqttWs: null,
    native: { host: null, port: 7883 },
    http: { host: null, port: 8080 },
  },
  tls: { certFile: null, keyFile: null, caFile: null, minVersion: 'TLSv1.2' },
  mqtt: { ...defaultMqttOptions },
  storage: { maxDiskBytes: null },
  // The MQTT front end's session stream: it takes every publish (subject `#`), so that persistent sessions
  // find what they missed and replay can read it.
  streams: { mqtt: { ...streamDefaults, subjects: ['#'] } },
}

/** Command-line flags that feed the configuration (strings as typed; validated with everything else). */
export interface Flags {
  config?: string
  dataDir?: string
  logLevel?: string
  mqtt?: string
  mqttTls?: string
  mqttWs?: string
  native?: string
  http?: string
  tlsCert?: string
  tlsKey?: string
  tlsCa?: string
}

type StringSetting = Exclude<keyof Flags, 'config'>

export const commands = ['serve', 'version', 'help'] as const
export type Command = (typeof commands)[number]

/** `serve`, `version` or `help`; or a client command (`produce`, `consume`, `streams`, `groups`) as `tool`. */
export type CommandLine = { command: Command; flags: Flags } | { command: 'tool'; flags: Flags; tool: ToolCommandLine }

export { UsageError }

const envVars = {
  CAIRN_DATA_DIR: 'dataDir',
  CAIRN_LOG_LEVEL: 'logLevel',
  CAIRN_MQTT: 'mqtt',
  CAIRN_MQTT_TLS: 'mqttTls',
  CAIRN_MQTT_WS: 'mqttWs',
  CAIRN_NATIVE: 'native',
  CAIRN_HTTP: 'http',
  CAIRN_TLS_CERT: 'tlsCert',
  CAIRN_TLS_KEY: 'tlsKey',
  CAIRN_TLS_CA: 'tlsCa',
} as const satisfies Record<string, StringSetting>

const flagNames = {
  dataDir: '--data-dir',
  logLevel: '--log-level',
  mqtt: '--mqtt',
  mqttTls: '--mqtt-tls',
  mqttWs: '--mqtt-ws',
  native: '--native',
  http: '--http',
  tlsCert: '--tls-cert',
  tlsKey: '--tls-key',
  tlsCa: '--tls-ca',
} as const satisfies Record<StringSetting, string>

const envOf = (setting: StringSetting): string => Object.entries(envVars).find(([, key]) => key === setting)?.[0] ?? ''

const addressOf = (a: ListenAddress | null) => {
  if (a === null) return 'off'
  return a.host === null ? String(a.port) : formatAddress(a)
}

// Defaults are read from `defaults`, so the help cannot drift from what the resolver does.
const settingHelp: Record<StringSetting, [argument: string, text: string]> = {
  dataDir: ['DIR', `log store directory (default ${defaults.dataDir})`],
  mqtt: ['[HOST:]PORT', `MQTT over TCP listener (default ${addressOf(defaults.listeners.mqtt)})`],
  mqttTls: ['[HOST:]PORT', `MQTT over TLS listener (default ${addressOf(defaults.listeners.mqttTls)})`],
  mqttWs: ['[HOST:]PORT', `MQTT over WebSocket listener, path /mqtt (default ${addressOf(defaults.listeners.mqttWs)})`],
  native: ['[HOST:]PORT', `native protocol listener (default ${addressOf(defaults.listeners.native)})`],
  http: ['[HOST:]PORT', `HTTP listener (default ${addressOf(defaults.listeners.http)})`],
  tlsCert: ['FILE', 'PEM certificate for the TLS listeners'],
  tlsKey: ['FILE', 'PEM private key for the TLS listeners'],
  tlsCa: ['FILE', 'PEM CA certificates sent with the certificate'],
  logLevel: ['LEVEL', `${logLevels.join('|')} (default ${defaults.logLevel})`],
}

const optionRows: [string, string, string][] = [
  ['-c, --config FILE', 'YAML (or JSON) config file; see gateway/cairn.example.yaml', ''],
  ...(Object.entries(settingHelp) as [StringSetting, [string, string]][]).map(
    ([setting, [argument, text]]): [string, string, string] => [
      `    ${flagNames[setting]} ${argument}`,
      text,
      envOf(setting),
    ],
  ),
  ['-h, --help', 'print this help', ''],
  ['-v, --version', 'print the version', ''],
]

function formatOptionRow([flag, text, env]: [string, string, string]): string {
  return `  ${flag.padEnd(28)}${env === '' ? text : `${text.padEnd(62)}env ${env}`}`
}

export const usage = `Usage: cairn <command> [options]

Commands:
  serve    run the broker until SIGINT or SIGTERM
${clientCommandsHelp}
  version  print the version
  help     print this help

Options of serve (precedence: defaults < config file < environment < flags):
${optionRows.map(formatOptionRow).join('\n')}

A listener given as "off" is not served. Every other setting is in the config file.

${clientUsage}

Exit codes: 0 clean shutdown (serve) or success, 1 runtime failure (a broker error prints "cairn: CAIRN_CODE: message",
an unreachable broker names its address), 2 bad usage or configuration.
`

const parseArgsOptions: NonNullable<ParseArgsConfig['options']> = {
  config: { type: 'string', short: 'c' },
  ...Object.fromEntries(Object.values(flagNames).map((flag) => [flag.slice(2), { type: 'string' as const }])),
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
}

/** Parses argv (without the node and script paths); client commands go to tools/args.ts. Throws UsageError. */
export function parseCommandLine(argv: readonly string[]): CommandLine {
  if (findTool(argv) !== undefined) {
    const tool = parseToolCommandLine(argv)
    return tool === 'help' ? { command: 'help', flags: {} } : { command: 'tool', flags: {}, tool }
  }
  let parsed
  try {
    parsed = parseArgs({ args: [...argv], strict: true, allowPositionals: true, options: parseArgsOptions })
  } catch (err) {
    // parseArgs' own messages name the flag ("Unknown option '--bogus'"); keep them, minus the advice about
    // positionals that start with '-', which cairn never takes.
    const message = err instanceof Error ? err.message : String(err)
    throw new UsageError(message.replace(/\. To specify a positional argument.*$/s, ''))
  }
  const { values, positionals } = parsed
  const flags: Flags = {}
  if (typeof values.config === 'string') flags.config = values.config
  for (const [setting, flag] of Object.entries(flagNames) as [StringSetting, string][]) {
    const value = values[flag.slice(2)]
    if (typeof value === 'string') flags[setting] = value
  }

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

/** What the TLS listeners serve: the files of `tls`, read and checked. */
export interface TlsMaterial {
  cert: Buffer
  key: Buffer
  ca?: Buffer
  minVersion: TlsVersion
}

export interface LoadedConfig extends ResolvedConfig {
  /** Read when a TLS listener is on; null otherwise. */
  tls: TlsMaterial | null
}

/**
 * Reads the config file named by the flags and process.env, resolves, then reads the TLS files if a TLS
 * listener is on (so an unreadable certificate is a configuration error, found before anything starts).
 * Throws ConfigErrors.
 */
export function loadConfig(flags: Flags): LoadedConfig {
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
  const resolved = resolveConfig(sources)
  const tls = resolved.options.listeners.mqttTls === null ? null : readTlsMaterial(resolved.options.tls)
  return { ...resolved, tls }
}

/**
 * Reads and checks the certificate, key and CA files; every problem names its field. `readFile` is
 * injectable for tests. Throws ConfigErrors.
 */
export function readTlsMaterial(
  tls: TlsOptions,
  readFile: (path: string) => Buffer = (path) => readFileSync(path),
): TlsMaterial {
  const problems = new Problems()
  const read = (field: 'certFile' | 'keyFile' | 'caFile', check: (pem: Buffer) => void): Buffer | undefined => {
    const path = tls[field]
    if (path === null) {
      problems.add(`tls.${field}`, path, 'required when a TLS listener is on')
      return undefined
    }
    let pem
    try {
      pem = readFile(path)
    } catch (err) {
      problems.add(`tls.${field}`, path, `cannot read the file: ${err instanceof Error ? err.message : String(err)}`)
      return undefined
    }
    try {
      check(pem)
    } catch (err) {
      problems.add(`tls.${field}`, path, err instanceof Error ? err.message : String(err))
      return undefined
    }
    return pem
  }
  const asCertificate = (what: string) => (pem: Buffer) => {
    try {
      new X509Certificate(pem)
    } catch (err) {
      throw new Error(`not a PEM ${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    }
  }
  const cert = read('certFile', asCertificate('certificate'))
  const key = read('keyFile', (pem) => {
    try {
      createPrivateKey(pem)
    } catch (err) {
      throw new Error(`not an unencrypted PEM private key: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
      })
    }
  })
  const ca = tls.caFile === null ? undefined : read('caFile', asCertificate('CA certificate'))
  problems.throwIfAny()
  const material: TlsMaterial = { cert: cert as Buffer, key: key as Buffer, minVersion: tls.minVersion }
  if (ca !== undefined) material.ca = ca
  try {
    createSecureContext(material)
  } catch (err) {
    // Each file parsed on its own, so what is left is that they do not belong together.
    const reason = err instanceof Error ? err.message : String(err)
    problems.add('tls.keyFile', tls.keyFile, `does not fit the certificate in tls.certFile: ${reason}`)
  }
  problems.throwIfAny()
  return material
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
    Object.assign(options.tls, layer.tls)
    Object.assign(options.mqtt, layer.mqtt)
    if (layer.storage.maxDiskBytes !== undefined) options.storage.maxDiskBytes = layer.storage.maxDiskBytes
    for (const [name, declared] of Object.entries(layer.streams)) {
      const merged = { ...streamDefaults, ...options.streams[name], ...declared }
      options.streams[name] = { ...merged, subjects: [...merged.subjects] }
    }
  }
  checkListenerClashes(options, problems)
  if (options.listeners.mqttTls !== null) {
    for (const field of ['certFile', 'keyFile'] as const) {
      if (options.tls[field] === null) problems.add(`tls.${field}`, null, 'required when listeners.mqttTls is on')
    }
  }
  const session = options.streams[options.mqtt.sessionStream]
  if (session?.subjects.length === 0) {
    warnings.push(
      `stream "${options.mqtt.sessionStream}" is the MQTT session stream (mqtt.sessionStream) but has no subjects: ` +
        'publishes are not logged there, so persistent sessions miss what is published while they are away',
    )
  }
  problems.throwIfAny()
  return { options, warnings }
}

// One source's contribution: what it set, already validated.
interface Layer {
  dataDir?: string
  logLevel?: LogLevel
  listeners: Partial<Record<ListenerName, ListenAddress | null>>
  tls: Partial<TlsOptions>
  mqtt: Partial<MqttOptions>
  storage: { maxDiskBytes?: number | null }
  streams: Record<string, Partial<StreamDeclaration>>
}

const emptyLayer = (): Layer => ({ listeners: {}, tls: {}, mqtt: {}, storage: {}, streams: {} })

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
type Check<T> = (value: unknown) => Checked<T>

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

  checkKeys(top, '', ['dataDir', 'logLevel', 'listeners', 'tls', 'mqtt', 'storage', 'streams'], problems, source)
  if ('dataDir' in top) assign(layer, 'dataDir', checkPath(top.dataDir), 'dataDir', top.dataDir, problems, source)
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

  const tls = expectSection(top, 'tls', problems, source)
  if (tls !== undefined) readSection(tls, 'tls', tlsChecks, layer.tls, problems, source)

  const mqtt = expectSection(top, 'mqtt', problems, source)
  if (mqtt !== undefined) readSection(mqtt, 'mqtt', mqttChecks, layer.mqtt, problems, source)

  const storage = expectSection(top, 'storage', problems, source)
  if (storage !== undefined) {
    readSection(storage, 'storage', { maxDiskBytes: nullable(positiveInteger) }, layer.storage, problems, source)
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
      const declaration: Partial<StreamDeclaration> = {}
      readSection(settings, path, streamChecks, declaration, problems, source)
      layer.streams[name] = declaration
    }
  }
  return layer
}

/** Checks every key of a mapping against a table of checks, rejecting unknown keys; sets what passes. */
function readSection<T extends object>(
  settings: Record<string, unknown>,
  path: string,
  checks: { [K in keyof T]-?: Check<T[K]> },
  target: Partial<T>,
  problems: Problems,
  source: string,
): void {
  const keys = Object.keys(checks) as (keyof T & string)[]
  checkKeys(settings, `${path}.`, keys, problems, source)
  for (const key of keys) {
    if (!(key in settings)) continue
    const value = settings[key]
    const checked = checks[key](value)
    if ('error' in checked) problems.add(`${path}.${key}`, value, checked.error, source)
    else target[key] = checked.value
  }
}

const streamChecks: { [K in keyof StreamDeclaration]: Check<StreamDeclaration[K]> } = {
  partitions: integerIn(1, maxPartitions),
  retentionMs: nullable(positiveInteger),
  retentionBytes: nullable(positiveInteger),
  cleanupPolicy: oneOf(cleanupPolicies),
  durability: oneOf(durabilities),
  subjects: checkSubjects,
}

const tlsChecks: { [K in keyof TlsOptions]: Check<TlsOptions[K]> } = {
  certFile: nullable(checkPath),
  keyFile: nullable(checkPath),
  caFile: nullable(checkPath),
  minVersion: oneOf(tlsVersions),
}

const uint16 = 65_535
// Node timers take at most 2^31 - 1 ms; a longer delay fires at once.
const maxTimerMs = 2 ** 31 - 1

const mqttChecks: { [K in keyof MqttOptions]: Check<MqttOptions[K]> } = {
  sessionStream: (value) =>
    isValidStreamName(value) ? { value } : { error: 'must be a stream name: 1 to 249 of A-Z a-z 0-9 . _ -' },
  // 268,435,455 is the largest packet MQTT's variable-length header can describe.
  maxPacketBytes: integerIn(128, 268_435_455),
  receiveMaximum: integerIn(1, uint16),
  maxInflightOut: integerIn(1, uint16),
  topicAliasMaximum: integerIn(0, uint16),
  maxKeepaliveSec: integerIn(1, uint16),
  // MQTT 5's Session Expiry Interval is a four-byte integer; 4294967295 means the session never expires.
  maxSessionExpirySec: integerIn(0, 4_294_967_295),
  maxOfflineRecords: integerIn(0, Number.MAX_SAFE_INTEGER),
  maxPendingAppendsPerConnection: integerIn(1, 1_000_000),
  connectTimeoutMs: integerIn(100, maxTimerMs),
  maxTopicLength: integerIn(1, maxTopicBytes),
  maxTopicLevels: integerIn(1, maxTopicBytes),
  sysIntervalMs: (value) =>
    value === 0
      ? { value }
      : withError(integerIn(1000, maxTimerMs)(value), `must be 0 (off) or ${rangeText(1000, maxTimerMs)}`),
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

function readFlagLayer(flags: Flags, problems: Problems): Layer {
  const layer = emptyLayer()
  for (const key of Object.keys(flagNames) as StringSetting[]) {
    const value = flags[key]
    if (value !== undefined) readStringSetting(layer, key, value, flagNames[key], problems)
  }
  return layer
}

const tlsFileFields = { tlsCert: 'certFile', tlsKey: 'keyFile', tlsCa: 'caFile' } as const

// Environment variables and flags share one shape: a string for one top-level, listener or TLS setting.
function readStringSetting(
  layer: Layer,
  setting: StringSetting,
  value: string,
  source: string,
  problems: Problems,
): void {
  switch (setting) {
    case 'dataDir':
      assign(layer, 'dataDir', checkPath(value), 'dataDir', value, problems, source)
      return
    case 'logLevel':
      assign(layer, 'logLevel', checkLogLevel(value), 'logLevel', value, problems, source)
      return
    case 'mqtt':
    case 'mqttTls':
    case 'mqttWs':
    case 'native':
    case 'http':
      assign(layer.listeners, setting, checkListenAddress(value), `listeners.${setting}`, value, problems, source)
      return
    case 'tlsCert':
    case 'tlsKey':
    case 'tlsCa': {
      const field = tlsFileFields[setting]
      assign(layer.tls, field, checkPath(value), `tls.${field}`, value, problems, source)
      return
    }
  }
}

function checkListenerClashes(options: GatewayOptions, problems: Problems): void {
  for (const [i, a] of listenerNames.entries()) {
    for (const b of listenerNames.slice(i + 1)) {
      const x = options.listeners[a]
      const y = options.listeners[b]
      if (x === null || y === null || x.port === 0 || x.port !== y.port) continue
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

function checkPath(value: unknown): Checked<string> {
  if (typeof value !== 'string' || value.trim() === '') return { error: 'must be a non-empty path' }
  return { value }
}

function checkLogLevel(value: unknown): Checked<LogLevel> {
  return oneOf(logLevels)(value)
}

/** Accepts a port number, "PORT", "HOST:PORT" or "[IPV6]:PORT"; null, false or "off" turn the listener off. */
export function checkListenAddress(value: unknown): Checked<ListenAddress | null> {
  const error = 'must be [HOST:]PORT with PORT 0-65535 (IPv6 hosts in brackets), or off'
  if (value === null || value === false || value === 'off') return { value: null }
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

/** Subjects are MQTT topic filters (not shared-subscription filters): publishes matching one land in the stream. */
function checkSubjects(value: unknown): Checked<string[]> {
  if (!Array.isArray(value)) return { error: 'must be a list of MQTT topic filters' }
  const problems: string[] = []
  for (const [i, subject] of value.entries()) {
    if (typeof subject !== 'string') {
      problems.push(`[${i}] is not a string`)
      continue
    }
    const check = validateTopicFilter(subject)
    if (!check.ok) problems.push(`[${i}] ${JSON.stringify(subject)} is not a topic filter (${check.reason})`)
    else if (parseSharedSubscription(subject) !== null) {
      problems.push(`[${i}] ${JSON.stringify(subject)} is a shared subscription, not a topic filter`)
    }
  }
  if (problems.length > 0) return { error: `must be a list of MQTT topic filters: ${problems.join(', ')}` }
  return { value: value as string[] }
}

// The log store owns the rule; ask it rather than copy it.
function isValidStreamName(name: unknown): name is string {
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

const rangeText = (min: number, max: number) => `an integer from ${min} to ${max}`

function integerIn(min: number, max: number): Check<number> {
  return (value) =>
    typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max
      ? { value }
      : { error: `must be ${rangeText(min, max)}` }
}

function withError<T>(checked: Checked<T>, error: string): Checked<T> {
  return 'error' in checked ? { error } : checked
}

function nullable<T>(check: Check<T>): Check<T | null> {
  return (value) => {
    if (value === null) return { value: null }
    const checked = check(value)
    return 'error' in checked ? { error: `${checked.error}, or null` } : checked
  }
}

function oneOf<const T extends string>(allowed: readonly T[]): Check<T> {
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
