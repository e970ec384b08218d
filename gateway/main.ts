// Composition root: options → logger → log store → front ends → signals. It owns what src/ must not touch
// (signals, uncaught errors, exit codes) and stays thin: anything with logic of its own belongs in src/.

import { resolve } from 'node:path'
import { pino, type Logger } from 'pino'
import packageJson from '../package.json' with { type: 'json' }
import { LogStore } from '../src/log/log-store.ts'
import type { StreamInfo } from '../src/log/types.ts'
import { formatAddress, listenerNames, type GatewayOptions, type LogLevel, type StreamDeclaration } from './config.ts'

export const version: string = packageJson.version

const shutdownSignals = ['SIGINT', 'SIGTERM'] as const

export function createLogger(level: LogLevel): Logger {
  // In-process sonic-boom on fd 1: no worker-thread transport, so the same code runs inside the single binary.
  return pino({ level }, pino.destination(1))
}

/** Runs the gateway until SIGINT or SIGTERM. Resolves to the exit code once the logs are flushed. */
export async function serve(options: GatewayOptions, warnings: readonly string[]): Promise<number> {
  const logger = createLogger(options.logLevel)
  // Unhandled rejections arrive here too (Node's default --unhandled-rejections=throw), with origin saying so.
  // The store is not closed: state may be inconsistent, and an uncommitted group commit was never acknowledged.
  process.on('uncaughtException', (err, origin) => {
    logger.fatal({ err, origin }, 'uncaught error; exiting')
    exitAfterFlush(logger, 1)
  })
  for (const warning of warnings) logger.warn(warning)

  const dataDir = resolve(options.dataDir)
  let store: LogStore
  try {
    store = LogStore.open({
      dataDir,
      logger: logger.child({ component: 'log' }),
      maxDiskBytes: options.storage.maxDiskBytes,
    })
  } catch (err) {
    logger.fatal({ err, dataDir }, 'cannot open the log store')
    return flushed(logger, 1)
  }
  try {
    ensureStreams(store, options.streams, logger)
  } catch (err) {
    logger.fatal({ err }, 'cannot create the configured streams')
    await store.close()
    return flushed(logger, 1)
  }

  const listeners = Object.fromEntries(
    listenerNames.map((name) => [name, { address: formatAddress(options.listeners[name]), notYetServed: true }]),
  )
  logger.info(
    { version, node: process.version, dataDir, listeners, streams: Object.keys(options.streams) },
    'cairn started',
  )
  // Handlers go in before the readiness line: a supervisor may signal as soon as it reads it.
  const signal = waitForShutdownSignal()
  // The front ends do not exist yet, so nothing is bound; each will add itself to `served` once it listens.
  logger.info({ served: [], notYetServed: listenerNames }, 'listening')

  const received = await signal
  logger.info({ signal: received }, 'shutting down')
  for (const name of shutdownSignals) {
    process.on(name, (again) => {
      logger.warn({ signal: again }, 'second signal during shutdown; exiting without finishing')
      exitAfterFlush(logger, 1)
    })
  }
  // Order matters: stop intake first (front ends, once they exist), then close the store, which commits the
  // in-flight group commit and checkpoints, so every acknowledged record is in the database file.
  try {
    await store.close()
  } catch (err) {
    logger.error({ err }, 'log store did not close cleanly')
    return flushed(logger, 1)
  }
  logger.info('cairn stopped')
  return flushed(logger, 0)
}

/**
 * Creates each declared stream that does not exist yet. Existing streams keep their stored settings: changing
 * partitions or retention of live data is an explicit operation, not a side effect of editing a file.
 */
export function ensureStreams(
  store: Pick<LogStore, 'listStreams' | 'createStream'>,
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
    const differing = (Object.keys(declaration) as (keyof StreamDeclaration)[]).filter(
      (key) => stored[key] !== declaration[key],
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
  const { retentionMs, retentionBytes, cleanupPolicy, durability } = stream.config
  return { partitions: stream.partitions.length, retentionMs, retentionBytes, cleanupPolicy, durability }
}

function waitForShutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    // Signal listeners do not keep Node's event loop alive, and until the front ends listen nothing else does:
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
function flushed(logger: Logger, code: number): Promise<number> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(code), 2000)
    logger.flush(() => {
      clearTimeout(timer)
      resolve(code)
    })
  })
}

function exitAfterFlush(logger: Logger, code: number): void {
  void flushed(logger, code).then((c) => process.exit(c))
}
