import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { GroupCoordinator } from '../../src/groups/group-coordinator.ts'
import { LogStore } from '../../src/log/log-store.ts'
import type { MirrorApi } from '../../src/native/mirror-api.ts'
import { NativeFrontEnd, type NativeFrontEndOptions } from '../../src/native/native-front-end.ts'
import { systemClock, type Clock } from '../../src/util/clock.ts'

export interface NativeBroker {
  readonly port: number
  readonly dir: string
  readonly store: LogStore
  readonly frontEnd: NativeFrontEnd
  readonly groups: GroupCoordinator
  readonly clock: Clock
  /** Sockets currently open to the broker (tests destroy them to simulate a dropped link). */
  readonly sockets: ReadonlySet<Socket>
  /** Closes the broker and reopens it on the same directory and port (a clean restart). */
  restart(): Promise<void>
  close(): Promise<void>
}

export interface NativeBrokerOptions {
  clock?: Clock
  frontEnd?: Partial<Omit<NativeFrontEndOptions, 'store' | 'groups' | 'clock' | 'logger'>>
  groupDefaults?: ConstructorParameters<typeof GroupCoordinator>[0]['defaults']
  /** The upstream mirror the front end answers mirrorStatus/mirrorTranslate from (a stand-in in tests). */
  mirror?: MirrorApi
}

/**
 * A native-protocol broker on 127.0.0.1 (an ephemeral port) over a log store in a fresh temporary
 * directory: the real front end, coordinator and store, nothing mocked. Real clock by default.
 */
export async function startNativeBroker(options: NativeBrokerOptions = {}): Promise<NativeBroker> {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-native-'))
  const clock = options.clock ?? systemClock
  const logger = pino({ level: 'silent' })
  const sockets = new Set<Socket>()
  let store!: LogStore
  let groups!: GroupCoordinator
  let frontEnd!: NativeFrontEnd
  let server!: Server
  let port = 0

  const open = async (): Promise<void> => {
    store = LogStore.open({ dataDir: dir, clock, logger })
    groups = new GroupCoordinator({
      store,
      clock,
      logger,
      ...(options.groupDefaults === undefined ? {} : { defaults: options.groupDefaults }),
    })
    frontEnd = new NativeFrontEnd({
      ...options.frontEnd,
      ...(options.mirror === undefined ? {} : { mirror: options.mirror }),
      store,
      groups,
      clock,
      logger,
    })
    server = createServer((socket) => {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      frontEnd.handle(socket)
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => resolve())
    })
    const address = server.address()
    if (address === null || typeof address === 'string') throw new Error('no TCP address')
    port = address.port
  }

  const shut = async (): Promise<void> => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    await frontEnd.close()
    for (const s of sockets) s.destroy()
    await closed
    groups.close()
    await store.close()
  }

  await open()
  return {
    get port() {
      return port
    },
    dir,
    get store() {
      return store
    },
    get frontEnd() {
      return frontEnd
    },
    get groups() {
      return groups
    },
    clock,
    sockets,
    async restart() {
      await shut()
      await open()
    },
    async close() {
      try {
        await shut()
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
  }
}
