import { randomUUID } from 'node:crypto'
import { connect as netConnect } from 'node:net'
import mqtt, { type IClientOptions, type IConnackPacket, type IDisconnectPacket, type MqttClient } from 'mqtt'
import mqttPacket, { type IPublishPacket, type Packet } from 'mqtt-packet'
import { expect, onTestFinished } from 'vitest'

export type ProtocolVersion = 4 | 5

/** Both protocol versions, for describe.each. */
export const versions: Array<{ v: ProtocolVersion }> = [{ v: 4 }, { v: 5 }]

export interface Received {
  topic: string
  payload: string
  packet: IPublishPacket
}

export interface TestClient {
  readonly client: MqttClient
  readonly clientId: string
  readonly connack: IConnackPacket
  /**
   * Every application message MQTT.js emitted, in emit order. MQTT.js emits a QoS 2 message only
   * when its PUBREL arrives, so a later QoS 0/1 message can come first here: see `wire`.
   */
  readonly messages: Received[]
  /** Every PUBLISH packet as it came off the wire, in the order the broker sent them (resends included). */
  readonly wire: Received[]
  /** DISCONNECT packets sent by the server (v5). */
  readonly disconnects: IDisconnectPacket[]
  /** Errors the client reported (refusals, protocol errors). */
  readonly errors: Error[]
  readonly closed: boolean
  /** Resolves once `count` messages (in total) were received; returns them. */
  waitForMessages(count: number): Promise<Received[]>
  /** Resolves when the network connection has closed. */
  waitClosed(): Promise<void>
  /** Sends DISCONNECT and closes (normal end). */
  end(): Promise<void>
  /** Drops the TCP connection without DISCONNECT (abnormal end: the will is published). */
  drop(): Promise<void>
  /** Writes a raw packet, bypassing MQTT.js's own checks. */
  writeRaw(packet: Packet): void
  payloads(): string[]
  /** Payloads in wire order. */
  wirePayloads(): string[]
}

export type ClientOptions = IClientOptions & { protocolVersion: ProtocolVersion }

let counter = 0

/** A fresh client id that is unique across test files running in parallel. */
export function uniqueId(prefix = 'c'): string {
  return `${prefix}-${++counter}-${randomUUID().slice(0, 8)}`
}

function clientOptions(options: ClientOptions): IClientOptions {
  return { reconnectPeriod: 0, connectTimeout: 10_000, clientId: uniqueId(), ...options }
}

/**
 * Connects an MQTT.js client with automatic reconnect off. Message collection starts before
 * CONNECT goes out, so messages sent right after CONNACK (a resumed session's backlog) are kept.
 * `setup` runs on the client before it connects (e.g. to override handleMessage). The client is
 * closed when the test finishes.
 */
export async function connectClient(
  url: string,
  options: ClientOptions,
  setup?: (client: MqttClient) => void,
): Promise<TestClient> {
  const opts = clientOptions(options)
  const client = mqtt.connect(url, opts)
  const messages: Received[] = []
  const wire: Received[] = []
  const disconnects: IDisconnectPacket[] = []
  const errors: Error[] = []
  let closed = false
  let markClosed: () => void = () => undefined
  const closedPromise = new Promise<void>((resolve) => {
    markClosed = resolve
  })
  client.on('message', (topic, payload, packet) => messages.push({ topic, payload: payload.toString(), packet }))
  client.on('packetreceive', (packet) => {
    if (packet.cmd === 'publish')
      wire.push({ topic: packet.topic.toString(), payload: packet.payload.toString(), packet })
  })
  client.on('disconnect', (packet) => disconnects.push(packet))
  client.on('error', (error) => errors.push(error))
  client.on('close', () => {
    closed = true
    markClosed()
  })
  onTestFinished(() => {
    client.end(true)
  })
  setup?.(client)
  const connack = await new Promise<IConnackPacket>((resolve, reject) => {
    client.once('connect', resolve)
    client.once('error', reject)
    client.once('close', () => reject(new Error('connection closed before CONNACK')))
  })
  return {
    client,
    clientId: opts.clientId as string,
    connack,
    messages,
    wire,
    disconnects,
    errors,
    get closed() {
      return closed
    },
    async waitForMessages(count) {
      await expect.poll(() => messages.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(count)
      return messages
    },
    waitClosed: () => closedPromise,
    async end() {
      await client.endAsync()
      await closedPromise
    },
    async drop() {
      client.stream.destroy()
      await closedPromise
      client.end(true)
    },
    writeRaw(packet) {
      client.stream.write(mqttPacket.generate(packet, { protocolVersion: opts.protocolVersion ?? 4 }))
    },
    payloads: () => messages.map((m) => m.payload),
    wirePayloads: () => wire.map((m) => m.payload),
  }
}

/** Connects expecting a refusal; returns the CONNACK return code (3.1.1) or reason code (5). */
export async function connectRefused(url: string, options: ClientOptions): Promise<number> {
  const client = mqtt.connect(url, clientOptions(options))
  onTestFinished(() => {
    client.end(true)
  })
  const connack = await new Promise<IConnackPacket>((resolve, reject) => {
    client.on('packetreceive', (packet) => {
      if (packet.cmd === 'connack') resolve(packet)
    })
    client.on('close', () => reject(new Error('closed without CONNACK')))
    client.on('error', () => undefined)
  })
  const code = options.protocolVersion === 5 ? connack.reasonCode : connack.returnCode
  return code ?? -1
}

/** Connects and subscribes; convenience for subscribers. */
export async function subscriber(
  url: string,
  options: ClientOptions,
  filter: string | string[],
  subscribeOptions: Parameters<MqttClient['subscribeAsync']>[1] = { qos: 2 },
): Promise<TestClient> {
  const c = await connectClient(url, options)
  await c.client.subscribeAsync(filter, subscribeOptions)
  return c
}

/** Resolves with `promise`, or rejects after `ms` (a guard against hangs, not a synchronisation). */
export async function within<T>(promise: Promise<T>, ms = 10_000, what = 'operation'): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not complete within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i)
}

/** A bare MQTT connection (net socket + mqtt-packet) for what MQTT.js refuses to send. */
export interface RawClient {
  readonly packets: Packet[]
  readonly closed: boolean
  /** Sends the packets in one write (so they arrive in one chunk). */
  send(...packets: Packet[]): void
  /** Bytes as they are, for packets that mqtt-packet will not generate. */
  sendBytes(bytes: Buffer): void
  /** Resolves with the first received packet (past or future) that satisfies `predicate`. */
  waitFor(predicate: (packet: Packet) => boolean): Promise<Packet>
  waitClosed(): Promise<void>
}

export async function rawClient(port: number, protocolVersion: ProtocolVersion): Promise<RawClient> {
  const socket = netConnect(port, '127.0.0.1')
  onTestFinished(() => {
    socket.destroy()
  })
  const parser = mqttPacket.parser({ protocolVersion })
  const packets: Packet[] = []
  let closed = false
  const closedPromise = new Promise<void>((resolve) =>
    socket.on('close', () => {
      closed = true
      resolve()
    }),
  )
  socket.on('error', () => undefined)
  parser.on('packet', (packet: Packet) => packets.push(packet))
  socket.on('data', (chunk: Buffer) => parser.parse(chunk))
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  return {
    packets,
    get closed() {
      return closed
    },
    send(...outgoing) {
      socket.write(Buffer.concat(outgoing.map((p) => mqttPacket.generate(p, { protocolVersion }))))
    },
    sendBytes(bytes) {
      socket.write(bytes)
    },
    async waitFor(predicate) {
      await expect.poll(() => packets.some(predicate), { timeout: 10_000 }).toBe(true)
      return packets.find(predicate) as Packet
    },
    waitClosed: () => closedPromise,
  }
}

/** A CONNECT packet for rawClient: persistent (clean session 0 / a session expiry) unless `clean`. */
export function rawConnect(
  v: ProtocolVersion,
  clientId: string,
  o: { clean?: boolean; keepalive?: number } = {},
): Packet {
  const clean = o.clean ?? false
  return {
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: v,
    clientId,
    clean,
    keepalive: o.keepalive ?? 30,
    ...(v === 5 ? { properties: { sessionExpiryInterval: 600 } } : {}),
  }
}
