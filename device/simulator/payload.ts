// What a simulated device puts in a PUBLISH: who sent it, its sequence number and when, so that a
// receiver can check gaps, duplicates and order from the payload alone. Three formats:
//
//   json    {"device":"sim-0001","seq":12,"ts":1763784000000,"value":21.53,"pad":"xxxx"}
//   text    sim-0001 12 1763784000000 21.53 xxxx
//   binary  0xCA 0x1E | version 1 (u8) | id length (u8) | id (UTF-8) | seq (u32 BE) | ts ms (f64 BE)
//           | value (f32 BE) | zero padding
//
// Each is padded up to the requested size (json: JSON whitespace where the pad field does not fit); a
// payload is never cut below what its fields need. The device examples (shell, Python, MicroPython,
// ESP-IDF) write the json format too, so one decoder checks them all.

export const payloadFormats = ['json', 'text', 'binary'] as const
export type PayloadFormat = (typeof payloadFormats)[number]

export interface Reading {
  deviceId: string
  /** Per device, from 1, one step per message (across all of the device's topics). */
  seq: number
  timestampMs: number
  value: number
}

const binaryMagic0 = 0xca
const binaryMagic1 = 0x1e
const binaryVersion = 1
const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

export function encodePayload(reading: Reading, format: PayloadFormat, payloadBytes: number): Buffer {
  switch (format) {
    case 'json': {
      const head = `{"device":${JSON.stringify(reading.deviceId)},"seq":${reading.seq},"ts":${reading.timestampMs},"value":${reading.value}`
      const pad = payloadBytes - head.length - ',"pad":""}'.length
      if (pad >= 0) return Buffer.from(`${head},"pad":"${'x'.repeat(pad)}"}`)
      // Too little room for the pad field: JSON whitespace makes up the size.
      return Buffer.from(`${head}${' '.repeat(Math.max(0, payloadBytes - head.length - 1))}}`)
    }
    case 'text': {
      const head = `${reading.deviceId} ${reading.seq} ${reading.timestampMs} ${reading.value}`
      const pad = payloadBytes - head.length - 1
      return Buffer.from(pad >= 0 ? `${head} ${'x'.repeat(pad)}` : head)
    }
    case 'binary': {
      const id = encoder.encode(reading.deviceId)
      if (id.length > 255) throw new RangeError(`device id longer than 255 bytes: ${reading.deviceId}`)
      const headBytes = 4 + id.length + 4 + 8 + 4
      const out = Buffer.alloc(Math.max(headBytes, payloadBytes))
      out[0] = binaryMagic0
      out[1] = binaryMagic1
      out[2] = binaryVersion
      out[3] = id.length
      out.set(id, 4)
      const at = 4 + id.length
      out.writeUInt32BE(reading.seq, at)
      out.writeDoubleBE(reading.timestampMs, at + 4)
      out.writeFloatBE(reading.value, at + 12)
      return out
    }
  }
}

/** The reading in a payload of any of the three formats, or undefined if it is not one. */
export function decodePayload(payload: Uint8Array): Reading | undefined {
  if (payload.length === 0) return undefined
  if (payload[0] === binaryMagic0) return decodeBinary(Buffer.from(payload.buffer, payload.byteOffset, payload.length))
  let text: string
  try {
    text = decoder.decode(payload)
  } catch {
    return undefined
  }
  return text.startsWith('{') ? decodeJson(text) : decodeText(text)
}

function decodeBinary(payload: Buffer): Reading | undefined {
  if (payload.length < 4 || payload[1] !== binaryMagic1 || payload[2] !== binaryVersion) return undefined
  const idLength = payload[3] ?? 0
  if (payload.length < 4 + idLength + 16) return undefined
  let deviceId: string
  try {
    deviceId = decoder.decode(payload.subarray(4, 4 + idLength))
  } catch {
    return undefined
  }
  const at = 4 + idLength
  return {
    deviceId,
    seq: payload.readUInt32BE(at),
    timestampMs: payload.readDoubleBE(at + 4),
    value: payload.readFloatBE(at + 12),
  }
}

function decodeJson(text: string): Reading | undefined {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined
  const { device, seq, ts, value } = parsed as Record<string, unknown>
  if (typeof device !== 'string' || !isSeq(seq) || typeof ts !== 'number') return undefined
  return { deviceId: device, seq, timestampMs: ts, value: typeof value === 'number' ? value : Number.NaN }
}

function decodeText(text: string): Reading | undefined {
  const [deviceId, seq, ts, value] = text.split(' ')
  if (deviceId === undefined || deviceId === '' || seq === undefined || ts === undefined) return undefined
  const reading = { deviceId, seq: Number(seq), timestampMs: Number(ts), value: Number(value) }
  return isSeq(reading.seq) && Number.isFinite(reading.timestampMs) ? reading : undefined
}

function isSeq(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffffffff
}
