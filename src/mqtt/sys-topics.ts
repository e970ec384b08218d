import type { TimerHandle } from '../util/clock.ts'
import type { MqttFrontEnd } from './mqtt-front-end.ts'
import type { OutgoingMessage } from './message.ts'

const textEncoder = new TextEncoder()

/**
 * `$SYS/broker/...` statistics, published as retained messages every `sysIntervalMs`. They are
 * volatile (memory only, not in the log): a restart starts them afresh, as in mosquitto.
 */
export class SysTopics {
  readonly #frontEnd: MqttFrontEnd
  readonly #startedMs: number
  #timer: TimerHandle | undefined

  constructor(frontEnd: MqttFrontEnd) {
    this.#frontEnd = frontEnd
    this.#startedMs = frontEnd.clock.now()
    if (frontEnd.options.sysIntervalMs > 0) this.#arm()
  }

  publishNow(): void {
    const f = this.#frontEnd
    const c = f.counters
    const stats = f.store.stats()
    const values: Record<string, string | number> = {
      uptime: Math.floor((f.clock.now() - this.#startedMs) / 1000),
      'clients/connected': f.connectedCount(),
      'clients/total': f.sessions.size,
      'messages/received': c.messagesReceived,
      'messages/sent': c.messagesSent,
      'bytes/received': c.bytesReceived,
      'bytes/sent': c.bytesSent,
      'publish/refused': c.publishesRefused,
      'publish/denied': c.publishesDenied,
      'subscribe/denied': c.subscriptionsDenied,
      'retained messages/count': f.retained.size,
      'store/bytes': stats.usedBytes,
      'store/wal bytes': stats.walBytes,
    }
    const now = f.clock.now()
    for (const [name, value] of Object.entries(values)) {
      const message: OutgoingMessage = {
        topic: `$SYS/broker/${name}`,
        payload: textEncoder.encode(String(value)),
        qos: 0,
        retain: true,
        timestamp: now,
        meta: { q: 0, r: true },
        headers: [],
        partition: -1,
        offset: -1,
      }
      f.retained.apply(message)
      f.dispatch(message)
    }
  }

  stop(): void {
    if (this.#timer !== undefined) this.#frontEnd.clock.clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #arm(): void {
    this.#timer = this.#frontEnd.clock.setTimeout(() => {
      this.publishNow()
      this.#arm()
    }, this.#frontEnd.options.sysIntervalMs)
  }
}
