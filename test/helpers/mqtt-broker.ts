import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino, type Logger } from 'pino'
import { onTestFinished } from 'vitest'
import { LogStore, type LogStoreOptions } from '../../src/log/log-store.ts'
import { MqttFrontEnd, type Authenticator } from '../../src/mqtt/mqtt-front-end.ts'
import type { MqttOptions } from '../../src/mqtt/options.ts'
import type { Clock } from '../../src/util/clock.ts'

export interface MqttBrokerConfig {
  /** MQTT front-end options (maxPacketBytes, sysIntervalMs, ...). */
  options?: Partial<MqttOptions>
  authenticate?: Authenticator
  /** One clock for the store and the front end (e.g. a FakeClock for expiry and will delays); real time by default. */
  clock?: Clock
  /** LogStore options other than the directory, clock and logger. */
  store?: Partial<Omit<LogStoreOptions, 'dataDir' | 'clock' | 'logger'>>
  /** Silent by default. */
  logger?: Logger
}

export interface MqttBroker {
  /** `mqtt://127.0.0.1:<port>`; the port stays the same across restart(). */
  readonly url: string
  readonly port: number
  readonly dir: string
  /** The store and front end currently running (replaced by restart()). */
  readonly store: LogStore
  readonly frontEnd: MqttFrontEnd
  /** Server-side sockets currently open. */
  readonly sockets: ReadonlySet<Socket>
  /**
   * Stops the front end, the listener and the store (as a clean shutdown does), then starts them
   * again on the same data directory and port. `overrides` are merged into the first config.
   */
  restart(overrides?: MqttBrokerConfig): Promise<void>
  /** Stops everything but keeps the data directory (idempotent). The test's cleanup also calls it. */
  stop(): Promise<void>
}

/**
 * An MQTT broker for integration tests: a LogStore in a fresh temporary directory, an MqttFrontEnd
 * on it, and a TCP listener on 127.0.0.1 (a free port). When the current test finishes, pass or
 * fail, it is stopped and the directory removed.
 */
export async function startMqttBroker(config: MqttBrokerConfig = {}): Promise<MqttBroker> {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-mqtt-'))
  let current = config
  let store: LogStore | undefined
  let frontEnd: MqttFrontEnd | undefined
  let server: Server | undefined
  let port = 0
  const sockets = new Set<Socket>()

  const start = async (): Promise<void> => {
    const logger = current.logger ?? pino({ level: 'silent' })
    const clock = current.clock === undefined ? {} : { clock: current.clock }
    const openedStore = LogStore.open({ ...current.store, ...clock, logger, dataDir: dir })
    store = openedStore
    const openedFrontEnd = new MqttFrontEnd({
      store: openedStore,
      logger,
      ...clock,
      ...(current.options === undefined ? {} : { options: current.options }),
      ...(current.authenticate === undefined ? {} : { authenticate: current.authenticate }),
    })
    frontEnd = openedFrontEnd
    const listener = createServer((socket) => {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      openedFrontEnd.handle(socket, socket.remoteAddress === undefined ? {} : { remoteAddress: socket.remoteAddress })
    })
    server = listener
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject)
      listener.listen(port, '127.0.0.1', () => {
        listener.off('error', reject)
        resolve()
      })
    })
    port = (listener.address() as AddressInfo).port
  }

  const stop = async (): Promise<void> => {
    const [s, f, l] = [store, frontEnd, server]
    store = undefined
    frontEnd = undefined
    server = undefined
    try {
      const closed = l === undefined ? Promise.resolve() : new Promise<void>((resolve) => l.close(() => resolve()))
      if (f !== undefined) await f.close()
      for (const socket of sockets) socket.destroy()
      await closed
    } finally {
      await s?.close()
    }
  }

  try {
    await start()
  } catch (error) {
    await stop().catch(() => undefined)
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
  onTestFinished(async () => {
    try {
      await stop()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  const running = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`the test broker is stopped: no ${what}`)
    return value
  }
  return {
    get url() {
      return `mqtt://127.0.0.1:${port}`
    },
    get port() {
      return port
    },
    dir,
    get store() {
      return running(store, 'store')
    },
    get frontEnd() {
      return running(frontEnd, 'front end')
    },
    sockets,
    async restart(overrides = {}) {
      await stop()
      current = { ...config, ...overrides }
      await start()
    },
    stop,
  }
}
