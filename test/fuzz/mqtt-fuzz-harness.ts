// The MQTT front-end fuzzer, shared by test/fuzz/mqtt-fuzz.test.ts (a few thousand inputs) and
// scripts/fuzz-mqtt.ts (as many as you like). One input is the byte stream of one client connection:
// valid packets made by mqtt-packet (CONNECT v3.1.1/v5 first, then PUBLISH, SUBSCRIBE, acks, ...),
// then often mutated: bits flipped, bytes inserted or dropped, truncated, a Remaining Length made
// huge or malformed, garbage spliced in, or garbage alone. It is written in random chunks over an
// in-memory duplex pair that behaves like a TCP socket, then the client leaves.
//
// What counts as a finding: an exception or rejection nobody caught, an error logged by the broker
// (the front end and the store log their caught crashes at level error), a connection the broker
// does not close after its client left, a packet from the broker that does not parse, and a broker
// that no longer serves a normal client (healthCheck).
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { duplexPair, type Duplex } from 'node:stream'
import mqttPacket, { type IConnectPacket, type ISubscription, type Packet, type UserProperties } from 'mqtt-packet'
import { pino } from 'pino'
import { LogStore } from '../../src/log/log-store.ts'
import { MqttFrontEnd } from '../../src/mqtt/mqtt-front-end.ts'
import { FakeClock } from '../helpers/fake-clock.ts'
import { makeRng, type Rng } from '../integrity/kill9-records.ts'
import { writeVarint } from '../../src/mqtt/user-properties.ts'

export { makeRng, type Rng }

/** Session expiry cap of the fuzzed broker; advancing the fake clock past it ends every session. */
export const maxSessionExpirySec = 60
/** A connection must be closed by the broker this long after its client left. */
const closeTimeoutMs = 5_000
const maxPacketBytes = 64 * 1024
/** Event-loop turns (each followed by the store's pending commit) that a lingering client stays for. */
const lingerTurns = 4

export interface FuzzTarget {
  /** The store's temporary data directory (removed by close()). */
  readonly dir: string
  readonly store: LogStore
  readonly frontEnd: MqttFrontEnd
  readonly clock: FakeClock
  /** Errors the broker logged (level error and above): each is a finding. */
  readonly loggedErrors: string[]
  /** Ends every session and fires every will and keepalive timer: the clock jumps past the session expiry cap. */
  expireSessions(): void
  close(): Promise<void>
}

export function createFuzzTarget(): FuzzTarget {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-mqtt-fuzz-'))
  const loggedErrors: string[] = []
  const logger = pino({ level: 'error' }, { write: (line: string) => void loggedErrors.push(line.trim()) })
  const store = LogStore.open({ dataDir: dir, logger })
  // The session stream with two partitions, and a second stream that some topics also go to.
  store.createStream('mqtt', { subjects: ['#'], partitions: 2, durability: 'os' })
  store.createStream('fz-extra', { subjects: ['fz/#', 'a/+'], partitions: 2, durability: 'os' })
  const clock = new FakeClock()
  const frontEnd = new MqttFrontEnd({
    store,
    logger,
    clock,
    options: { maxPacketBytes, maxSessionExpirySec, sysIntervalMs: 0, maxInflightOut: 8, receiveMaximum: 16 },
  })
  return {
    dir,
    store,
    frontEnd,
    clock,
    loggedErrors,
    expireSessions: () => clock.advance((maxSessionExpirySec + 1) * 1000),
    async close() {
      try {
        await frontEnd.close()
        await store.close()
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
  }
}

// ---- inputs ----

export interface FuzzInput {
  /** How it was made, for statistics and reports. */
  kind: string
  /** The bytes the client sends, in the chunks it writes them in. */
  chunks: Uint8Array[]
  /** Whether the client waits for the broker to commit before it leaves. */
  lingers: boolean
}

export function inputToHex(input: FuzzInput): string {
  return Buffer.concat(input.chunks).toString('hex')
}

/** A stored regression input: its bytes, written whole, one byte at a time, or in chunks of the sizes given. */
export function inputFromHex(kind: string, hex: string, chunking: 'whole' | 'bytes' | number[] = 'whole'): FuzzInput {
  const bytes = Buffer.from(hex, 'hex')
  if (chunking === 'whole') return { kind, chunks: [bytes], lingers: true }
  if (chunking === 'bytes') return { kind, chunks: [...bytes].map((b) => Uint8Array.of(b)), lingers: true }
  const chunks: Uint8Array[] = []
  let at = 0
  for (const size of chunking) chunks.push(bytes.subarray(at, (at += size)))
  if (at < bytes.length) chunks.push(bytes.subarray(at))
  return { kind, chunks, lingers: true }
}

const pick = <T>(rng: Rng, items: readonly T[]): T => items[rng.int(0, items.length - 1)] as T

function randomBytes(rng: Rng, length: number): Buffer {
  const bytes = Buffer.alloc(length)
  for (let i = 0; i < length; i++) bytes[i] = rng.int(0, 255)
  return bytes
}

function randomText(rng: Rng, maxLength: number): string {
  const alphabet = 'abcxyz019/+#$ü€\u0000 '
  let text = ''
  const length = rng.int(0, maxLength)
  for (let i = 0; i < length; i++) text += alphabet[rng.int(0, alphabet.length - 1)]
  return text
}

const clientIds = ['fz-a', 'fz-b', 'fz-c', '']
const topics = [
  'a',
  'a/b',
  'fz/x/y',
  'fz/1',
  'sensors/1/temp',
  '$SYS/broker/x',
  '$share/g/a',
  'a/+',
  'a/#',
  '#',
  '',
  '/',
  '//',
  'ü/€',
  'x'.repeat(1100),
  'a/'.repeat(40) + 'z',
]
const filters = [
  '#',
  '+',
  'a/#',
  'a/+',
  'fz/#',
  '+/+',
  '$share/g/fz/#',
  '$share/g/#',
  '$share//a',
  '$share/g',
  '$replay/earliest/fz/#',
  '$replay/-1h/a',
  '$replay/2025-01-01T00:00:00Z/#',
  '$replay/bogus/a',
  'a/#/b',
  'a+',
  '',
  '$SYS/#',
]

function maybe(rng: Rng, probability: number): boolean {
  return rng.next() < probability
}

function userProperties(rng: Rng): UserProperties {
  const props: UserProperties = {}
  const count = rng.int(1, 3)
  for (let i = 0; i < count; i++) {
    const key = maybe(rng, 0.2) ? 'cairn-replay' : randomText(rng, 8)
    props[key] = maybe(rng, 0.3) ? [randomText(rng, 5), randomText(rng, 5)] : randomText(rng, 10)
  }
  return props
}

function payload(rng: Rng): Buffer {
  const roll = rng.next()
  if (roll < 0.1) return Buffer.alloc(0)
  if (roll < 0.15) return randomBytes(rng, rng.int(1000, maxPacketBytes))
  if (roll < 0.4) return Buffer.from(randomText(rng, 50))
  return randomBytes(rng, rng.int(1, 200))
}

function connectPacket(rng: Rng, protocolVersion: 3 | 4 | 5): IConnectPacket {
  const v5 = protocolVersion === 5
  const packet: IConnectPacket = {
    cmd: 'connect',
    protocolId: protocolVersion === 3 ? 'MQIsdp' : 'MQTT',
    protocolVersion,
    clientId: maybe(rng, 0.9) ? pick(rng, clientIds) : randomText(rng, 30),
    clean: maybe(rng, 0.5),
    keepalive: pick(rng, [0, 1, 30, 65535]),
  }
  if (maybe(rng, 0.2)) packet.username = randomText(rng, 10)
  if (packet.username !== undefined && maybe(rng, 0.5)) packet.password = randomBytes(rng, rng.int(0, 10))
  if (maybe(rng, 0.25)) {
    packet.will = {
      topic: pick(rng, topics),
      payload: payload(rng),
      qos: rng.int(0, 2) as 0 | 1 | 2,
      retain: maybe(rng, 0.3),
    }
    if (v5 && maybe(rng, 0.5)) {
      packet.will.properties = {
        willDelayInterval: rng.int(0, 120),
        ...(maybe(rng, 0.3) ? { messageExpiryInterval: rng.int(0, 100) } : {}),
        ...(maybe(rng, 0.3) ? { payloadFormatIndicator: true } : {}),
        ...(maybe(rng, 0.3) ? { userProperties: userProperties(rng) } : {}),
      }
    }
  }
  if (v5 && maybe(rng, 0.7)) {
    packet.properties = {
      ...(maybe(rng, 0.6) ? { sessionExpiryInterval: pick(rng, [0, 10, 3600, 0xffffffff]) } : {}),
      ...(maybe(rng, 0.3) ? { receiveMaximum: pick(rng, [0, 1, 2, 65535]) } : {}),
      ...(maybe(rng, 0.3) ? { maximumPacketSize: pick(rng, [1, 20, 100, 1000, 1 << 20]) } : {}),
      ...(maybe(rng, 0.3) ? { topicAliasMaximum: pick(rng, [0, 1, 5, 65535]) } : {}),
      ...(maybe(rng, 0.1) ? { requestResponseInformation: true, requestProblemInformation: false } : {}),
      ...(maybe(rng, 0.2) ? { userProperties: userProperties(rng) } : {}),
      ...(maybe(rng, 0.05) ? { authenticationMethod: 'SCRAM-SHA-1', authenticationData: randomBytes(rng, 4) } : {}),
    }
  }
  return packet
}

function packetId(rng: Rng): number {
  return maybe(rng, 0.7) ? rng.int(1, 20) : rng.int(1, 65535)
}

/** One packet after CONNECT; mostly client packets, sometimes ones only a server may send. */
function laterPacket(rng: Rng, protocolVersion: 3 | 4 | 5): Packet {
  const v5 = protocolVersion === 5
  const roll = rng.next()
  if (roll < 0.35) {
    const qos = rng.int(0, 2) as 0 | 1 | 2
    const packet: Packet = {
      cmd: 'publish',
      topic: maybe(rng, 0.9) ? pick(rng, topics) : randomText(rng, 20),
      payload: payload(rng),
      qos,
      retain: maybe(rng, 0.2),
      dup: maybe(rng, 0.1),
      ...(qos > 0 ? { messageId: packetId(rng) } : {}),
    }
    if (v5 && maybe(rng, 0.5)) {
      packet.properties = {
        ...(maybe(rng, 0.4) ? { topicAlias: rng.int(0, 70) } : {}),
        ...(maybe(rng, 0.2) ? { payloadFormatIndicator: true } : {}),
        ...(maybe(rng, 0.2) ? { messageExpiryInterval: rng.int(0, 5) } : {}),
        ...(maybe(rng, 0.1) ? { contentType: randomText(rng, 10) } : {}),
        ...(maybe(rng, 0.1) ? { responseTopic: pick(rng, topics) } : {}),
        ...(maybe(rng, 0.1) ? { correlationData: randomBytes(rng, rng.int(0, 8)) } : {}),
        ...(maybe(rng, 0.2) ? { userProperties: userProperties(rng) } : {}),
        ...(maybe(rng, 0.05) ? { subscriptionIdentifier: rng.int(1, 100) } : {}),
      }
    }
    return packet
  }
  if (roll < 0.5) {
    const subscriptions: ISubscription[] = []
    const count = rng.int(1, 3)
    for (let i = 0; i < count; i++) {
      subscriptions.push({
        topic: maybe(rng, 0.9) ? pick(rng, filters) : randomText(rng, 20),
        qos: rng.int(0, 2) as 0 | 1 | 2,
        ...(v5 ? { nl: maybe(rng, 0.2), rap: maybe(rng, 0.3), rh: rng.int(0, 2) } : {}),
      })
    }
    const packet: Packet = { cmd: 'subscribe', messageId: packetId(rng), subscriptions }
    if (v5 && maybe(rng, 0.4)) {
      packet.properties = {
        ...(maybe(rng, 0.5) ? { subscriptionIdentifier: rng.int(1, 268435455) } : {}),
        ...(maybe(rng, 0.5)
          ? { userProperties: { 'cairn-replay': pick(rng, ['earliest', '-5m', '0', 'nonsense', '2025-01-01']) } }
          : {}),
      }
    }
    return packet
  }
  if (roll < 0.55) {
    const unsubscriptions = Array.from({ length: rng.int(1, 3) }, () => pick(rng, filters))
    return { cmd: 'unsubscribe', messageId: packetId(rng), unsubscriptions }
  }
  if (roll < 0.75) {
    const cmd = pick(rng, ['puback', 'pubrec', 'pubrel', 'pubcomp'] as const)
    return {
      cmd,
      messageId: packetId(rng),
      ...(v5 && maybe(rng, 0.3) ? { reasonCode: pick(rng, [0, 0x10, 0x80, 0x92, 0x97]) } : {}),
    }
  }
  if (roll < 0.82) return { cmd: 'pingreq' }
  if (roll < 0.87) {
    return {
      cmd: 'disconnect',
      ...(v5 && maybe(rng, 0.6)
        ? {
            reasonCode: pick(rng, [0, 4, 0x80]),
            ...(maybe(rng, 0.5) ? { properties: { sessionExpiryInterval: pick(rng, [0, 5, 3600]) } } : {}),
          }
        : {}),
    }
  }
  if (roll < 0.89) return { cmd: 'auth', reasonCode: pick(rng, [0, 0x18, 0x19]) }
  if (roll < 0.92) return connectPacket(rng, protocolVersion)
  return pick<Packet>(rng, [
    { cmd: 'connack', sessionPresent: false, returnCode: 0, reasonCode: 0 },
    { cmd: 'suback', messageId: 1, granted: [0] },
    { cmd: 'unsuback', messageId: 1, granted: [] },
    { cmd: 'pingresp' },
  ])
}

/** mqtt-packet refuses some combinations the generator makes (it validates): those are skipped. */
function encode(packet: Packet, protocolVersion: number): Buffer | undefined {
  try {
    return mqttPacket.generate(packet, { protocolVersion })
  } catch {
    return undefined
  }
}

/** The packet with its Remaining Length replaced: huge, malformed (five bytes), or just wrong. */
function withBadLength(rng: Rng, packet: Buffer): Buffer {
  let end = 1
  while (end < packet.length && ((packet[end] as number) & 0x80) !== 0) end++
  const body = packet.subarray(end + 1)
  const length = pick(rng, [
    [...writeVarint(268_435_455)],
    [...writeVarint(maxPacketBytes + rng.int(0, 10))],
    [0xff, 0xff, 0xff, 0xff, 0x7f],
    [0x80, 0x80, 0x80, 0x80],
    [...writeVarint(Math.max(0, body.length + rng.int(-3, 3)))],
    [0x80, 0x00],
  ])
  return Buffer.concat([packet.subarray(0, 1), Buffer.from(length), body])
}

function mutate(rng: Rng, bytes: Buffer): Buffer {
  const out = Buffer.from(bytes)
  const flips = rng.int(1, 8)
  for (let i = 0; i < flips && out.length > 0; i++) {
    const at = rng.int(0, out.length - 1)
    out[at] = maybe(rng, 0.5) ? (out[at] as number) ^ (1 << rng.int(0, 7)) : rng.int(0, 255)
  }
  return out
}

function splice(rng: Rng, bytes: Buffer): Buffer {
  const at = rng.int(0, bytes.length)
  if (maybe(rng, 0.5))
    return Buffer.concat([bytes.subarray(0, at), randomBytes(rng, rng.int(1, 16)), bytes.subarray(at)])
  return Buffer.concat([bytes.subarray(0, at), bytes.subarray(Math.min(bytes.length, at + rng.int(1, 16)))])
}

/** Random write boundaries: one chunk, single bytes, or random sizes. */
function chunked(rng: Rng, bytes: Buffer): Uint8Array[] {
  const roll = rng.next()
  if (roll < 0.5 || bytes.length === 0) return [bytes]
  if (roll < 0.6 && bytes.length <= 300) return [...bytes].map((b) => Uint8Array.of(b))
  const chunks: Uint8Array[] = []
  for (let at = 0; at < bytes.length;) {
    const size = rng.int(1, Math.max(1, Math.min(bytes.length - at, 64)))
    chunks.push(bytes.subarray(at, at + size))
    at += size
  }
  return chunks
}

export function makeInput(rng: Rng): FuzzInput {
  const protocolVersion = pick(rng, [4, 4, 5, 5, 5, 3] as const)
  const packets: Buffer[] = []
  const connect = encode(connectPacket(rng, protocolVersion), protocolVersion)
  if (connect !== undefined && maybe(rng, 0.97)) packets.push(connect)
  const count = rng.int(0, 10)
  for (let i = 0; i < count; i++) {
    const packet = encode(laterPacket(rng, protocolVersion), protocolVersion)
    if (packet !== undefined) packets.push(packet)
  }
  let kind: string
  const roll = rng.next()
  if (roll < 0.3) kind = 'valid'
  else if (roll < 0.5) {
    kind = 'flipped'
    const at = rng.int(0, Math.max(0, packets.length - 1))
    if (packets[at] !== undefined) packets[at] = mutate(rng, packets[at])
  } else if (roll < 0.6) {
    kind = 'flipped-anywhere'
  } else if (roll < 0.7) {
    kind = 'bad-length'
    const at = rng.int(0, Math.max(0, packets.length - 1))
    if (packets[at] !== undefined) packets[at] = withBadLength(rng, packets[at])
  } else if (roll < 0.78) {
    kind = 'spliced'
  } else if (roll < 0.86) {
    kind = 'truncated'
  } else if (roll < 0.93) {
    kind = 'reordered'
    for (let i = packets.length - 1; i > 1; i--) {
      const j = rng.int(1, i)
      ;[packets[i], packets[j]] = [packets[j] as Buffer, packets[i] as Buffer]
    }
    if (packets.length > 1 && maybe(rng, 0.5)) packets.push(packets[rng.int(1, packets.length - 1)] as Buffer)
  } else if (roll < 0.97) {
    kind = 'garbage-after-connect'
    packets.splice(1, packets.length, randomBytes(rng, rng.int(1, 300)))
  } else {
    kind = 'garbage'
    packets.splice(0, packets.length, randomBytes(rng, rng.int(1, 300)))
  }
  let bytes: Buffer = Buffer.concat(packets)
  if (kind === 'flipped-anywhere') bytes = mutate(rng, bytes)
  else if (kind === 'spliced') bytes = splice(rng, bytes)
  else if (kind === 'truncated') bytes = bytes.subarray(0, rng.int(0, bytes.length))
  return { kind: `v${protocolVersion}-${kind}`, chunks: chunked(rng, bytes), lingers: maybe(rng, 0.5) }
}

// ---- running inputs ----

/** An in-memory connection that behaves like a TCP socket: when one side ends, the other ends too. */
function socketPair(): [client: Duplex, server: Duplex] {
  const [client, server] = duplexPair({ allowHalfOpen: false })
  client.on('error', () => undefined)
  return [client, server]
}

function within<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`hang: ${what()}`)), ms)
    }),
  ])
}

export interface CaseResult {
  /** The broker closed the connection before the client left. */
  closedByBroker: boolean
  /** The broker accepted the CONNECT (CONNACK 0). */
  accepted: boolean
  /** Packets the broker sent. */
  replies: number
  /** Problems found (empty when fine). */
  problems: string[]
}

/** Sends one input over a fresh connection, lets the client leave, and checks what came back. */
export async function runInput(target: FuzzTarget, input: FuzzInput): Promise<CaseResult> {
  const [client, server] = socketPair()
  const problems: string[] = []
  let closedByBroker = false
  let clientLeft = false
  const serverClosed = once(server, 'close').then(() => {
    if (!clientLeft) closedByBroker = true
  })
  const replies: Buffer[] = []
  client.on('data', (chunk: Buffer) => replies.push(chunk))
  const connection = target.frontEnd.handle(server)
  for (const chunk of input.chunks) client.write(chunk)
  // Half of the clients stay a few turns (commits, then the deliveries and commits those set off), half leave at once.
  if (input.lingers) {
    for (let turn = 0; turn < lingerTurns; turn++) {
      await new Promise((resolve) => setImmediate(resolve))
      await target.store.flush()
    }
  }
  clientLeft = true
  client.end()
  await within(serverClosed, closeTimeoutMs, () => `the broker kept a connection open after its client left`)
  // Everything the broker wrote must parse, in the version of the CONNECT it accepted.
  const parser = mqttPacket.parser({ protocolVersion: connection.protocolVersion })
  let first: string | undefined
  let accepted = false
  let count = 0
  parser.on('packet', (packet: Packet) => {
    count++
    if (first === undefined && packet.cmd === 'connack') accepted = (packet.reasonCode ?? packet.returnCode ?? 0) === 0
    first ??= packet.cmd
  })
  parser.on('error', (error: Error) =>
    problems.push(`the broker sent a packet that does not parse (v${connection.protocolVersion}): ${error.message}`),
  )
  const output = Buffer.concat(replies)
  parser.parse(output)
  const framing = framingProblem(output)
  if (framing !== undefined && problems.length === 0)
    problems.push(`the broker's output is not whole packets: ${framing}`)
  if (first !== undefined && first !== 'connack' && first !== 'disconnect')
    problems.push(`the broker's first packet was ${first}, not CONNACK`)
  return { closedByBroker, accepted, replies: count, problems }
}

/** Walks fixed headers and Remaining Lengths: the bytes must be whole packets, end to end. */
function framingProblem(bytes: Buffer): string | undefined {
  let at = 0
  while (at < bytes.length) {
    let length = 0
    let multiplier = 1
    let i = at + 1
    for (;;) {
      if (i >= bytes.length) return `the packet at byte ${at} ends inside its fixed header`
      const byte = bytes[i++] as number
      length += (byte & 0x7f) * multiplier
      multiplier *= 128
      if ((byte & 0x80) === 0) break
      if (i - at > 4) return `the packet at byte ${at} has a Remaining Length of more than four bytes`
    }
    if (i + length > bytes.length) return `the packet at byte ${at} needs ${length} bytes, ${bytes.length - i} follow`
    at = i + length
  }
  return undefined
}

/** A normal client must still connect, subscribe, publish and receive its own message, at QoS 1. */
export async function healthCheck(target: FuzzTarget, protocolVersion: 4 | 5, id: string): Promise<void> {
  const [client, server] = socketPair()
  target.frontEnd.handle(server)
  const parser = mqttPacket.parser({ protocolVersion })
  const received: Packet[] = []
  let wake: (() => void) | undefined
  let broken: string | undefined
  parser.on('packet', (packet: Packet) => {
    received.push(packet)
    wake?.()
  })
  parser.on('error', (error: Error) => {
    broken ??= `a packet from the broker does not parse: ${error.message}`
    wake?.()
  })
  let closed = false
  client.on('data', (chunk: Buffer) => parser.parse(chunk))
  client.on('close', () => {
    closed = true
    wake?.()
  })
  const send = (packet: Packet): void => void client.write(mqttPacket.generate(packet, { protocolVersion }))
  const next = async <C extends Packet['cmd']>(cmd: C, what: string): Promise<Extract<Packet, { cmd: C }>> => {
    const found = (): Packet | undefined => received.find((p) => p.cmd === cmd)
    await within(
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (found() !== undefined) resolve()
          else if (broken !== undefined) reject(new Error(`health check v${protocolVersion}: ${broken}`))
          else if (closed) reject(new Error(`health check v${protocolVersion}: connection closed waiting for ${what}`))
        }
        wake = check
        check()
      }),
      closeTimeoutMs,
      () => `health check v${protocolVersion}: no ${what} (got ${received.map((p) => p.cmd).join(', ')})`,
    )
    const packet = found() as Extract<Packet, { cmd: C }>
    received.splice(received.indexOf(packet), 1)
    return packet
  }
  const topic = `health/${id}/x`
  const body = Buffer.from(`health ${id}`)
  send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion, clientId: `health-${id}`, clean: true, keepalive: 0 })
  const connack = await next('connack', 'CONNACK')
  if ((connack.reasonCode ?? connack.returnCode ?? 0) !== 0)
    throw new Error(`health check v${protocolVersion}: CONNACK ${connack.reasonCode ?? connack.returnCode}`)
  send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `health/${id}/#`, qos: 1 }] })
  const suback = await next('suback', 'SUBACK')
  if (suback.granted[0] !== 1)
    throw new Error(`health check v${protocolVersion}: SUBACK ${JSON.stringify(suback.granted)}`)
  send({ cmd: 'publish', topic, payload: body, qos: 1, messageId: 2, retain: false, dup: false })
  await next('puback', 'PUBACK')
  const delivery = await next('publish', 'the delivery of its own message')
  if (delivery.topic !== topic || !Buffer.from(delivery.payload).equals(body) || delivery.qos !== 1)
    throw new Error(`health check v${protocolVersion}: delivered ${delivery.topic} qos ${delivery.qos}`)
  send({ cmd: 'puback', messageId: delivery.messageId ?? 0 })
  send({ cmd: 'disconnect' })
  client.end()
  if (!closed) await within(once(client, 'close'), closeTimeoutMs, () => 'health check: close after DISCONNECT')
}

/** Heap in use after a full collection, or undefined where gc is not available. */
export function heapAfterGc(gc: (() => void) | undefined): number | undefined {
  if (gc === undefined) return undefined
  gc()
  gc()
  return process.memoryUsage().heapUsed
}
