// MQTT 3.1.1 on the wire for the load generator: packets encoded once with mqtt-packet, then copied and patched
// in place (packet id, sequence, timestamp), and a frame splitter that only looks at fixed headers, so the
// generator spends its time on the socket rather than on a codec.
//
// Payload layout (payloadBytes >= 14): u32 LE sequence per publisher, u16 LE publisher index, f64 LE send time
// (ms since the epoch, sub-millisecond: performance.timeOrigin + performance.now(), comparable across threads).

import mqttPacket from 'mqtt-packet'

export const payloadHeaderBytes = 14
export const nowMs = (): number => performance.timeOrigin + performance.now()

export function encode(packet: mqttPacket.Packet): Buffer {
  return mqttPacket.generate(packet, { protocolVersion: 4 })
}

export function connectPacket(clientId: string): Buffer {
  return encode({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean: true,
    clientId,
    keepalive: 0,
  })
}

export function subscribePacket(filter: string, qos: 0 | 1): Buffer {
  return encode({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos }] })
}

export const disconnectPacket = (): Buffer => encode({ cmd: 'disconnect' })

export function pubackPacket(id: number): Buffer {
  return Buffer.from([0x40, 0x02, id >> 8, id & 0xff])
}

/** One publisher's PUBLISH, encoded once; `fill` writes `count` copies with fresh ids, sequences and times. */
export class PublishTemplate {
  readonly packet: Buffer
  readonly #payloadAt: number
  readonly #idAt: number
  readonly #qos: 0 | 1

  constructor(topic: string, qos: 0 | 1, payloadBytes: number) {
    if (payloadBytes < payloadHeaderBytes) throw new Error(`payload must be at least ${payloadHeaderBytes} bytes`)
    this.packet = encode({
      cmd: 'publish',
      topic,
      qos,
      dup: false,
      retain: false,
      messageId: 1,
      payload: Buffer.alloc(payloadBytes, 0x61),
    })
    this.#payloadAt = this.packet.length - payloadBytes
    this.#idAt = this.#payloadAt - 2
    this.#qos = qos
  }

  /** Packet ids are seq % 65535 + 1: unique while fewer than 65535 are in flight on the connection. */
  fill(publisher: number, firstSeq: number, count: number): Buffer {
    const len = this.packet.length
    const out = Buffer.allocUnsafe(len * count)
    const ts = nowMs()
    for (let i = 0; i < count; i++) {
      const at = i * len
      this.packet.copy(out, at)
      const seq = firstSeq + i
      if (this.#qos === 1) out.writeUInt16BE((seq % 65535) + 1, at + this.#idAt)
      out.writeUInt32LE(seq >>> 0, at + this.#payloadAt)
      out.writeUInt16LE(publisher, at + this.#payloadAt + 4)
      out.writeDoubleLE(ts, at + this.#payloadAt + 6)
    }
    return out
  }
}

/**
 * Splits a byte stream into MQTT packets: calls `onPacket(type, flags, buf, bodyStart, end)` for each whole one.
 * Keeps the unfinished tail between chunks.
 */
export class FrameReader {
  #tail: Buffer | null = null

  push(chunk: Buffer, onPacket: (type: number, flags: number, buf: Buffer, body: number, end: number) => void): void {
    const buf = this.#tail === null ? chunk : Buffer.concat([this.#tail, chunk])
    this.#tail = null
    let at = 0
    while (at < buf.length) {
      const start = at
      if (buf.length - at < 2) break
      const first = buf[at] as number
      let length = 0
      let shift = 0
      let p = at + 1
      let complete = false
      while (p < buf.length && p - at <= 4) {
        const byte = buf[p++] as number
        length |= (byte & 0x7f) << shift
        shift += 7
        if ((byte & 0x80) === 0) {
          complete = true
          break
        }
      }
      if (!complete || p + length > buf.length) {
        at = start
        break
      }
      onPacket(first >> 4, first & 0x0f, buf, p, p + length)
      at = p + length
    }
    if (at < buf.length) this.#tail = buf.subarray(at)
  }
}

/** Reads the payload header of a PUBLISH (type 3, MQTT 3.1.1) framed by FrameReader. */
export function publishPayloadAt(flags: number, buf: Buffer, body: number): { payload: number; id: number } {
  const topicLength = buf.readUInt16BE(body)
  let at = body + 2 + topicLength
  let id = 0
  if ((flags & 0x06) !== 0) {
    id = buf.readUInt16BE(at)
    at += 2
  }
  return { payload: at, id }
}

/** A growable array of doubles (latency samples) that is cheap to post between threads. */
export class Samples {
  #data = new Float64Array(1024)
  length = 0

  push(value: number): void {
    if (this.length === this.#data.length) {
      const bigger = new Float64Array(this.#data.length * 2)
      bigger.set(this.#data)
      this.#data = bigger
    }
    this.#data[this.length++] = value
  }

  toArray(): Float64Array {
    return this.#data.slice(0, this.length)
  }
}
