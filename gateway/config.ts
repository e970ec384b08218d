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
import { defaultLinkSettings, type MirrorLinkConfig, type MirrorStreamRule } from '../src/mirror/mirror.ts'
import { defaultBackoffConfig, LinkBackoff, type BackoffConfig } from '../src/mirror/link-backoff.ts'
import type { UnmirroredPolicy } from '../src/mirror/partition-mirror.ts'
import { createReplicationPolicy, type NamingConfig } from '../src/mirror/replication-policy.ts'
import { defaultMqttOptions, type MqttOptions } from '../src/mqtt/options.ts'
import { defaultMaxBodyBytes } from '../src/http/http-api.ts'
import { defaultNativeMaxFrameBytes } from '../src/native/native-front-end.ts'
import { systemClock } from '../src/util/clock.ts'
import { maxTopicBytes, parseSharedSubscription, validateTopicFilter } from '../src/topics/topics.ts'
import { findTool, parseToolCommandLine, type ToolCommandLine } from './tools/args.ts'
import { clientCommandsHelp, clientUsage } from './tools/help.ts'
import { modernCiphers } from './tls.ts'
import { UsageError } from './tools/usage-error.ts'
import { securityChecks, securityDefaults, type SecurityOptions } from './config/security.ts'

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
export function resolveConfig(sources: ConfigSources): ResolvedConfig {
  const problems = new Problems()
  const warnings: string[] = []
  const layers: Layer[] = []
  if (sources.file !== undefined) layers.push(readFileLayer(sources.file, problems))
  layers.push(readEnvLayer(sources.env, problems, warnings))
  layers.push(readFlagLayer(sources.flags, problems))

  const options = structuredClone(defaults)
  const declaredLinks: Record<string, LinkLayer> = {}
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
  try {
    // An unknown cipher name is found now, not at the first handshake.
    createSecureContext({ ciphers: options.tls.ciphers })
  } catch (err) {
    problems.add('tls.ciphers', options.tls.ciphers, err instanceof Error ? err.message : String(err))
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

/** A link as one source declares it: gatewayAlias and clientId null mean "the default". */
type LinkLayer = Partial<
  Omit<MirrorLinkOptions, 'gatewayAlias' | 'clientId' | 'backoff'> & {
    gatewayAlias: string | null
    clientId: string | null
    backoff: Partial<BackoffConfig>
  }
>

const emptyLayer = (): Layer => ({
  listeners: {},
  tls: {},
  limits: {},
  mqtt: {},
  storage: {},
  streams: {},
  mirror: { links: {} },
  security: {},
})

class Problems {
  readonly #errors: ConfigError[] = []

  add(path: string, value: unknown, message: string, source?: string): void {
    this.#errors.push(new ConfigError(path, value, source === undefined ? message : `${message}; from ${source}`))
  }

  /** A ConfigError raised by a library check (it already names its path). */
  addError(error: ConfigError): void {
    this.#errors.push(error)
  }

  /** Whether a problem was already reported at `path` (so a follow-on problem need not be). */
  has(path: string): boolean {
    return this.#errors.some((e) => e.path === path)
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

/** Checks every key of a mapping against a table of checks, rejecting unknown keys; sets what passes. */
function readSection<T extends object>(
  settings: Record<string, unknown>,
  path: string,
  checks: { [K in keyof T]-?: Check<T[K]> },
  target: Partial<T>,
  problems: Problems,
  source: string,
): void {
  checkKeys(settings, `${path}.`, Object.keys(checks), problems, source)
  applyChecks(settings, path, checks, target, problems, source)
}

/** readSection without the unknown-key check, for a mapping whose other keys are read elsewhere. */
function applyChecks<T extends object>(
  settings: Record<string, unknown>,
  path: string,
  checks: { [K in keyof T]?: Check<T[K]> },
  target: Partial<T>,
  problems: Problems,
  source: string,
): void {
  for (const key of Object.keys(checks) as (keyof T & string)[]) {
    const check = checks[key]
    if (check === undefined || !(key in settings)) continue
    const value = settings[key]
    const checked = check(value)
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
  maxSessions: integerIn(0, Number.MAX_SAFE_INTEGER),
  maxSubscriptionsPerClient: integerIn(0, Number.MAX_SAFE_INTEGER),
  maxPublishesPerSec: integerIn(0, 1_000_000),
  sysIntervalMs: (value) =>
    value === 0
      ? { value }
      : withError(integerIn(1000, maxTimerMs)(value), `must be 0 (off) or ${rangeText(1000, maxTimerMs)}`),
}

// ---- mirror ----

const linkNamePattern = /^[A-Za-z0-9_-]{1,64}$/
const brokerAddressPattern = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/
const streamPatternPattern = /^[A-Za-z0-9._*-]{1,249}$/
const namingPolicies = ['prefix', 'identity', 'map'] as const
const maxBatchBytes = 64 * 1024 * 1024

/** Keys of a link, in the order the example file shows them. */
const linkKeys = [
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

const linkChecks: { [K in keyof Required<LinkLayer>]?: Check<Required<LinkLayer>[K]> } = {
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

function intervalOrOff(value: unknown): Checked<number> {
  return value === 0
    ? { value }
    : withError(integerIn(1000, maxTimerMs)(value), `must be 0 (off) or ${rangeText(1000, maxTimerMs)}`)
}

/** Consumer group names are 1 to 249 characters of any kind; `*` matches any run of them. */
function checkGroupPatterns(value: unknown): Checked<string[]> {
  const error = 'must be a list of consumer group names or patterns with * (1 to 249 characters each)'
  if (!Array.isArray(value)) return { error }
  const bad = value.flatMap((pattern: unknown, i) =>
    typeof pattern === 'string' && pattern.length >= 1 && pattern.length <= 249
      ? []
      : [`[${i}] ${JSON.stringify(pattern)}`],
  )
  return bad.length === 0 ? { value: value as string[] } : { error: `${error}; bad: ${bad.join(', ')}` }
}

const backoffChecks: { [K in keyof BackoffConfig]: Check<BackoffConfig[K]> } = {
  baseMs: integerIn(1, maxTimerMs),
  capMs: integerIn(0, maxTimerMs),
  authCapMs: integerIn(0, maxTimerMs),
  stableAfterMs: integerIn(0, maxTimerMs),
}

const mirrorTlsChecks: { [K in keyof MirrorTlsOptions]: Check<MirrorTlsOptions[K]> } = {
  caFile: nullable(checkPath),
  certFile: nullable(checkPath),
  keyFile: nullable(checkPath),
  rejectUnauthorized: (value) => (typeof value === 'boolean' ? { value } : { error: 'must be true or false' }),
}

function readMirrorSection(mirror: Record<string, unknown>, layer: Layer, problems: Problems, source: string): void {
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

function readMirrorLink(
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

function readNaming(raw: unknown, path: string, problems: Problems, source: string): NamingConfig | undefined {
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

function readStreamRules(
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

function checkUnmirroredPolicy(value: unknown): Checked<UnmirroredPolicy> {
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

function readMirrorTls(
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

function readSasl(
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
function resolveMirrorLinks(
  gatewayId: string | null,
  declared: Readonly<Record<string, LinkLayer>>,
  problems: Problems,
  warnings: string[],
): Record<string, MirrorLinkOptions> {
  const links: Record<string, MirrorLinkOptions> = {}
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
function bareMessage(problem: ConfigError): string {
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

function checkBootstrap(value: unknown): Checked<string[]> {
  const error = 'must be a non-empty list of "HOST:PORT"'
  if (!Array.isArray(value) || value.length === 0) return { error }
  const bad = value.flatMap((address, i) => (isBrokerAddress(address) ? [] : [`[${i}] ${JSON.stringify(address)}`]))
  return bad.length === 0 ? { value: value as string[] } : { error: `${error}; not HOST:PORT: ${bad.join(', ')}` }
}

function isBrokerAddress(value: unknown): value is string {
  if (typeof value !== 'string') return false
  const match = brokerAddressPattern.exec(value)
  const port = Number(match?.[1])
  return match !== null && port >= 1 && port <= 65535
}

function checkBrokerAddressMap(value: unknown): Checked<Record<string, string>> {
  const error = 'must be a mapping { "HOST:PORT": "HOST:PORT" } (advertised broker address: address to dial)'
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { error }
  const bad = Object.entries(value).flatMap(([from, to]) =>
    isBrokerAddress(from) && isBrokerAddress(to) ? [] : [`${JSON.stringify(from)}: ${JSON.stringify(to)}`],
  )
  return bad.length === 0 ? { value: value as Record<string, string> } : { error: `${error}; bad: ${bad.join(', ')}` }
}

function checkGatewayAlias(value: unknown): Checked<string> {
  // The replication policy owns the rule; ask it rather than copy it.
  try {
    if (typeof value !== 'string') throw new TypeError('not a string')
    createReplicationPolicy(value, { policy: 'identity' })
    return { value }
  } catch {
    return { error: 'must be 1 to 64 of A-Z a-z 0-9 _ -' }
  }
}

function checkClientId(value: unknown): Checked<string> {
  return typeof value === 'string' && /^[\x21-\x7e]{1,255}$/.test(value)
    ? { value }
    : { error: 'must be 1 to 255 printable ASCII characters, no spaces' }
}

function checkStreamPattern(value: unknown): Checked<string> {
  return typeof value === 'string' && streamPatternPattern.test(value)
    ? { value }
    : { error: 'must be a stream name, or a pattern with * (1 to 249 of A-Z a-z 0-9 . _ - *)' }
}

function checkStreamPatterns(value: unknown): Checked<string[]> {
  const error = 'must be a list of stream names or patterns with *'
  if (!Array.isArray(value)) return { error }
  const bad = value.flatMap((pattern, i) =>
    'error' in checkStreamPattern(pattern) ? [`[${i}] ${JSON.stringify(pattern)}`] : [],
  )
  return bad.length === 0 ? { value: value as string[] } : { error: `${error}; bad: ${bad.join(', ')}` }
}

function nonEmptyString(value: unknown): Checked<string> {
  return typeof value === 'string' && value !== '' ? { value } : { error: 'must be a non-empty string' }
}

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
