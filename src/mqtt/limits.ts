import type { Clock } from '../util/clock.ts'

/** How often each MQTT limit was hit, as plain numbers for the metrics. */
export interface MqttLimitCounters {
  /** CONNECTs refused because the gateway was over a connection limit (0x97 / 3.1.1: 3). */
  connectionsOverLimit: number
  /** CONNECTs refused because mqtt.maxSessions sessions existed (0x97 / 3.1.1: 3). */
  sessionsOverLimit: number
  /** Topic filters refused because the session held mqtt.maxSubscriptionsPerClient (SUBACK 0x97 / 0x80). */
  subscriptionsOverLimit: number
  /** Connections closed for publishing faster than mqtt.maxPublishesPerSec (DISCONNECT 0x96). */
  publishRateExceeded: number
  /** Connections closed for a packet over mqtt.maxPacketBytes (DISCONNECT 0x95). */
  packetsTooLarge: number
  /** Connections closed for more unacknowledged QoS 1/2 PUBLISHes than mqtt.receiveMaximum (DISCONNECT 0x93). */
  receiveMaximumExceeded: number
  /** Topic names, filters and will topics refused for mqtt.maxTopicLength / maxTopicLevels or bad syntax. */
  topicsRefused: number
  /** Connections dropped for not sending CONNECT within mqtt.connectTimeoutMs. */
  connectTimeouts: number
}

export function newLimitCounters(): MqttLimitCounters {
  return {
    connectionsOverLimit: 0,
    sessionsOverLimit: 0,
    subscriptionsOverLimit: 0,
    publishRateExceeded: 0,
    packetsTooLarge: 0,
    receiveMaximumExceeded: 0,
    topicsRefused: 0,
    connectTimeouts: 0,
  }
}

/**
 * A token bucket per connection: `perSec` PUBLISHes a second on average, bursts up to one second's worth (a
 * device that buffered while offline may flush a little faster than its steady rate).
 */
export class PublishRate {
  readonly #perSec: number
  readonly #clock: Clock
  #tokens: number
  #refilledMs: number

  constructor(perSec: number, clock: Clock) {
    this.#perSec = perSec
    this.#clock = clock
    this.#tokens = perSec
    this.#refilledMs = clock.now()
  }

  /** Takes one token; false when none is left. */
  take(): boolean {
    const now = this.#clock.now()
    const elapsedMs = now - this.#refilledMs
    if (elapsedMs > 0) {
      this.#tokens = Math.min(this.#perSec, this.#tokens + (elapsedMs * this.#perSec) / 1000)
      this.#refilledMs = now
    }
    if (this.#tokens < 1) return false
    this.#tokens--
    return true
  }
}
