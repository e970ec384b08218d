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
import { defaultStreamConfig, maxPartitions } from '../src/log/stream-config.ts'
import { cleanupPolicies, durabilities, type StreamConfig } from '../src/log/types.ts'
import { defaultMqttOptions, type MqttOptions } from '../src/mqtt/options.ts'
import { defaultMaxBodyBytes } from '../src/http/http-api.ts'
import { defaultNativeMaxFrameBytes } from '../src/native/native-front-end.ts'
import { maxTopicBytes, parseSharedSubscription, validateTopicFilter } from '../src/topics/topics.ts'
import { findTool, parseToolCommandLine, type ToolCommandLine } from './tools/args.ts'
import { clientCommandsHelp, clientUsage } from './tools/help.ts'
import { modernCiphers } from './tls.ts'
import { UsageError } from './tools/usage-error.ts'
import { securityChecks, securityDefaults, type SecurityOptions } from './config/security.ts'
import {
  assign,
  checkKeys,
  checkPath,
  expectMapping,
  expectSection,
  integerIn,
  isOneOf,
  isValidStreamName,
  nullable,
  oneOf,
  maxTimerMs,
  nameMap,
  positiveInteger,
  Problems,
  suggest,
  rangeText,
  readSection,
  withError,
  type Check,
  type Checked,
} from './config/checks.ts'
import {
  checkGatewayAlias,
  checkMirrorTo,
  mirrorToLink,
  readMirrorSection,
  resolveMirrorLinks,
  type LinkLayer,
  type MirrorOptions,
} from './config/mirror-section.ts'

export {
  checkMirrorTo,
  mirrorLinkConfigs,
  mirrorLinkDefaults,
  mirrorToLink,
  saslMechanisms,
  timestampModes,
  type MirrorLinkOptions,
  type MirrorOptions,
  type MirrorSaslOptions,
  type MirrorTlsOptions,
  type SaslMechanism,
} from './config/mirror-section.ts'

export const logLevels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const
export type LogLevel = (typeof logLevels)[number]

/** MQTT over TCP, over TLS and over WebSocket; the native protocol; the HTTP API; each also over TLS. */
export const listenerNames = ['mqtt', 'mqttTls', 'mqttWs', 'native', 'http', 'mqttWss', 'nativeTls', 'https'] as const
export type ListenerName = (typeof listenerNames)[number]
/** The listeners that speak TLS: they share the `tls` section. */
export const tlsListenerNames = ['mqttTls', 'mqttWss', 'nativeTls', 'https'] as const satisfies readonly ListenerName[]

export interface ListenAddress {
  /** null: every interface (Node picks `::` or `0.0.0.0`). */
  host: string | null
  /** 0 lets the OS choose (tests). */
  port: number
}

export const tlsVersions = ['TLSv1.2', 'TLSv1.3'] as const
export type TlsVersion = (typeof tlsVersions)[number]
/** none: no client certificate asked; optional: asked, verified if sent; required: a verified one or no handshake. */
export const clientAuthModes = ['none', 'optional', 'required'] as const
export type ClientAuth = (typeof clientAuthModes)[number]
/** Where a verified client certificate's identity (the username it stands for) is read. */
export const identitySources = ['cn', 'san-dns', 'san-email', 'san-uri'] as const
export type IdentityFrom = (typeof identitySources)[number]

export interface TlsOptions {
  /** PEM certificate (chain) the TLS listeners present; required once one is on. */
  certFile: string | null
  /** PEM private key of that certificate, unencrypted. */
  keyFile: string | null
  /** Extra PEM CA certificates sent to complete the chain; null: none. */
  caFile: string | null
  minVersion: TlsVersion
  /** OpenSSL cipher list (TLS 1.3 suites and TLS 1.2 ciphers); the default is gateway/tls.ts modernCiphers. */
  ciphers: string
  /** Client-certificate authentication (mTLS) on every TLS listener. */
  clientAuth: ClientAuth
  /** PEM CA certificates that client certificates must chain to; required unless clientAuth is none. */
  clientCaFile: string | null
  identityFrom: IdentityFrom
  /** A TLS handshake not finished within this time is cut (slow-loris). */
  handshakeTimeoutMs: number
}

/** Connection-level limits, shared by every listener. 0 means no limit where a limit can be off. */
export interface LimitsOptions {
  /** Open connections over all listeners (TLS handshakes in progress included); 0: no limit. */
  maxConnections: number
  /** Open connections from one IP address over all listeners; 0: no limit. */
  maxConnectionsPerAddress: number
  /** A native connection must send hello within this time. */
  nativeHelloTimeoutMs: number
  /** Largest native frame accepted (and sent), announced in the hello reply. */
  nativeMaxFrameBytes: number
  /** An HTTP request's headers must arrive within this time (Node's headersTimeout). */
  httpHeadersTimeoutMs: number
  /** A whole HTTP request (headers and body) must arrive within this time (Node's requestTimeout). */
  httpRequestTimeoutMs: number
  /** Largest HTTP request body; larger gets 413. */
  httpMaxBodyBytes: number
}

export type StreamDeclaration = Pick<
  StreamConfig,
  'partitions' | 'retentionMs' | 'retentionBytes' | 'cleanupPolicy' | 'durability' | 'subjects'
>

export interface GatewayOptions {
  /** Relative paths resolve against the working directory, whichever source set them. */
  dataDir: string
  /** Single binary only: where the embedded SQLite addon is extracted; null: <dataDir>/cache (gateway/sea/). */
  cacheDir: string | null
  logLevel: LogLevel
  /** null: the listener is off. */
  listeners: Record<ListenerName, ListenAddress | null>
  /** Relative paths resolve against the working directory, as for dataDir. */
  tls: TlsOptions
  limits: LimitsOptions
  /** The MQTT front end's limits and behaviour, shared by its three listeners. */
  mqtt: MqttOptions
  storage: {
    /** The log store's disk budget; null means none (retention settings alone bound the data). */
    maxDiskBytes: number | null
  }
  /** Streams created at start when missing; existing streams keep their stored settings except subjects. */
  streams: Record<string, StreamDeclaration>
  /** Mirroring of local streams upstream to Kafka. */
  mirror: MirrorOptions
  /** Users, ACLs and anonymous access (gateway/config/security.ts). */
  security: SecurityOptions
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
  cacheDir: null,
  logLevel: 'info',
  listeners: {
    mqtt: { host: null, port: 1883 },
    mqttTls: null,
    mqttWs: null,
    native: { host: null, port: 7883 },
    http: { host: null, port: 8080 },
    mqttWss: null,
    nativeTls: null,
    https: null,
  },
  tls: {
    certFile: null,
    keyFile: null,
    caFile: null,
    minVersion: 'TLSv1.2',
    ciphers: modernCiphers,
    clientAuth: 'none',
    clientCaFile: null,
    identityFrom: 'cn',
    handshakeTimeoutMs: 10_000,
  },
  limits: {
    maxConnections: 10_000,
    maxConnectionsPerAddress: 0,
    nativeHelloTimeoutMs: 10_000,
    nativeMaxFrameBytes: defaultNativeMaxFrameBytes,
    httpHeadersTimeoutMs: 10_000,
    httpRequestTimeoutMs: 30_000,
    httpMaxBodyBytes: defaultMaxBodyBytes,
  },
  mqtt: { ...defaultMqttOptions },
  storage: { maxDiskBytes: null },
  // The MQTT front end's session stream: it takes every publish (subject `#`), so that persistent sessions
  // find what they missed and replay can read it.
  streams: { mqtt: { ...streamDefaults, subjects: ['#'] } },
  mirror: { gatewayId: null, links: {} },
  security: { ...securityDefaults },
}

/** Command-line flags that feed the configuration (strings as typed; validated with everything else). */
export interface Flags {
  config?: string
  dataDir?: string
  cacheDir?: string
  logLevel?: string
  mqtt?: string
  mqttTls?: string
  mqttWs?: string
  native?: string
  http?: string
  tlsCert?: string
  tlsKey?: string
  tlsCa?: string
  mirrorTo?: string
  gatewayId?: string
}

type StringSetting = Exclude<keyof Flags, 'config'>

export const commands = ['serve', 'version', 'help'] as const
export type Command = (typeof commands)[number]

/** `serve`, `version` or `help`; or a client command (`produce`, `consume`, `streams`, `groups`) as `tool`. */
export type CommandLine = { command: Command; flags: Flags } | { command: 'tool'; flags: Flags; tool: ToolCommandLine }

export { UsageError }

const envVars = {
  CAIRN_DATA_DIR: 'dataDir',
  CAIRN_CACHE_DIR: 'cacheDir',
  CAIRN_LOG_LEVEL: 'logLevel',
  CAIRN_MQTT: 'mqtt',
  CAIRN_MQTT_TLS: 'mqttTls',
  CAIRN_MQTT_WS: 'mqttWs',
  CAIRN_NATIVE: 'native',
  CAIRN_HTTP: 'http',
  CAIRN_TLS_CERT: 'tlsCert',
  CAIRN_TLS_KEY: 'tlsKey',
  CAIRN_TLS_CA: 'tlsCa',
  CAIRN_MIRROR_TO: 'mirrorTo',
  CAIRN_GATEWAY_ID: 'gatewayId',
} as const satisfies Record<string, StringSetting>

const flagNames = {
  dataDir: '--data-dir',
  cacheDir: '--cache-dir',
  logLevel: '--log-level',
  mqtt: '--mqtt',
  mqttTls: '--mqtt-tls',
  mqttWs: '--mqtt-ws',
  native: '--native',
  http: '--http',
  tlsCert: '--tls-cert',
  tlsKey: '--tls-key',
  tlsCa: '--tls-ca',
  mirrorTo: '--mirror-to',
  gatewayId: '--gateway-id',
} as const satisfies Record<StringSetting, string>

/** Names the config file (loadConfig); --config wins. */
export const configFileEnvVar = 'CAIRN_CONFIG'
// Known but not settings: the config file's name (loadConfig), the client tools' broker address (tools/run.ts) and login
// (tools/io.ts).
const otherEnvVars: readonly string[] = [configFileEnvVar, 'CAIRN_BROKER', 'CAIRN_USERNAME', 'CAIRN_PASSWORD']

const envOf = (setting: StringSetting): string => Object.entries(envVars).find(([, key]) => key === setting)?.[0] ?? ''

const addressOf = (a: ListenAddress | null) => {
  if (a === null) return 'off'
  return a.host === null ? String(a.port) : formatAddress(a)
}

// Defaults are read from `defaults`, so the help cannot drift from what the resolver does.
const settingHelp: Record<StringSetting, [argument: string, text: string]> = {
  dataDir: ['DIR', `log store directory (default ${defaults.dataDir})`],
  cacheDir: ['DIR', 'single binary: SQLite addon cache (default <data dir>/cache)'],
  mqtt: ['[HOST:]PORT', `MQTT over TCP listener (default ${addressOf(defaults.listeners.mqtt)})`],
  mqttTls: ['[HOST:]PORT', `MQTT over TLS listener (default ${addressOf(defaults.listeners.mqttTls)})`],
  mqttWs: ['[HOST:]PORT', `MQTT over WebSocket listener, path /mqtt (default ${addressOf(defaults.listeners.mqttWs)})`],
  native: ['[HOST:]PORT', `native protocol listener (default ${addressOf(defaults.listeners.native)})`],
  http: ['[HOST:]PORT', `HTTP listener (default ${addressOf(defaults.listeners.http)})`],
  tlsCert: ['FILE', 'PEM certificate for the TLS listeners'],
  tlsKey: ['FILE', 'PEM private key for the TLS listeners'],
  tlsCa: ['FILE', 'PEM CA certificates sent with the certificate'],
  logLevel: ['LEVEL', `${logLevels.join('|')} (default ${defaults.logLevel})`],
  mirrorTo: ['URL', 'mirror every stream to Kafka: kafka://HOST:PORT[,HOST:PORT]'],
  gatewayId: ['ID', 'gateway id: upstream topic prefix and provenance identity'],
}

const optionRows: [string, string, string][] = [
  ['-c, --config FILE', 'YAML (or JSON) config file; see gateway/cairn.example.yaml', configFileEnvVar],
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
  serve    run the broker until SIGINT or SIGTERM; SIGHUP reloads its configuration
${clientCommandsHelp}
  users    add|remove|passwd --file PATH USER: manage the password file (docs/security.md)
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
  ciphers: string
  clientAuth: ClientAuth
  /** The client CAs (tls.clientCaFile); set whenever clientAuth is not none. */
  clientCa?: Buffer
  identityFrom: IdentityFrom
}

/** What a mirror link's Kafka client gets for TLS: the files of `mirror.links.<name>.tls`, read and checked. */
export interface MirrorTlsMaterial {
  ca?: Buffer
  cert?: Buffer
  key?: Buffer
  rejectUnauthorized: boolean
}

export interface LoadedConfig extends ResolvedConfig {
  /** Read when a TLS listener is on; null otherwise. */
  tls: TlsMaterial | null
  /** Per mirror link with TLS on. */
  mirrorTls: Record<string, MirrorTlsMaterial>
}

/**
 * Reads the config file named by the flags and process.env, resolves, then reads the TLS files if a TLS
 * listener is on (so an unreadable certificate is a configuration error, found before anything starts).
 * Throws ConfigErrors.
 */
export function loadConfig(flags: Flags): LoadedConfig {
  const sources: ConfigSources = { env: process.env, flags }
  // The file's name: --config, else CAIRN_CONFIG (containers and env files), else none.
  const configFile = flags.config ?? (process.env[configFileEnvVar] || undefined)
  if (configFile !== undefined) {
    let text
    try {
      text = readFileSync(configFile, 'utf8')
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err)
      throw new ConfigErrors([new ConfigError('config', configFile, `cannot read the config file: ${reason}`)])
    }
    sources.file = { name: configFile, text }
  }
  const resolved = resolveConfig(sources)
  const tlsOn = tlsListenerNames.some((name) => resolved.options.listeners[name] !== null)
  const tls = tlsOn ? readTlsMaterial(resolved.options.tls) : null
  const mirrorTls = readMirrorTlsMaterial(resolved.options.mirror)
  return { ...resolved, tls, mirrorTls }
}

/**
 * Reads and checks the CA, certificate and key files of every mirror link with TLS on; every problem names
 * its field. `readFile` is injectable for tests. Throws ConfigErrors.
 */
export function readMirrorTlsMaterial(
  mirror: MirrorOptions,
  readFile: (path: string) => Buffer = (path) => readFileSync(path),
): Record<string, MirrorTlsMaterial> {
  const problems = new Problems()
  const materials: Record<string, MirrorTlsMaterial> = {}
  for (const [name, link] of Object.entries(mirror.links)) {
    if (link.tls === null) continue
    const material: MirrorTlsMaterial = { rejectUnauthorized: link.tls.rejectUnauthorized }
    const files = [
      ['caFile', 'ca', 'CA certificate'],
      ['certFile', 'cert', 'certificate'],
      ['keyFile', 'key', 'unencrypted private key'],
    ] as const
    for (const [field, key, what] of files) {
      const path = link.tls[field]
      if (path === null) continue
      const fieldPath = `mirror.links.${name}.tls.${field}`
      let pem
      try {
        pem = readFile(path)
      } catch (err) {
        problems.add(fieldPath, path, `cannot read the file: ${err instanceof Error ? err.message : String(err)}`)
        continue
      }
      try {
        if (key === 'key') createPrivateKey(pem)
        else new X509Certificate(pem)
      } catch (err) {
        problems.add(fieldPath, path, `not a PEM ${what}: ${err instanceof Error ? err.message : String(err)}`)
        continue
      }
      material[key] = pem
    }
    materials[name] = material
  }
  problems.throwIfAny()
  return materials
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
  const read = (
    field: 'certFile' | 'keyFile' | 'caFile' | 'clientCaFile',
    check: (pem: Buffer) => void,
  ): Buffer | undefined => {
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
  const clientCa =
    tls.clientAuth === 'none'
      ? undefined
      : read('clientCaFile', asCertificate('CA certificate for client certificates'))
  problems.throwIfAny()
  const material: TlsMaterial = {
    cert: cert as Buffer,
    key: key as Buffer,
    minVersion: tls.minVersion,
    ciphers: tls.ciphers,
    clientAuth: tls.clientAuth,
    identityFrom: tls.identityFrom,
  }
  if (ca !== undefined) material.ca = ca
  if (clientCa !== undefined) material.clientCa = clientCa
  try {
    createSecureContext({ cert: material.cert, key: material.key, ...(ca === undefined ? {} : { ca }) })
  } catch (err) {
    // Each file parsed on its own, so what is left is that they do not belong together.
    const reason = err instanceof Error ? err.message : String(err)
    problems.add('tls.keyFile', tls.keyFile, `does not fit the certificate in tls.certFile: ${reason}`)
  }
  problems.throwIfAny()
  return material
}

/** Pure: layers defaults, file, environment and flags, validating all of them. Throws ConfigErrors. */
const cipherChecks = new Map<string, string | null>()

/** Why OpenSSL refuses a cipher list, or null: found now, not at the first handshake (remembered: ~1 ms each). */
function checkCiphers(ciphers: string): string | null {
  let problem = cipherChecks.get(ciphers)
  if (problem === undefined) {
    try {
      createSecureContext({ ciphers })
      problem = null
    } catch (err) {
      problem = err instanceof Error ? err.message : String(err)
    }
    if (cipherChecks.size < 64) cipherChecks.set(ciphers, problem)
  }
  return problem
}

export function resolveConfig(sources: ConfigSources): ResolvedConfig {
  const problems = new Problems()
  const warnings: string[] = []
  const layers: Layer[] = []
  if (sources.file !== undefined) layers.push(readFileLayer(sources.file, problems))
  layers.push(readEnvLayer(sources.env, problems, warnings))
  layers.push(readFlagLayer(sources.flags, problems))

  const options = structuredClone(defaults)
  options.streams = nameMap(options.streams)
  const declaredLinks = nameMap<LinkLayer>()
  for (const layer of layers) {
    if (layer.dataDir !== undefined) options.dataDir = layer.dataDir
    if (layer.cacheDir !== undefined) options.cacheDir = layer.cacheDir
    if (layer.logLevel !== undefined) options.logLevel = layer.logLevel
    for (const name of listenerNames) {
      const address = layer.listeners[name]
      if (address !== undefined) options.listeners[name] = address
    }
    Object.assign(options.tls, layer.tls)
    Object.assign(options.limits, layer.limits)
    Object.assign(options.mqtt, layer.mqtt)
    Object.assign(options.security, layer.security)
    if (layer.storage.maxDiskBytes !== undefined) options.storage.maxDiskBytes = layer.storage.maxDiskBytes
    for (const [name, declared] of Object.entries(layer.streams)) {
      const merged = { ...streamDefaults, ...options.streams[name], ...declared }
      options.streams[name] = { ...merged, subjects: [...merged.subjects] }
    }
    if (layer.mirror.gatewayId !== undefined) options.mirror.gatewayId = layer.mirror.gatewayId
    for (const [name, declared] of Object.entries(layer.mirror.links)) {
      declaredLinks[name] = { ...declaredLinks[name], ...declared }
    }
  }
  options.mirror.links = resolveMirrorLinks(options.mirror.gatewayId, declaredLinks, problems, warnings)
  checkListenerClashes(options, problems)
  const tlsOn = tlsListenerNames.filter((name) => options.listeners[name] !== null)
  if (tlsOn.length > 0) {
    for (const field of ['certFile', 'keyFile'] as const) {
      if (options.tls[field] === null) problems.add(`tls.${field}`, null, `required when listeners.${tlsOn[0]} is on`)
    }
    if (options.tls.clientAuth !== 'none' && options.tls.clientCaFile === null) {
      problems.add('tls.clientCaFile', null, `required when tls.clientAuth is ${options.tls.clientAuth}`)
    }
  }
  const cipherProblem = checkCiphers(options.tls.ciphers)
  if (cipherProblem !== null) problems.add('tls.ciphers', options.tls.ciphers, cipherProblem)
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
export interface Layer {
  dataDir?: string
  cacheDir?: string | null
  logLevel?: LogLevel
  listeners: Partial<Record<ListenerName, ListenAddress | null>>
  tls: Partial<TlsOptions>
  limits: Partial<LimitsOptions>
  mqtt: Partial<MqttOptions>
  storage: { maxDiskBytes?: number | null }
  streams: Record<string, Partial<StreamDeclaration>>
  mirror: { gatewayId?: string | null; links: Record<string, LinkLayer> }
  security: Partial<SecurityOptions>
}

const emptyLayer = (): Layer => ({
  listeners: {},
  tls: {},
  limits: {},
  mqtt: {},
  storage: {},
  streams: nameMap(),
  mirror: { links: nameMap() },
  security: {},
})

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

  const topKeys = [
    'dataDir',
    'cacheDir',
    'logLevel',
    'listeners',
    'tls',
    'limits',
    'mqtt',
    'storage',
    'streams',
    'mirror',
    'security',
  ]
  checkKeys(top, '', topKeys, problems, source)
  if ('dataDir' in top) assign(layer, 'dataDir', checkPath(top.dataDir), 'dataDir', top.dataDir, problems, source)
  if ('cacheDir' in top) {
    assign(layer, 'cacheDir', nullable(checkPath)(top.cacheDir), 'cacheDir', top.cacheDir, problems, source)
  }
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

  const limits = expectSection(top, 'limits', problems, source)
  if (limits !== undefined) readSection(limits, 'limits', limitsChecks, layer.limits, problems, source)

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

  const mirror = expectSection(top, 'mirror', problems, source)
  if (mirror !== undefined) readMirrorSection(mirror, layer, problems, source)

  const security = expectSection(top, 'security', problems, source)
  if (security !== undefined) readSection(security, 'security', securityChecks, layer.security, problems, source)
  return layer
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
  ciphers: (value) =>
    typeof value === 'string' && value.trim() !== '' ? { value } : { error: 'must be an OpenSSL cipher list' },
  clientAuth: oneOf(clientAuthModes),
  clientCaFile: nullable(checkPath),
  identityFrom: oneOf(identitySources),
  handshakeTimeoutMs: integerIn(100, 2 ** 31 - 1),
}

const limitsChecks: { [K in keyof LimitsOptions]: Check<LimitsOptions[K]> } = {
  maxConnections: integerIn(0, 1_000_000),
  maxConnectionsPerAddress: integerIn(0, 1_000_000),
  nativeHelloTimeoutMs: integerIn(100, 2 ** 31 - 1),
  // The frame length prefix is four bytes; a frame must hold at least a small request.
  nativeMaxFrameBytes: integerIn(1024, 2 ** 31 - 1),
  httpHeadersTimeoutMs: integerIn(100, 2 ** 31 - 1),
  httpRequestTimeoutMs: integerIn(100, 2 ** 31 - 1),
  httpMaxBodyBytes: integerIn(0, 2 ** 31 - 1),
}

const uint16 = 65_535
// Node timers take at most 2^31 - 1 ms; a longer delay fires at once.

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
  maxSessions: integerIn(0, Number.MAX_SAFE_INTEGER),
  maxSubscriptionsPerClient: integerIn(0, Number.MAX_SAFE_INTEGER),
  maxPublishesPerSec: integerIn(0, 1_000_000),
  sysIntervalMs: (value) =>
    value === 0
      ? { value }
      : withError(integerIn(1000, maxTimerMs)(value), `must be 0 (off) or ${rangeText(1000, maxTimerMs)}`),
}

// ---- mirror ----

function readEnvLayer(env: ConfigSources['env'], problems: Problems, warnings: string[]): Layer {
  const layer = emptyLayer()
  for (const [name, value] of Object.entries(env)) {
    // An empty variable means unset, as shells and env files conventionally treat it.
    if (value === undefined || value === '') continue
    if (!name.startsWith('CAIRN_') || otherEnvVars.includes(name)) continue
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
    case 'cacheDir':
      assign(layer, 'cacheDir', checkPath(value), 'cacheDir', value, problems, source)
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
    case 'mirrorTo': {
      // The link's bootstrap only: whatever else the file says about this link stays.
      const checked = checkMirrorTo(value)
      if ('error' in checked) problems.add(`mirror.links.${mirrorToLink}.bootstrap`, value, checked.error, source)
      else layer.mirror.links[mirrorToLink] = { bootstrap: checked.value }
      return
    }
    case 'gatewayId':
      assign(layer.mirror, 'gatewayId', checkGatewayAlias(value), 'mirror.gatewayId', value, problems, source)
      return
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
