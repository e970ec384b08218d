// Composition root: options → logger → log store → mirror → front ends (MQTT, native, HTTP) → listeners → signals.
// It owns what src/ must not touch (sockets, signals, uncaught errors, exit codes) and stays thin: anything with
// logic of its own belongs in src/.

import { resolve } from 'node:path'
import { pino, type Logger } from 'pino'
import packageJson from '../package.json' with { type: 'json' }
import { GroupCoordinator } from '../src/groups/group-coordinator.ts'
import { createHttpApi, type HttpApiHandler } from '../src/http/http-api.ts'
import type { GatewayStatus } from '../src/http/status.ts'
import { LogStore } from '../src/log/log-store.ts'
import type { StreamInfo } from '../src/log/types.ts'
import { Mirror } from '../src/mirror/mirror.ts'
import { mqttAuthenticator } from '../src/auth/mqtt.ts'
import type { SecurityPolicy } from '../src/auth/security-policy.ts'
import { MqttFrontEnd } from '../src/mqtt/mqtt-front-end.ts'
import { NativeFrontEnd } from '../src/native/native-front-end.ts'
import { registerBrokerMetrics } from '../src/observability/register-broker.ts'
import { MetricsRegistry } from '../src/observability/registry.ts'
import {
  formatAddress,
  listenerNames,
  mirrorLinkConfigs,
  type LoadedConfig,
  type LogLevel,
  type StreamDeclaration,
} from './config.ts'
import { openSecurityPolicy, securityReloadable } from './config/security.ts'
import { ListenError, startListeners, type Listeners } from './listeners.ts'
import { tlsReloadable } from './tls.ts'
import { defaultCacheDir, prepareSqliteAddon } from './sea/sqlite-addon.ts'
import { Reloader } from './reload.ts'
import { logLevelReloadable, mirrorRateReloadable } from './reloadables.ts'

export const version: string = packageJson.version

const shutdownSignals = ['SIGINT', 'SIGTERM'] as const
/** Shutdown past this is abandoned with exit code 1 and a log line. */
const shutdownTimeoutMs = 10_000
/** How long clients get to close their ended connections before their sockets are cut. */
const socketGraceMs = 2_000
/** How long the mirror gets to finish its sends in flight before the store closes under it. */
const mirrorCloseTimeoutMs = 5_000

/** stdout, for the last synchronous flush before exiting. */
let logDestination: ReturnType<typeof pino.destination> | undefined

export function createLogger(level: LogLevel): Logger {
  // In-process sonic-boom on fd 1: no worker-thread transport, so the same code runs inside the single binary.
  logDestination = pino.destination(1)
  return pino({ level }, logDestination)
}

/**
 * Runs the gateway until SIGINT or SIGTERM; SIGHUP reloads the configuration with `load` (reload.ts). Resolves to
 * the exit code once the logs are flushed.
 */
export async function serve(config: LoadedConfig, load: () => LoadedConfig = () => config): Promise<number> {
  const { options, warnings } = config
  const logger = createLogger(options.logLevel)
  // Unhandled rejections arrive here too (Node's default --unhandled-rejections=throw), with origin saying so.
  // The store is not closed: state may be inconsistent, and an uncommitted group commit was never acknowledged.
  process.on('uncaughtException', (err, origin) => {
    logger.fatal({ err, origin }, 'uncaught error; exiting')
    exitAfterFlush(logger, 1)
  })
  for (const warning of warnings) logger.warn(warning)
  // Components that can take a configuration change live register here: reloader.register({ name, paths, apply }).
  const reloader = new Reloader({ initial: config, load, logger: logger.child({ component: 'config' }) })
  reloader.register(logLevelReloadable(logger))
  // At once: SIGHUP's default action would end the process.
  process.on('SIGHUP', () => {
    logger.info('SIGHUP: reloading the configuration')
    reloader.reload().catch((err: unknown) => logger.error({ err }, 'configuration reload failed'))
  })
  const startedMs = Date.now()
  // For the status endpoint, which is created before the listeners are bound.
  let served: Listeners | undefined = undefined

  // Users and ACLs are read before anything listens: a broker that was told to require them must never run open.
  let security: SecurityPolicy | undefined
  try {
    security = await openSecurityPolicy(options.security, logger)
  } catch (err) {
    logger.fatal({ err }, err instanceof Error ? err.message : 'cannot read the users or ACLs')
    return flushed(logger, 2)
  }
  if (security !== undefined) reloader.register(securityReloadable(security))

  const dataDir = resolve(options.dataDir)
  // The single binary carries SQLite's addon inside; from the sources this is undefined (node_modules has it).
  let nativeBinding: string | undefined
  try {
    nativeBinding = prepareSqliteAddon(resolve(options.cacheDir ?? defaultCacheDir(dataDir)))
  } catch (err) {
    logger.fatal({ err }, err instanceof Error ? err.message : 'cannot prepare the SQLite addon')
    return flushed(logger, 1)
  }
  let store: LogStore
  try {
    store = LogStore.open({
      dataDir,
      logger: logger.child({ component: 'log' }),
      maxDiskBytes: options.storage.maxDiskBytes,
      ...(nativeBinding === undefined ? {} : { nativeBinding }),
    })
  } catch (err) {
    logger.fatal({ err, dataDir }, 'cannot open the log store')
    return flushed(logger, 1)
  }
  let frontEnds: FrontEnds
  let mirror: Mirror | null = null
  try {
    ensureStreams(store, options.streams, logger)
    // Before the mirror: it exports the groups' positions as checkpoints.
    const groups = new GroupCoordinator({ store, logger: logger.child({ component: 'groups' }) })
    mirror = await createMirror(store, config, logger, groups)
    // At once: the retention holds must be in place before anything can run retention on unmirrored records.
    mirror?.prepare()
    if (mirror !== null) reloader.register(mirrorRateReloadable(mirror))
    // Without a mirror the mirror operations of the native protocol and the HTTP API say none is configured.
    const mirrorOption = mirror === null ? {} : { mirror }
    const metrics = new MetricsRegistry()
    frontEnds = {
      mqtt: new MqttFrontEnd({
        store,
        logger,
        options: options.mqtt,
        ...(security === undefined ? {} : { authenticate: mqttAuthenticator(security) }),
      }),
      groups,
      native: new NativeFrontEnd({
        store,
        groups,
        logger: logger.child({ component: 'native' }),
        maxFrameBytes: options.limits.nativeMaxFrameBytes,
        helloTimeoutMs: options.limits.nativeHelloTimeoutMs,
        ...mirrorOption,
        security,
      }),
      http: createHttpApi({
        maxBodyBytes: options.limits.httpMaxBodyBytes,
        store,
        groups,
        security,
        logger: logger.child({ component: 'http' }),
        metrics,
        ...mirrorOption,
        status: (): GatewayStatus => ({
          version,
          startedMs,
          listeners: listenerNames.map((name) => ({
            name,
            address: served?.addresses[name] ?? null,
            connections: served?.connections[name] ?? 0,
          })),
          mqttClients: frontEnds.mqtt.connectedCount(),
        }),
      }),
    }
    registerBrokerMetrics(metrics, { ...frontEnds, store, mirror })
  } catch (err) {
    logger.fatal({ err }, 'cannot create the configured streams, the mirror or the front ends')
    await closeMirror(logger, mirror)
    await store.close()
    return flushed(logger, 1)
  }
  const frontEnd = frontEnds.mqtt

  const listenerSummary: Record<string, { address: string } | { off: true }> = {}
  for (const name of listenerNames) {
    const address = options.listeners[name]
    listenerSummary[name] = address === null ? { off: true } : { address: formatAddress(address) }
  }
  const mirrorSummary =
    mirror === null
      ? 'off'
      : {
          links: Object.entries(options.mirror.links).map(([name, link]) => ({
            name,
            bootstrap: link.bootstrap,
            gatewayAlias: link.gatewayAlias,
          })),
        }
  logger.info(
    {
      version,
      node: process.version,
      dataDir,
      listeners: listenerSummary,
      streams: Object.keys(options.streams),
      mirror: mirrorSummary,
    },
    'cairn started',
  )
  // Handlers go in before the readiness line: a supervisor may signal as soon as it reads it.
  const signal = waitForShutdownSignal()

  let listeners: Listeners
  try {
    listeners = await startListeners({
      listeners: options.listeners,
      tls: config.tls,
      frontEnd,
      native: frontEnds.native,
      http: frontEnds.http,
      logger: logger.child({ component: 'listeners' }),
      maxWsMessageBytes: wsMessageLimit(options.mqtt.maxPacketBytes),
      limits: {
        maxConnections: options.limits.maxConnections,
        maxConnectionsPerAddress: options.limits.maxConnectionsPerAddress,
        tlsHandshakeTimeoutMs: options.tls.handshakeTimeoutMs,
        httpHeadersTimeoutMs: options.limits.httpHeadersTimeoutMs,
        httpRequestTimeoutMs: options.limits.httpRequestTimeoutMs,
      },
    })
  } catch (err) {
    const fields = err instanceof ListenError ? { listener: err.listener, address: err.address } : {}
    logger.fatal({ err, ...fields }, err instanceof ListenError ? err.message : 'cannot start the listeners')
    await closeFrontEnds(logger, frontEnds)
    await closeMirror(logger, mirror)
    await store.close()
    return flushed(logger, 1)
  }
  served = listeners
  reloader.register(tlsReloadable(listeners))
  logger.info({ served: listeners.addresses }, 'listening')
  mirror?.start()

  const received = await signal
  logger.info({ signal: received }, 'shutting down')
  for (const name of shutdownSignals) {
    process.on(name, (again) => {
      logger.warn({ signal: again }, 'second signal during shutdown; exiting without finishing')
      exitAfterFlush(logger, 1)
    })
  }
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<'timeout'>(
    (resolve) => (timer = setTimeout(() => resolve('timeout'), shutdownTimeoutMs)),
  )
  const code = await Promise.race([shutdown(logger, listeners, frontEnds, mirror, store), timedOut])
  clearTimeout(timer)
  if (code === 'timeout') {
    logger.error({ timeoutMs: shutdownTimeoutMs }, 'shutdown did not finish in time; exiting')
    return flushed(logger, 1)
  }
  return flushed(logger, code)
}

// Order matters: stop intake first, then disconnect the clients (which saves their sessions and flushes), then
// stop the mirror (its confirmed sends update cursors in the store), then close the store, which commits the
// in-flight group commit and checkpoints, so every acknowledged record is in the database file. Sockets still
// open then only delay the exit.
async function shutdown(
  logger: Logger,
  listeners: Listeners,
  frontEnds: FrontEnds,
  mirror: Mirror | null,
  store: LogStore,
): Promise<number> {
  listeners.stopAccepting()
  let code = await closeFrontEnds(logger, frontEnds)
  if (!(await closeMirror(logger, mirror))) code = 1
  try {
    await store.close()
  } catch (err) {
    logger.error({ err }, 'log store did not close cleanly')
    return 1
  }
  await listeners.close(socketGraceMs)
  logger.info('cairn stopped')
  return code
}

/**
 * The mirror of the configured links, or null when none is configured. Throws if a link cannot be set up. The
 * Kafka client (kafkajs, ~14 MB of resident memory once loaded) is imported only when a link is configured.
 */
async function createMirror(
  store: LogStore,
  config: LoadedConfig,
  logger: Logger,
  groups: GroupCoordinator,
): Promise<Mirror | null> {
  const { links } = config.options.mirror
  if (Object.keys(links).length === 0) return null
  const { KafkajsSink } = await import('../src/mirror/kafkajs-sink.ts')
  return new Mirror({
    store,
    groups,
    links: mirrorLinkConfigs(config.options.mirror),
    logger: logger.child({ component: 'mirror' }),
    sinkFor: ({ name }) => {
      const link = links[name]
      if (link === undefined) throw new Error(`mirror link ${name} is not configured`)
      const tls = config.mirrorTls[name]
      return new KafkajsSink({
        brokers: link.bootstrap,
        clientId: link.clientId,
        connectionTimeoutMs: link.connectionTimeoutMs,
        requestTimeoutMs: link.requestTimeoutMs,
        brokerAddressMap: link.brokerAddressMap,
        ...(tls === undefined ? {} : { ssl: tls }),
        ...(link.sasl === null ? {} : { sasl: { ...link.sasl } }),
        // The sink names its own component (kafkajs).
        logger: logger.child({ link: name }),
      })
    },
  })
}

/**
 * Stops the links. A link waiting out its backoff may not notice at once: past mirrorCloseTimeoutMs the store
 * closes anyway (what the mirror had not confirmed is resent or reconciled at the next start). False if it failed.
 */
async function closeMirror(logger: Logger, mirror: Mirror | null): Promise<boolean> {
  if (mirror === null) return true
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<'timeout'>(
    (resolve) => (timer = setTimeout(() => resolve('timeout'), mirrorCloseTimeoutMs)),
  )
  try {
    const result = await Promise.race([mirror.close(), timedOut])
    if (result === 'timeout') {
      logger.warn({ timeoutMs: mirrorCloseTimeoutMs }, 'mirror did not stop in time; closing the store anyway')
    }
    return true
  } catch (err) {
    logger.error({ err }, 'mirror did not close cleanly')
    return false
  } finally {
    clearTimeout(timer)
  }
}

interface FrontEnds {
  mqtt: MqttFrontEnd
  groups: GroupCoordinator
  native: NativeFrontEnd
  http: HttpApiHandler
}

/** Ends every client connection (answering what is in flight) and stops the coordinator's timers. 1 if one failed. */
async function closeFrontEnds(logger: Logger, frontEnds: FrontEnds): Promise<number> {
  let code = 0
  frontEnds.http.close()
  for (const [name, close] of [
    ['MQTT', () => frontEnds.mqtt.close()],
    ['native', () => frontEnds.native.close()],
  ] as const) {
    try {
      await close()
    } catch (err) {
      logger.error({ err }, `${name} front end did not close cleanly`)
      code = 1
    }
  }
  frontEnds.groups.close()
  return code
}

// A WebSocket message normally carries one MQTT packet. Twice the packet limit leaves room for a client that
// batches, while an oversized packet still meets the MQTT size guard, which tells a v5 client why.
export function wsMessageLimit(maxPacketBytes: number): number {
  return maxPacketBytes * 2
}

/**
 * Creates each declared stream that does not exist yet. Existing streams keep their stored settings: changing
 * partitions or retention of live data is an explicit operation, not a side effect of editing a file. Subjects
 * are the exception: they only route new publishes, so they follow the configuration.
 */
export function ensureStreams(
  store: Pick<LogStore, 'listStreams' | 'createStream' | 'alterStream'>,
  declared: Readonly<Record<string, StreamDeclaration>>,
  logger: Logger,
): void {
  const existing = new Map(store.listStreams().map((stream) => [stream.name, stream]))
  for (const [name, declaration] of Object.entries(declared)) {
    const stream = existing.get(name)
    if (stream === undefined) {
      // The store logs the creation itself.
      store.createStream(name, declaration)
      continue
    }
    const stored = storedDeclaration(stream)
    if (!sameSetting(stored.subjects, declaration.subjects)) {
      store.alterStream(name, { subjects: declaration.subjects })
      logger.info(
        { stream: name, subjects: declaration.subjects, previous: stored.subjects },
        'stream subjects updated from the configuration',
      )
    }
    const differing = (Object.keys(declaration) as (keyof StreamDeclaration)[]).filter(
      (key) => key !== 'subjects' && !sameSetting(stored[key], declaration[key]),
    )
    if (differing.length > 0) {
      logger.info(
        {
          stream: name,
          configured: Object.fromEntries(differing.map((key) => [key, declaration[key]])),
          stored: Object.fromEntries(differing.map((key) => [key, stored[key]])),
        },
        'stream exists with other settings than configured; keeping the stored ones',
      )
    }
  }
}

function storedDeclaration(stream: StreamInfo): StreamDeclaration {
  const { retentionMs, retentionBytes, cleanupPolicy, durability, subjects } = stream.config
  return { partitions: stream.partitions.length, retentionMs, retentionBytes, cleanupPolicy, durability, subjects }
}

function sameSetting(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((item, i) => item === b[i])
  return a === b
}

function waitForShutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    // Signal listeners do not keep Node's event loop alive, and with every listener off nothing else does:
    // without this timer the process would exit right after starting.
    const keepAlive = setInterval(() => {}, 2 ** 31 - 1)
    const onSignal = (signal: NodeJS.Signals) => {
      clearInterval(keepAlive)
      for (const name of shutdownSignals) process.off(name, onSignal)
      resolve(signal)
    }
    for (const name of shutdownSignals) process.on(name, onSignal)
  })
}

// pino.destination(1) writes asynchronously; exiting mid-write could lose the line that explains the exit.
// A loaded machine (or a slow reader of our stdout) can take longer than the async flush waits: the
// rest is then written synchronously, so the lines explaining the exit are not lost.
function flushed(logger: Logger, code: number): Promise<number> {
  return new Promise((resolve) => {
    const finish = (): void => {
      try {
        logDestination?.flushSync()
      } catch {
        // stdout is gone (closed pipe): nothing more can be written anyway.
      }
      resolve(code)
    }
    const timer = setTimeout(finish, 2000)
    logger.flush(() => {
      clearTimeout(timer)
      finish()
    })
  })
}

function exitAfterFlush(logger: Logger, code: number): void {
  void flushed(logger, code).then((c) => process.exit(c))
}
