// The gateway's listeners over the real front ends, in this process: a log store in a temporary directory, the
// MQTT, native and HTTP front ends, and startListeners on 127.0.0.1 ephemeral ports. Faster than spawning the
// gateway, and it exposes the counters the tests read. Closed (and the directory removed) after the test.

import { mkdtempSync, rmSync } from 'node:fs'
import type { RequestListener } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { onTestFinished } from 'vitest'
import type { ListenerName, TlsMaterial } from '../../../gateway/config.ts'
import { defaults } from '../../../gateway/config.ts'
import { startListeners, type ListenerLimits, type Listeners, type PeerInfo } from '../../../gateway/listeners.ts'
import { GroupCoordinator } from '../../../src/groups/group-coordinator.ts'
import { createHttpApi } from '../../../src/http/http-api.ts'
import { LogStore } from '../../../src/log/log-store.ts'
import { MqttFrontEnd, type MqttFrontEndOptions } from '../../../src/mqtt/mqtt-front-end.ts'
import type { MqttOptions } from '../../../src/mqtt/options.ts'
import { NativeFrontEnd, type NativeFrontEndOptions } from '../../../src/native/native-front-end.ts'
import type { Issued } from './pki.ts'

export interface StackOptions {
  listeners: ListenerName[]
  tls?: TlsMaterial
  limits?: Partial<ListenerLimits>
  mqtt?: Partial<MqttOptions>
  native?: Pick<NativeFrontEndOptions, 'helloTimeoutMs' | 'maxFrameBytes'>
  http?: RequestListener
  authenticate?: MqttFrontEndOptions['authenticate']
}

export interface Stack {
  listeners: Listeners
  mqtt: MqttFrontEnd
  native: NativeFrontEnd
  /** What the listeners told each front end, in order of connections. */
  peers: Array<{ to: 'mqtt' | 'native'; info: PeerInfo }>
  /** Bound port of each listener. */
  port(name: ListenerName): number
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-stack-'))
  const logger = pino({ level: 'silent' })
  const store = LogStore.open({ dataDir: dir, logger })
  const groups = new GroupCoordinator({ store, logger })
  const mqtt = new MqttFrontEnd({
    store,
    logger,
    options: options.mqtt ?? {},
    ...(options.authenticate === undefined ? {} : { authenticate: options.authenticate }),
  })
  const native = new NativeFrontEnd({ store, groups, logger, ...options.native })
  const http = options.http ?? createHttpApi({ store, groups, logger })
  const peers: Stack['peers'] = []
  const on = Object.fromEntries(options.listeners.map((name) => [name, { host: '127.0.0.1', port: 0 }]))
  const listeners = await startListeners({
    listeners: on,
    tls: options.tls ?? null,
    frontEnd: {
      handle: (socket, info) => {
        peers.push({ to: 'mqtt', info })
        return mqtt.handle(socket, info)
      },
    },
    native: {
      handle: (socket, info) => {
        peers.push({ to: 'native', info })
        native.handle(socket, info)
      },
    },
    http,
    logger,
    maxWsMessageBytes: 1024 * 1024,
    ...(options.limits === undefined ? {} : { limits: options.limits }),
  })
  onTestFinished(async () => {
    listeners.stopAccepting()
    await mqtt.close()
    await native.close()
    await listeners.close(100)
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return {
    listeners,
    mqtt,
    native,
    peers,
    port(name) {
      const address = listeners.addresses[name]
      if (address === undefined) throw new Error(`listener ${name} is not served`)
      return Number(/:(\d+)$/.exec(address)?.[1])
    },
  }
}

/** TLS material as config.ts reads it, from issued files. */
export function tlsMaterial(server: Issued, more: Partial<TlsMaterial> = {}): TlsMaterial {
  return {
    cert: server.cert,
    key: server.key,
    minVersion: 'TLSv1.2',
    ciphers: defaults.tls.ciphers,
    clientAuth: 'none',
    identityFrom: 'cn',
    ...more,
  }
}
