// MQTT delivery integrity under kill -9. A broker child (mqtt-broker-child.ts) runs on a fixed data
// dir and port; in this process an MQTT.js publisher sends sequence-numbered messages on a few topics
// (one sequence per topic) and a persistent-session subscriber (fixed client id, clean = false)
// records every delivery. The test SIGKILLs the broker at seeded random moments, again and again,
// and restarts it on the same dir and port; both clients reconnect by themselves and continue. At the
// end the publisher stops, everything it still holds is acknowledged, one last message per topic
// serves as a barrier, and the test checks:
//   - every acknowledged message (PUBACK; for QoS 2, PUBREC then PUBCOMP) was delivered, byte for byte;
//   - per topic, the sequence of FIRST deliveries is strictly increasing (so, with the above, it holds
//     every acknowledged seq, in order; a seq the publisher never got acknowledged may be missing);
//     a seq delivered again later is a duplicate (a redelivery), allowed at QoS 1 only;
//   - QoS 2 (publisher and subscription): no duplicate at all, exactly once;
//   - the subscriber's session was present at every reconnect, and the broker shuts down cleanly at the end.
// A last test kills the broker right after a SUBACK, five times: the subscription must survive each kill.
//
// Reproduce a failure with the seed it prints: CAIRN_TEST_SEED=<seed> npx vitest run test/integrity/mqtt-kill9.test.ts
// (the same seed replays the same choices; where exactly each kill lands still varies).
import { spawn, type ChildProcess } from 'node:child_process'
import { randomInt } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { connect, ErrorWithReasonCode, type IClientOptions, type MqttClient } from 'mqtt'
import { test } from 'vitest'
import { hash32, makeRng, type Rng } from './kill9-records.ts'

const kills = 6
const topicCount = 4
/** Unacknowledged publishes the publisher keeps going. */
const publishWindow = 32
/**
 * When each kill lands (seeded): `resending` while MQTT.js still resends what it held (it sends those one
 * by one); `early` and `late` once new messages flow again (the first ack of a new one), after the delay.
 */
const killMoments = [
  { name: 'resending', weight: 0.2, afterResend: false, minMs: 0, maxMs: 15 },
  { name: 'early', weight: 0.2, afterResend: true, minMs: 0, maxMs: 15 },
  { name: 'late', weight: 0.6, afterResend: true, minMs: 20, maxMs: 500 },
] as const
const startTimeoutMs = 20_000
const progressTimeoutMs = 20_000
const settleTimeoutMs = 30_000
const maxReportedProblems = 30
/** Reason code of a PUBCOMP answering a PUBREL the broker already completed (before a kill). */
const packetIdentifierNotFound = 0x92

const seed = parseSeed(process.env.CAIRN_TEST_SEED)
const childScript = fileURLToPath(new URL('./mqtt-broker-child.ts', import.meta.url))

function parseSeed(text: string | undefined): number {
  if (text === undefined || text === '') return randomInt(2 ** 31)
  if (!/^\d+$/.test(text) || Number(text) >= 2 ** 32) throw new Error(`CAIRN_TEST_SEED must be an integer, got ${text}`)
  return Number(text)
}

interface Variant {
  name: string
  qos: 1 | 2
  publisherVersion: 4 | 5
  subscriberVersion: 4 | 5
}

const variants: Variant[] = [
  { name: 'qos1-v311', qos: 1, publisherVersion: 4, subscriberVersion: 4 },
  { name: 'qos1-v5', qos: 1, publisherVersion: 5, subscriberVersion: 5 },
  { name: 'qos2-v5', qos: 2, publisherVersion: 5, subscriberVersion: 5 },
  { name: 'qos2-mixed', qos: 2, publisherVersion: 4, subscriberVersion: 5 },
]

// ---- the broker child ----

interface Broker {
  child: ChildProcess
  port: number
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  output(): string
}

function startBroker(dataDir: string, port: number): Promise<Broker> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [childScript, dataDir, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    let pending = ''
    let ready = false
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`the broker child did not listen within ${startTimeoutMs} ms\n${output}`))
    }, startTimeoutMs)
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
      child.on('close', (code, signal) => done({ code, signal })),
    )
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (chunk: string) => (output += chunk))
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk: string) => {
      const lines = (pending + chunk).split('\n')
      pending = lines.pop() ?? ''
      for (const line of lines) {
        const listening = /^listening (\d+)$/.exec(line)
        if (listening !== null && !ready) {
          ready = true
          clearTimeout(timer)
          resolve({ child, port: Number(listening[1]), exited, output: () => output })
        } else output += `stdout: ${line}\n`
      }
    })
    child.on('error', reject)
    void exited.then(({ code, signal }) => {
      clearTimeout(timer)
      if (!ready)
        reject(new Error(`the broker child ended before listening (code ${code}, signal ${signal})\n${output}`))
    })
  })
}

// ---- waiting on events, never on time ----

/** Re-checks conditions whenever the clients report something; time only bounds the wait. */
class Progress extends EventEmitter {
  #broken: Error | undefined

  /** Makes every wait fail at once from now on (the broker child died by itself). */
  break(error: Error): void {
    this.#broken ??= error
    this.emit('change')
  }

  until(done: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
    if (this.#broken !== undefined) return Promise.reject(this.#broken)
    if (done()) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.#broken !== undefined) {
          cleanup()
          reject(this.#broken)
          return
        }
        if (!done()) return
        cleanup()
        resolve()
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`))
      }, timeoutMs)
      const cleanup = (): void => {
        clearTimeout(timer)
        this.off('change', check)
      }
      this.on('change', check)
    })
  }
}

// ---- messages ----

const topicName = (variant: Variant, topic: number): string => `kill9/${variant.name}/t${topic}`

/** The one payload of (seed, topic, seq): `<topic>:<seq>:` and a seeded filler of 0..300 bytes. */
function payloadOf(topic: number, seq: number): string {
  const h = hash32(seed, topic, seq)
  return `${topic}:${seq}:${String.fromCharCode(97 + (h % 26)).repeat(h % 301)}`
}

type Outcome = 'pending' | 'acked' | 'failed'

class Publisher {
  readonly client: MqttClient
  /** outcomes[topic][seq] */
  readonly outcomes: Outcome[][] = Array.from({ length: topicCount }, () => [])
  inflight = 0
  acked = 0
  failed = 0
  /** QoS 2: PUBCOMP 0x92 for a PUBREL resent after a kill, i.e. the broker had already completed it. */
  completedBeforeKill = 0
  acksThisRun = 0
  /** Acks since MQTT.js finished resending after the last (re)connect. */
  acksSinceResend = 0
  resentThisRun = false
  stopping = false
  readonly errors: string[] = []
  readonly #variant: Variant
  readonly #rng: Rng
  readonly #progress: Progress
  #ready = false

  constructor(variant: Variant, port: number, rng: Rng, progress: Progress) {
    this.#variant = variant
    this.#rng = rng
    this.#progress = progress
    this.client = connect({
      ...clientOptions(`kill9-pub-${variant.name}`, variant.publisherVersion, port),
      // QoS 2 needs a persistent publisher session: the broker remembers received packet ids in it.
      clean: variant.qos === 1,
    })
    // 'connect' comes once MQTT.js has resent what it holds: new messages start only then.
    this.client.on('connect', () => {
      this.#ready = true
      this.resentThisRun = true
      this.acksSinceResend = 0
      this.fill()
    })
    this.client.on('close', () => (this.#ready = false))
    this.client.on('error', (error) => this.errors.push(String(error)))
  }

  get published(): number {
    return this.outcomes.reduce((sum, o) => sum + o.length, 0)
  }

  fill(): void {
    while (this.#ready && !this.stopping && this.inflight < publishWindow) {
      this.publish(this.#rng.int(0, topicCount - 1))
    }
  }

  /** One more message on every topic, now (the final barrier); returns their seqs. */
  publishOnEveryTopic(): number[] {
    return Array.from({ length: topicCount }, (_, topic) => this.publish(topic))
  }

  publish(topic: number): number {
    const outcomes = this.outcomes[topic] as Outcome[]
    const seq = outcomes.length
    outcomes.push('pending')
    this.inflight++
    this.client.publish(topicName(this.#variant, topic), payloadOf(topic, seq), { qos: this.#variant.qos }, (error) => {
      this.inflight--
      // MQTT.js reports success with null (its typings say undefined).
      const ok = error === undefined || error === null
      const completed =
        ok ||
        (this.#variant.qos === 2 && error instanceof ErrorWithReasonCode && error.code === packetIdentifierNotFound)
      if (completed) {
        if (!ok) this.completedBeforeKill++
        outcomes[seq] = 'acked'
        this.acked++
        this.acksThisRun++
        if (this.#ready) this.acksSinceResend++
      } else {
        outcomes[seq] = 'failed'
        this.failed++
        if (this.errors.length < maxReportedProblems) this.errors.push(`t${topic} seq ${seq}: ${String(error)}`)
      }
      this.#progress.emit('change')
      this.fill()
    })
    return seq
  }
}

class Subscriber {
  readonly client: MqttClient
  /** firstSeen[topic]: seqs delivered at least once. */
  readonly seen: Array<Set<number>> = Array.from({ length: topicCount }, () => new Set())
  readonly lastFirst: number[] = Array.from({ length: topicCount }, () => -1)
  deliveries = 0
  duplicates = 0
  deliveredThisRun = 0
  connects = 0
  readonly problems: string[] = []
  readonly errors: string[] = []
  readonly #variant: Variant
  readonly #publisher: Publisher
  readonly #progress: Progress

  constructor(variant: Variant, port: number, publisher: Publisher, progress: Progress) {
    this.#variant = variant
    this.#publisher = publisher
    this.#progress = progress
    this.client = connect({
      ...clientOptions(`kill9-sub-${variant.name}`, variant.subscriberVersion, port),
      clean: false,
    })
    this.client.on('connect', (connack) => {
      this.connects++
      // [MQTT-3.2.2-2] the session must be there at every reconnect: it holds the subscription and the queue.
      if (this.connects > 1 && !connack.sessionPresent)
        this.#problem(`reconnect ${this.connects - 1}: CONNACK says the session is not present`)
      this.#progress.emit('change')
    })
    this.client.on('message', (topic, payload) => this.#onMessage(topic, payload))
    this.client.on('error', (error) => this.errors.push(String(error)))
  }

  hasEverythingAcked(): boolean {
    return this.missingAcked().length === 0
  }

  missingAcked(): string[] {
    const missing: string[] = []
    for (let topic = 0; topic < topicCount; topic++) {
      const outcomes = this.#publisher.outcomes[topic] as Outcome[]
      const seen = this.seen[topic] as Set<number>
      for (let seq = 0; seq < outcomes.length; seq++)
        if (outcomes[seq] === 'acked' && !seen.has(seq)) missing.push(`t${topic} seq ${seq}`)
    }
    return missing
  }

  #problem(text: string): void {
    if (this.problems.length < maxReportedProblems) this.problems.push(text)
  }

  #onMessage(topicText: string, payload: Buffer): void {
    this.deliveries++
    this.deliveredThisRun++
    const match = new RegExp(`^kill9/${this.#variant.name}/t(\\d+)$`).exec(topicText)
    const topic = Number(match?.[1] ?? -1)
    const head = /^(\d+):(\d+):/.exec(payload.toString('latin1'))
    const seq = Number(head?.[2] ?? -1)
    const outcomes = this.#publisher.outcomes[topic]
    if (outcomes === undefined || head === null || Number(head[1]) !== topic || seq >= outcomes.length) {
      this.#problem(`a message that was never published: ${topicText} ${JSON.stringify(payload.toString('latin1'))}`)
    } else if (!payload.equals(Buffer.from(payloadOf(topic, seq)))) {
      this.#problem(`t${topic} seq ${seq}: payload differs from what was published (${payload.length} bytes)`)
    } else {
      const seen = this.seen[topic] as Set<number>
      if (seen.has(seq)) {
        this.duplicates++
        if (this.#variant.qos === 2)
          this.#problem(`t${topic} seq ${seq}: delivered twice at QoS 2 (exactly once promised)`)
      } else {
        const last = this.lastFirst[topic] as number
        if (seq < last)
          this.#problem(`t${topic}: first delivery of seq ${seq} after the first delivery of seq ${last}: reordered`)
        // An acknowledged seq before this one that never came is lost: the broker delivers a topic in log order.
        for (let skipped = last + 1; skipped < seq; skipped++) {
          if (outcomes[skipped] === 'acked')
            this.#problem(`t${topic} seq ${skipped}: acknowledged, but seq ${seq} was delivered first: lost`)
        }
        seen.add(seq)
        this.lastFirst[topic] = Math.max(last, seq)
      }
    }
    this.#progress.emit('change')
  }
}

function clientOptions(clientId: string, protocolVersion: 4 | 5, port: number): IClientOptions {
  return {
    host: '127.0.0.1',
    port,
    clientId,
    protocolVersion,
    // Retrying every 20 ms is how the clients notice the restarted broker; the retries are not timing anything.
    reconnectPeriod: 20,
    connectTimeout: 10_000,
    keepalive: 30,
    ...(protocolVersion === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
  }
}

function subscribe(client: MqttClient, filter: string, qos: 1 | 2): Promise<void> {
  return new Promise((resolve, reject) => {
    client.subscribe(filter, { qos }, (error, granted) => {
      if (error !== null && error !== undefined) reject(error)
      else if (granted?.[0]?.qos !== qos) reject(new Error(`SUBACK granted ${JSON.stringify(granted)}`))
      else resolve()
    })
  })
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function endClient(client: MqttClient | undefined): Promise<void> {
  if (client === undefined) return Promise.resolve()
  return new Promise((resolve) => client.end(true, {}, () => resolve()))
}

for (const [index, variant] of variants.entries()) {
  test(`mqtt - ${variant.name}: acknowledged publishes reach a persistent subscriber across repeated kill -9, in order${
    variant.qos === 2 ? ', exactly once' : ''
  }`, async () => {
    const started = performance.now()
    const label = `[mqtt-kill9 ${variant.name}] seed ${seed}`
    console.log(`${label} (reproduce: CAIRN_TEST_SEED=${seed} npx vitest run test/integrity/mqtt-kill9.test.ts)`)
    const rng = makeRng(hash32(seed, index))
    const root = mkdtempSync(join(tmpdir(), 'cairn-mqtt-kill9-'))
    const dataDir = join(root, 'data')
    const progress = new Progress()
    let broker: Broker | undefined
    let publisher: Publisher | undefined
    let subscriber: Subscriber | undefined
    let passed = false

    const fail = (when: string, problems: string[]): never => {
      const extra = [
        ...(subscriber?.errors.length ? [`subscriber errors: ${subscriber.errors.slice(0, 5).join('; ')}`] : []),
        ...(publisher?.errors.length ? [`publisher errors: ${publisher.errors.slice(0, 5).join('; ')}`] : []),
        ...(broker?.output() ? [`broker output:\n${broker.output()}`] : []),
      ]
      throw new Error(
        `${when}: ${problems.length} problem(s) (seed ${seed}; reproduce with CAIRN_TEST_SEED=${seed}; ` +
          `data kept in ${root})\n  ${[...problems.slice(0, maxReportedProblems), ...extra].join('\n  ')}`,
      )
    }
    const status = (): string =>
      `published ${publisher?.published}, acked ${publisher?.acked}, in flight ${publisher?.inflight}, ` +
      `delivered ${subscriber?.deliveries}; missing: ${subscriber?.missingAcked().slice(0, 10).join(', ')}`

    /** A broker that ends without the test killing it has crashed: fail at once, with its output. */
    const watch = (started: Broker): Broker => {
      void started.exited.then(({ code, signal }) => {
        if (signal === 'SIGKILL' || (signal === 'SIGTERM' && code === null) || code === 0) return
        progress.break(new Error(`the broker child crashed (code ${code}, signal ${signal}):\n${started.output()}`))
      })
      return started
    }

    try {
      broker = watch(await startBroker(dataDir, 0))
      const port = broker.port
      // The subscription first: a message published before it would not be for this subscriber.
      publisher = new Publisher(variant, port, rng, progress)
      publisher.stopping = true
      subscriber = new Subscriber(variant, port, publisher, progress)
      const sub = subscriber
      await progress.until(
        () => sub.connects > 0,
        progressTimeoutMs,
        () => 'the subscriber to connect',
      )
      await subscribe(sub.client, `kill9/${variant.name}/#`, variant.qos)
      const pub = publisher
      pub.stopping = false
      pub.fill()

      for (let run = 1; run <= kills; run++) {
        const current: Broker = broker
        // Kill only once both clients got through in this run, so that every run does some work.
        let pick = rng.next()
        const moment = killMoments.find((m) => (pick -= m.weight) < 0) ?? killMoments[0]
        await progress.until(
          () =>
            sub.deliveredThisRun > 0 &&
            (moment.afterResend ? pub.resentThisRun && pub.acksSinceResend > 0 : pub.acksThisRun > 0),
          progressTimeoutMs,
          () => `progress in run ${run} (${status()})`,
        )
        const delayMs = rng.int(moment.minMs, moment.maxMs)
        // The kill moment is what is random here: this wait synchronizes nothing.
        await delay(delayMs)
        if (current.child.exitCode !== null || current.child.signalCode !== null)
          fail(`run ${run}`, ['the broker child ended by itself'])
        current.child.kill('SIGKILL')
        const { signal } = await current.exited
        if (signal !== 'SIGKILL') fail(`run ${run}`, [`the broker child ended with ${signal} instead of SIGKILL`])
        console.log(
          `${label} kill ${run} (${moment.name}) ${delayMs} ms after progress: published ${pub.published}, acked ${pub.acked}, ` +
            `delivered ${sub.deliveries} (${sub.duplicates} duplicates)`,
        )
        if (sub.problems.length > 0) fail(`after kill ${run}`, sub.problems)
        pub.acksThisRun = 0
        pub.resentThisRun = false
        sub.deliveredThisRun = 0
        broker = watch(await startBroker(dataDir, port))
      }

      // Settle: no new messages; everything the publisher holds is resent and acknowledged.
      pub.stopping = true
      await progress.until(
        () => pub.inflight === 0,
        settleTimeoutMs,
        () => `the publisher to settle (${status()})`,
      )
      // The barrier: published after the last reconnect, delivered after any redelivery of that reconnect.
      const barriers = pub.publishOnEveryTopic()
      await progress.until(
        () => pub.inflight === 0 && barriers.every((seq, topic) => sub.seen[topic]?.has(seq)),
        settleTimeoutMs,
        () => `the last message of every topic to be delivered (${status()})`,
      )
      const problems = [...sub.problems]
      const missing = sub.missingAcked()
      if (missing.length > 0) problems.push(`acknowledged but never delivered: ${missing.slice(0, 20).join(', ')}`)
      for (let topic = 0; topic < topicCount; topic++) {
        const outcomes = pub.outcomes[topic] as Outcome[]
        if (outcomes[outcomes.length - 1] !== 'acked') problems.push(`t${topic}: the barrier message was not acked`)
      }
      if (sub.connects !== kills + 1)
        problems.push(`the subscriber connected ${sub.connects} times, expected ${kills + 1}`)
      if (problems.length > 0) fail('at the end', problems)

      // A clean shutdown after all this: SIGTERM closes the front end and the store.
      await Promise.all([endClient(publisher.client), endClient(subscriber.client)])
      const last: Broker = broker
      last.child.kill('SIGTERM')
      const { code } = await last.exited
      if (code !== 0) fail('at the end', [`clean shutdown exited with code ${code}`])

      const unackedDelivered = pub.outcomes.reduce(
        (sum, outcomes, topic) =>
          sum + outcomes.filter((o, seq) => o === 'failed' && (sub.seen[topic] as Set<number>).has(seq)).length,
        0,
      )
      console.log(
        `${label}: ${kills} kills, ${pub.published} published, ${pub.acked} acked (${pub.failed} failed, ` +
          `${unackedDelivered} of them delivered anyway${
            variant.qos === 2 ? `; ${pub.completedBeforeKill} PUBCOMP 0x92 after a kill` : ''
          }), ${sub.deliveries} delivered, ${sub.duplicates} duplicates, in order, in ` +
          `${((performance.now() - started) / 1000).toFixed(1)} s`,
      )
      passed = true
    } finally {
      await Promise.all([endClient(publisher?.client), endClient(subscriber?.client)])
      const child = broker?.child
      if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      if (passed) rmSync(root, { recursive: true, force: true })
    }
  }, 60_000)
}

/** Resolves with the CONNACK of the client's next (re)connection. */
function nextConnect(client: MqttClient): Promise<{ sessionPresent: boolean }> {
  return new Promise((resolve) =>
    client.once('connect', (connack) => resolve({ sessionPresent: connack.sessionPresent })),
  )
}

function publishQos1(client: MqttClient, topic: string, payload: string): Promise<void> {
  return new Promise((resolve, reject) =>
    client.publish(topic, payload, { qos: 1 }, (error) => (error ? reject(error) : resolve())),
  )
}

test('mqtt - a subscription acknowledged by SUBACK survives a kill -9 right after it', async () => {
  const cycles = 5
  const label = `[mqtt-kill9 suback] seed ${seed}`
  const root = mkdtempSync(join(tmpdir(), 'cairn-mqtt-kill9-'))
  const dataDir = join(root, 'data')
  let broker: Broker | undefined = await startBroker(dataDir, 0)
  const port = broker.port
  const options = { ...clientOptions('kill9-suback-sub', 5, port), clean: false }
  const subscriber = connect(options)
  const publisher = connect({ ...clientOptions('kill9-suback-pub', 5, port), clean: true })
  const received: string[] = []
  subscriber.on('message', (topic) => received.push(topic))
  subscriber.on('error', () => undefined)
  publisher.on('error', () => undefined)
  let passed = false
  try {
    await nextConnect(subscriber)
    // A subscription made and committed long before the kills: the barrier after each check.
    await subscribe(subscriber, 'kill9-suback/control', 1)
    await publishQos1(publisher, 'kill9-suback/control', 'warm-up')
    const problems: string[] = []
    for (let cycle = 1; cycle <= cycles; cycle++) {
      const topic = `kill9-suback/t${cycle}`
      const current: Broker = broker
      // SIGKILL as soon as SUBACK is in: the subscription must already be durable then.
      await subscribe(subscriber, topic, 1)
      current.child.kill('SIGKILL')
      await current.exited
      const reconnected = nextConnect(subscriber)
      broker = await startBroker(dataDir, port)
      const { sessionPresent } = await reconnected
      if (!sessionPresent) problems.push(`cycle ${cycle}: the session is gone after the kill`)
      // The message on the new subscription, then one on the old one: the second arriving alone means the first was not for us.
      const controlsBefore = received.filter((t) => t === 'kill9-suback/control').length
      await publishQos1(publisher, topic, `cycle ${cycle}`)
      await publishQos1(publisher, 'kill9-suback/control', `cycle ${cycle}`)
      await new Promise<void>((resolve) => {
        const check = (): void => {
          if (received.filter((t) => t === 'kill9-suback/control').length <= controlsBefore) return
          subscriber.off('message', check)
          resolve()
        }
        subscriber.on('message', check)
        check()
      })
      if (!received.includes(topic))
        problems.push(`cycle ${cycle}: SUBACK for ${topic} came before the kill, but the subscription was lost`)
    }
    console.log(`${label}: ${cycles} kills right after SUBACK, ${problems.length} subscriptions lost`)
    if (problems.length > 0) throw new Error(`${problems.join('\n  ')}\n(seed ${seed}; data kept in ${root})`)
    passed = true
  } finally {
    await Promise.all([endClient(subscriber), endClient(publisher)])
    const child = broker?.child
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    if (passed) rmSync(root, { recursive: true, force: true })
  }
}, 60_000)
