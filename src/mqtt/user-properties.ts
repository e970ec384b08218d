import type { Parser } from 'mqtt-packet'

/**
 * [MQTT-3.3.2-18] user properties are forwarded in the order they were sent. mqtt-packet parses and
 * generates them as an object, which groups a repeated key (`a:1 b:2 a:3` becomes `a:[1,3] b:2`). So the
 * parser is wrapped to also record the pairs in wire order, and PUBLISH packets are generated without
 * them and get the ordered pairs spliced into their properties.
 */
export type UserPropertyPair = readonly [key: string, value: string]

/** On a parsed `properties` object: its user properties in wire order. */
export const orderedUserProperties = Symbol('cairn.mqtt.orderedUserProperties')

interface ParserInternals {
  _parseProperties(): unknown
  _parseStringPair(): { name: string; value: string }
}

/** Makes `parser` attach the ordered pairs to every properties object that has user properties. */
export function recordUserPropertyOrder(parser: Parser): void {
  const internals = parser as unknown as ParserInternals
  const parseProperties = internals._parseProperties.bind(parser)
  const parseStringPair = internals._parseStringPair.bind(parser)
  let pairs: UserPropertyPair[] = []
  internals._parseStringPair = () => {
    const pair = parseStringPair()
    pairs.push([pair.name, pair.value])
    return pair
  }
  internals._parseProperties = () => {
    const outer = pairs
    pairs = []
    const result = parseProperties()
    if (typeof result === 'object' && result !== null && 'userProperties' in result) {
      Object.defineProperty(result, orderedUserProperties, { value: pairs, enumerable: false })
    }
    pairs = outer
    return result
  }
}

export function userPropertyPairsOf(properties: object | undefined): UserPropertyPair[] | undefined {
  return (properties as { [orderedUserProperties]?: UserPropertyPair[] } | undefined)?.[orderedUserProperties]
}

/**
 * Adds `pairs` at the end of the properties of a generated v5 PUBLISH (which must carry no user
 * properties of its own): fixed header, Remaining Length, topic, packet id if QoS > 0, properties, payload.
 */
export function spliceUserProperties(packet: Buffer, pairs: readonly UserPropertyPair[]): Buffer {
  if (pairs.length === 0) return packet
  const encoded = Buffer.concat(
    pairs.flatMap(([key, value]) => [Buffer.from([0x26]), utf8String(key), utf8String(value)]),
  )
  const remaining = readVarint(packet, 1)
  const topicStart = 1 + remaining.bytes
  const topicLength = packet.readUInt16BE(topicStart)
  const qos = (packet[0]! >> 1) & 3
  const propertiesLengthAt = topicStart + 2 + topicLength + (qos > 0 ? 2 : 0)
  const properties = readVarint(packet, propertiesLengthAt)
  const propertiesEnd = propertiesLengthAt + properties.bytes + properties.value
  const newPropertiesLength = properties.value + encoded.length
  const newPropertiesVarint = writeVarint(newPropertiesLength)
  const newRemaining = remaining.value - properties.bytes + newPropertiesVarint.length + encoded.length
  return Buffer.concat([
    packet.subarray(0, 1),
    writeVarint(newRemaining),
    packet.subarray(topicStart, propertiesLengthAt),
    newPropertiesVarint,
    packet.subarray(propertiesLengthAt + properties.bytes, propertiesEnd),
    encoded,
    packet.subarray(propertiesEnd),
  ])
}

function utf8String(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8')
  const out = Buffer.allocUnsafe(2 + bytes.length)
  out.writeUInt16BE(bytes.length, 0)
  bytes.copy(out, 2)
  return out
}

function readVarint(buffer: Buffer, at: number): { value: number; bytes: number } {
  let value = 0
  let multiplier = 1
  for (let i = 0; i < 4; i++) {
    const byte = buffer[at + i]!
    value += (byte & 0x7f) * multiplier
    if ((byte & 0x80) === 0) return { value, bytes: i + 1 }
    multiplier *= 128
  }
  throw new RangeError('malformed variable byte integer in a generated packet')
}

/** MQTT's Variable Byte Integer (§1.5.5). */
export function writeVarint(value: number): Buffer {
  const bytes: number[] = []
  do {
    let byte = value % 128
    value = Math.floor(value / 128)
    if (value > 0) byte |= 0x80
    bytes.push(byte)
  } while (value > 0)
  return Buffer.from(bytes)
}
