import type { Packet } from 'mqtt-packet'

// What mqtt-packet lets through but the MQTT spec calls malformed. mqtt-packet reads past the end of a
// short packet (a packet id of -1, a truncated property as null) and keeps a repeated property as an
// array; stored and delivered later, such values would make generate() throw at every delivery.

/** How each MQTT 5 property is encoded (§2.2.2.2), to check what mqtt-packet parsed. */
const propertyKinds: Record<string, 'flag' | 'u8' | 'u16' | 'u32' | 'size' | 'varint' | 'string' | 'binary' | 'pairs'> =
  {
    payloadFormatIndicator: 'flag',
    messageExpiryInterval: 'u32',
    contentType: 'string',
    responseTopic: 'string',
    correlationData: 'binary',
    subscriptionIdentifier: 'varint',
    sessionExpiryInterval: 'u32',
    assignedClientIdentifier: 'string',
    serverKeepAlive: 'u16',
    authenticationMethod: 'string',
    authenticationData: 'binary',
    requestProblemInformation: 'flag',
    willDelayInterval: 'u32',
    requestResponseInformation: 'flag',
    responseInformation: 'string',
    serverReference: 'string',
    reasonString: 'string',
    receiveMaximum: 'u16',
    topicAliasMaximum: 'u16',
    topicAlias: 'u16',
    maximumQoS: 'u8',
    retainAvailable: 'flag',
    userProperties: 'pairs',
    maximumPacketSize: 'size',
    wildcardSubscriptionAvailable: 'flag',
    subscriptionIdentifiersAvailable: 'flag',
    sharedSubscriptionAvailable: 'flag',
  }

function validProperty(kind: (typeof propertyKinds)[string], value: unknown): boolean {
  const integer = (min: number, max: number): boolean =>
    typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max
  switch (kind) {
    case 'flag':
      return typeof value === 'boolean'
    case 'u8':
      return integer(0, 0xff)
    case 'u16':
      return integer(0, 0xffff)
    case 'u32':
      return integer(0, 0xffffffff)
    case 'size':
      return integer(1, 0xffffffff) // [MQTT-3.1.2-?] a Maximum Packet Size of 0 is a Protocol Error
    case 'varint':
      return integer(1, 268_435_455) // [MQTT-3.8.2.1.2] a Subscription Identifier of 0 is a Protocol Error
    case 'string':
      return typeof value === 'string'
    case 'binary':
      return Buffer.isBuffer(value)
    case 'pairs':
      return (
        typeof value === 'object' &&
        value !== null &&
        !Array.isArray(value) &&
        Object.values(value).every(
          (v) => typeof v === 'string' || (Array.isArray(v) && v.every((item) => typeof item === 'string')),
        )
      )
  }
}

/**
 * mqtt-packet lets a truncated property through as null or -1, and a repeated one as an array (a
 * Protocol Error for all but User Property): kept and delivered later, such a value made generate()
 * throw at every delivery, crashing the broker. Checked for the packet and a CONNECT's will.
 */
export function propertiesProblem(packet: Packet): string | undefined {
  const sets: unknown[] = ['properties' in packet ? packet.properties : undefined]
  if (packet.cmd === 'connect') sets.push(packet.will?.properties)
  for (const properties of sets) {
    if (properties === undefined) continue
    if (typeof properties !== 'object' || properties === null) return `${packet.cmd} with malformed properties`
    for (const [name, value] of Object.entries(properties)) {
      const kind = propertyKinds[name]
      if (kind !== undefined && !validProperty(kind, value))
        return `${packet.cmd} property ${name}: malformed, out of range or repeated`
    }
  }
  return undefined
}

export function malformation(packet: Packet): string | undefined {
  // [MQTT-2.2.1-3] a packet identifier is 1..65535, inside the packet.
  const valid = (id: number | undefined): boolean => id !== undefined && Number.isInteger(id) && id >= 1 && id <= 65_535
  const badId = `${packet.cmd} without a valid packet identifier`
  switch (packet.cmd) {
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      return (packet.length ?? 2) < 2 || !valid(packet.messageId) ? badId : undefined
    case 'subscribe':
      if (!valid(packet.messageId)) return badId
      // [MQTT-3.8.3-3] at least one topic filter.
      return packet.subscriptions.length === 0 ? 'SUBSCRIBE without a topic filter' : undefined
    case 'unsubscribe':
      if (!valid(packet.messageId)) return badId
      // [MQTT-3.10.3-2] at least one topic filter.
      return packet.unsubscriptions.length === 0 ? 'UNSUBSCRIBE without a topic filter' : undefined
    case 'publish':
      return packet.qos > 0 && !valid(packet.messageId) ? badId : undefined
    default:
      return undefined
  }
}
