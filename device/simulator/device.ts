// One simulated sensor: an MQTT.js client with a fixed client id that publishes sequence-numbered
// readings at a steady rate, keeps at most `inflight` QoS 1/2 messages unacknowledged, and, when
// flaps are on, resets its own TCP connection at random moments and comes back after a random
// downtime. Everything it did ends up in its DeviceReport.
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { connect, ErrorWithReasonCode, type IClientOptions, type MqttClient, type Packet } from 'mqtt'
import { deviceIdOf, topicOf, type FleetOptions } from './options.ts'
import { decodePayload, encodePayload } from './payload.ts'
import { zeroCounts, type DeviceReport, type TopicReport } from './report.ts'
import { makeRng, type Rng } from './rng.ts'

interface Pending {
  topic: TopicReport
  /** performance.now() of the first write; undefined while it waits in MQTT.js's offline store. */
  firstWriteMs: number | undefined
}

export class SimulatedDevice {
  readonly report: DeviceReport
  /** Resolves once the device has stopped, drained and closed its connection. */
  readonly finished: Promise<void>

  readonly #options: FleetOptions
  /** Two streams, so the schedule (phase, flaps, downtimes) does not shift with how many readings were taken. */
  readonly #scheduleRng: Rng
  readonly #readingRng: Rng
  readonly #latenciesMs: number[]
  readonly #client: MqttClient
  readonly #topics: Array<{ name: string; report: TopicReport; value: number }>
  /** QoS 1/2 messages handed to MQTT.js and not answered yet, by seq. */
  readonly #pending = new Map<number, Pending>()
  #resolveFinished: () => void = () => undefined
  /** Ticks of the rate clock not yet turned into messages (the window was full, or a resend was running). */
  #due = 0
  #ticks = 0
  #clockStartMs = 0
  #producing = true
  /** A CONNACK arrived on the current connection. */
  #connected = false
  /** MQTT.js has finished resending its stored messages on the current connection ('connect' fired). */
  #ready = false
  #flapArmed = false
  #tickTimer: NodeJS.Timeout | undefined
  #flapTimer: NodeJS.Timeout | undefined
  #drainTimer: NodeJS.Timeout | undefined
  #closing = false

  constructor(index: number, options: FleetOptions, seed: number, latenciesMs: number[]) {
    this.#options = options
    this.#scheduleRng = makeRng(seed)
    const rng = makeRng(seed ^ 0x5bd1e995)
    this.#readingRng = rng
    this.#latenciesMs = latenciesMs
    const deviceId = deviceIdOf(options, index)
    this.report = { deviceId, clientId: deviceId, topics: {}, lastError: undefined, ...zeroCounts() }
    this.#topics = options.topics.map((topic) => {
      const report: TopicReport = { acked: [], sent: [], refused: [], dropped: [], unacked: [] }
      const name = topicOf(options, deviceId, topic)
      this.report.topics[name] = report
      return { name, report, value: Math.round(rng.between(15, 25) * 100) / 100 }
    })
    this.finished = new Promise((resolve) => (this.#resolveFinished = resolve))
    this.#client = connect(options.url, this.#clientOptions(deviceId))
    this.#client.on('packetreceive', (packet) => this.#onPacketReceive(packet))
    this.#client.on('packetsend', (packet) => this.#onPacketSend(packet))
    this.#client.on('connect', () => this.#onReady())
    this.#client.on('close', () => this.#onClose())
    this.#client.on('error', (error) => {
      this.report.errors++
      this.report.lastError = error.message
    })
  }

  /** Stops producing; the device then drains (bounded by drainTimeoutMs) and disconnects. Idempotent. */
  stop(): void {
    if (!this.#producing) return
    this.#producing = false
    clearTimeout(this.#tickTimer)
    clearTimeout(this.#flapTimer)
    this.#flapArmed = false
    this.#drainTimer = setTimeout(() => this.#close(), this.#options.drainTimeoutMs)
    this.#closeIfDrained()
  }

  #clientOptions(clientId: string): IClientOptions {
    const o = this.#options
    return {
      clientId,
      protocolVersion: o.protocolVersion,
      clean: !o.persistent,
      keepalive: o.keepaliveSec,
      reconnectPeriod: o.reconnectMs,
      connectTimeout: o.connectTimeoutMs,
      // A reading taken while offline at QoS 0 is lost, as on a real device without a buffer.
      queueQoSZero: false,
      ...(o.protocolVersion === 5 && o.persistent ? { properties: { sessionExpiryInterval: o.sessionExpirySec } } : {}),
      ...(o.username === undefined ? {} : { username: o.username }),
      ...(o.password === undefined ? {} : { password: o.password }),
    }
  }

  #onPacketReceive(packet: Packet): void {
    if (packet.cmd !== 'connack') return
    const code = packet.reasonCode ?? packet.returnCode ?? 0
    if (code !== 0) return
    this.#connected = true
    this.report.connects++
    if (packet.sessionPresent) this.report.sessionsResumed++
    if (this.report.connects === 1) this.#startClock()
  }

  #onPacketSend(packet: Packet): void {
    if (packet.cmd !== 'publish') return
    const reading = decodePayload(typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload)
    const topic = this.report.topics[packet.topic]
    if (reading === undefined || topic === undefined) return
    const pending = this.#pending.get(reading.seq)
    if (pending?.firstWriteMs !== undefined) {
      this.report.resent++
    } else {
      this.report.sent++
      topic.sent.push(reading.seq)
      if (pending !== undefined) pending.firstWriteMs = performance.now()
    }
    if (this.#flapArmed) {
      this.#flapArmed = false
      // After this write has left, so the message is in flight when the link dies.
      setImmediate(() => this.#flapNow())
    }
  }

  /** MQTT.js emits 'connect' once the messages it stored are resent: new ones may follow now. */
  #onReady(): void {
    this.#ready = true
    this.#client.options.reconnectPeriod = this.#options.reconnectMs
    this.#scheduleFlap()
    this.#pump()
    this.#closeIfDrained()
  }

  #onClose(): void {
    if (this.#connected && !this.#closing) this.report.disconnects++
    this.#connected = false
    this.#ready = false
    this.#flapArmed = false
    clearTimeout(this.#flapTimer)
  }

  /** The rate clock starts at the first CONNACK, at a random phase so the fleet does not publish in lockstep. */
  #startClock(): void {
    if (this.#options.durationMs === 0) return this.stop()
    const periodMs = 1000 / this.#options.ratePerSec
    this.#clockStartMs = performance.now() + this.#scheduleRng.next() * periodMs
    this.#tick()
  }

  #tick(): void {
    if (!this.#producing) return
    const periodMs = 1000 / this.#options.ratePerSec
    const elapsedMs = performance.now() - this.#clockStartMs
    // Counting ticks from the start (not from the last timer) keeps the rate exact despite timer drift.
    const dueTicks = elapsedMs < 0 ? 0 : Math.floor(elapsedMs / periodMs) + 1
    this.#due += dueTicks - this.#ticks
    this.#ticks = dueTicks
    this.#pump()
    if (!this.#producing) return
    const nextMs = this.#clockStartMs + this.#ticks * periodMs
    this.#tickTimer = setTimeout(() => this.#tick(), Math.max(1, nextMs - performance.now()))
  }

  #pump(): void {
    const { qos, inflight, messagesPerDevice } = this.#options
    while (this.#producing && this.#due > 0) {
      // While MQTT.js resends its stored messages, a new publish would wait in its queue and be failed
      // by the next flap; offline, it goes to MQTT.js's store and is sent after the reconnect.
      if (qos > 0 && (this.#pending.size >= inflight || (this.#client.connected && !this.#ready))) return
      this.#due--
      this.#publishOne()
      if (messagesPerDevice !== undefined && this.report.published >= messagesPerDevice) this.stop()
    }
  }

  #publishOne(): void {
    const seq = ++this.report.published
    const topic = this.#topics[(seq - 1) % this.#topics.length]
    if (topic === undefined) throw new Error('a device has at least one topic')
    topic.value = Math.round((topic.value + this.#readingRng.between(-0.25, 0.25)) * 100) / 100
    const { deviceId } = this.report
    const payload = encodePayload(
      { deviceId, seq, timestampMs: Date.now(), value: topic.value },
      this.#options.format,
      this.#options.payloadBytes,
    )
    const qos = this.#options.qos
    if (qos === 0) {
      this.#client.publish(topic.name, payload, { qos }, (error) => {
        if (error != null) this.#dropped(topic.report, seq, error)
      })
      return
    }
    this.#pending.set(seq, { topic: topic.report, firstWriteMs: undefined })
    this.#client.publish(topic.name, payload, { qos }, (error) => this.#answered(seq, error))
  }

  #answered(seq: number, error: Error | undefined): void {
    const pending = this.#pending.get(seq)
    if (pending === undefined) return
    this.#pending.delete(seq)
    // MQTT.js answers success with null, whatever its types say.
    if (error == null) {
      this.report.acked++
      pending.topic.acked.push(seq)
      if (pending.firstWriteMs !== undefined) this.#latenciesMs.push(performance.now() - pending.firstWriteMs)
    } else if (error instanceof ErrorWithReasonCode) {
      this.report.refused++
      pending.topic.refused.push(seq)
      this.report.lastError = error.message
    } else {
      this.#dropped(pending.topic, seq, error)
    }
    this.#pump()
    this.#closeIfDrained()
  }

  #dropped(topic: TopicReport, seq: number, error: Error): void {
    this.report.dropped++
    topic.dropped.push(seq)
    this.report.lastError = error.message
  }

  #scheduleFlap(): void {
    clearTimeout(this.#flapTimer)
    const meanMs = this.#options.flapMeanIntervalMs
    if (meanMs === 0 || !this.#producing) return
    this.#flapTimer = setTimeout(() => {
      // A flap lands while a message is in flight, the case the QoS contract is about: now if one is
      // written and unanswered, else right after the next PUBLISH is written.
      const written = [...this.#pending.values()].some((p) => p.firstWriteMs !== undefined)
      if (written) this.#flapNow()
      else this.#flapArmed = true
    }, this.#scheduleRng.exponential(meanMs))
  }

  #flapNow(): void {
    if (!this.#connected || !this.#producing) return
    this.report.flaps++
    const [minMs, maxMs] = this.#options.flapDowntimeMs
    // MQTT.js arms its reconnect timer with this period when it sees the close; #onReady restores it.
    this.#client.options.reconnectPeriod = Math.round(this.#scheduleRng.between(minMs, maxMs))
    const stream = this.#client.stream as Partial<Socket> & { destroy(): void }
    // A TCP reset, no DISCONNECT: the broker learns nothing more than a dead link tells it.
    if (typeof stream.resetAndDestroy === 'function') stream.resetAndDestroy()
    else stream.destroy()
  }

  #closeIfDrained(): void {
    if (!this.#producing && this.#pending.size === 0) this.#close()
  }

  #close(): void {
    if (this.#closing) return
    this.#closing = true
    clearTimeout(this.#drainTimer)
    for (const [seq, pending] of this.#pending) pending.topic.unacked.push(seq)
    this.report.unacked = this.#pending.size
    for (const { report } of this.#topics) report.unacked.sort((a, b) => a - b)
    // A clean DISCONNECT when nothing is outstanding; otherwise MQTT.js would wait for answers forever.
    const force = this.#pending.size > 0 || !this.#connected
    this.#pending.clear()
    this.#client.end(force, () => this.#resolveFinished())
  }
}
