import type { IPublishPacket, QoS, UserProperties } from 'mqtt-packet'
import type { RecordRow } from '../log/partition-log.ts'
import { decodeHeaders, decodeMeta } from '../log/record-codec.ts'
import type { LogRecord, RecordHeader, RecordInput } from '../log/types.ts'
import { orderedUserProperties, userPropertyPairsOf, type UserPropertyPair } from './user-properties.ts'

/**
 * How an MQTT PUBLISH is kept in the log: key = the MQTT topic (UTF-8), value = the payload,
 * headers = the v5 user properties (so a mirror carries them as Kafka headers), meta = the rest,
 * with short field names because every record pays for them on flash.
 */
export interface MqttRecordMeta {
  /** QoS the message was published with. */
  q: QoS
  /** Publisher's client id (No Local, provenance). */
  c?: string
  r?: true
  /** Payload format indicator: UTF-8. */
  u?: true
  /** Message expiry interval in seconds, from the record timestamp. */
  e?: number
  ct?: string
  rt?: string
  cd?: Uint8Array
}

/** A message on its way to subscribers: from the log, or not logged (retained copies, $SYS, wills without a stream). */
export interface OutgoingMessage {
  topic: string
  payload: Uint8Array
  qos: QoS
  retain: boolean
  timestamp: number
  meta: MqttRecordMeta
  headers: readonly RecordHeader[]
  /** Where it sits in the session stream; -1 when not logged. */
  partition: number
  offset: number
}

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder()
const noBytes = new Uint8Array(0)

/**
 * The last topic seen and its UTF-8 bytes (the record key). Publishers mostly repeat one topic, so
 * a one-entry cache per connection saves an encode per PUBLISH, and the router, seeing the same key
 * object again, saves the decode (`decodeKey`). The bytes are shared by records and never written to.
 */
export interface TopicCache {
  topic: string
  bytes: Uint8Array
}

export function newTopicCache(): TopicCache {
  return { topic: '', bytes: noBytes }
}

/** Keys made here: never written to after, so their decoded topic may be remembered by identity. */
const cachedKeys = new WeakSet<Uint8Array>()

function topicBytes(topic: string, cache: TopicCache | undefined): Uint8Array {
  if (cache === undefined) return textEncoder.encode(topic)
  if (cache.topic !== topic || cache.bytes === noBytes) {
    cache.topic = topic
    cache.bytes = textEncoder.encode(topic)
    cachedKeys.add(cache.bytes)
  }
  return cache.bytes
}

/** Whether `key` came from a TopicCache (immutable, shared by the records of one publisher). */
export function isCachedTopicKey(key: Uint8Array): boolean {
  return cachedKeys.has(key)
}

export function publishToRecord(
  packet: IPublishPacket,
  topic: string,
  clientId: string,
  timestamp: number,
  topicCache?: TopicCache,
): RecordInput {
  const payload = typeof packet.payload === 'string' ? textEncoder.encode(packet.payload) : packet.payload
  const meta: MqttRecordMeta = { q: packet.qos, c: clientId }
  if (packet.retain) meta.r = true
  const props = packet.properties
  const record: RecordInput = { key: topicBytes(topic, topicCache), value: payload, timestamp, meta }
  if (props === undefined) return record
  if (props.payloadFormatIndicator === true) meta.u = true
  if (props.messageExpiryInterval !== undefined) meta.e = props.messageExpiryInterval
  if (props.contentType !== undefined) meta.ct = props.contentType
  if (props.responseTopic !== undefined) meta.rt = props.responseTopic
  if (props.correlationData !== undefined) meta.cd = props.correlationData
  const ordered = userPropertyPairsOf(props)
  if (ordered !== undefined) record.headers = ordered.map(([key, value]) => ({ key, value: textEncoder.encode(value) }))
  else if (props.userProperties !== undefined) record.headers = userPropertiesToHeaders(props.userProperties)
  return record
}

export function recordToMessage(
  record: LogRecord,
  partition: number,
  decodeKey: (key: Uint8Array) => string = decodeTopic,
): OutgoingMessage | undefined {
  if (record.key === null) return undefined
  const meta = isMqttMeta(record.meta) ? record.meta : { q: 1 as QoS }
  return {
    topic: decodeKey(record.key),
    payload: record.value ?? noBytes,
    qos: meta.q,
    retain: meta.r === true,
    timestamp: record.timestamp,
    meta,
    headers: record.headers,
    partition,
    offset: Number(record.offset),
  }
}

/**
 * A record as stored (LogStore.readRows): decoded straight into a message, with no LogRecord and
 * no BigInt offset in between. Undefined for a record without a key (not an MQTT message).
 */
export function rowToMessage(row: RecordRow, partition: number): OutgoingMessage | undefined {
  const [offset, timestamp, key, value, headers, rawMeta] = row
  if (key === null) return undefined
  const decoded = decodeMeta(rawMeta)
  const meta = isMqttMeta(decoded) ? decoded : { q: 1 as QoS }
  return {
    topic: textDecoder.decode(key),
    payload: value ?? noBytes,
    qos: meta.q,
    retain: meta.r === true,
    timestamp,
    meta,
    headers: decodeHeaders(headers),
    partition,
    offset,
  }
}

export function decodeTopic(key: Uint8Array): string {
  return textDecoder.decode(key)
}

/** Seconds left before the message expires, undefined if it never does, <= 0 if it has [MQTT-3.3.2-5]. */
export function remainingExpirySec(message: OutgoingMessage, nowMs: number): number | undefined {
  if (message.meta.e === undefined) return undefined
  return message.meta.e - Math.floor((nowMs - message.timestamp) / 1000)
}

export interface DeliveryOptions {
  qos: QoS
  retain: boolean
  dup: boolean
  messageId: number | undefined
  subscriptionIds: readonly number[]
  protocolVersion: number
  remainingExpirySec: number | undefined
}

/** Ordered user properties of an outgoing PUBLISH, spliced in by the connection (see user-properties.ts). */
export function outgoingUserProperties(packet: IPublishPacket): UserPropertyPair[] | undefined {
  return (packet as { [orderedUserProperties]?: UserPropertyPair[] })[orderedUserProperties]
}

export function addUserProperty(packet: IPublishPacket, key: string, value: string): void {
  const pairs = outgoingUserProperties(packet)
  if (pairs !== undefined) pairs.push([key, value])
  else Object.defineProperty(packet, orderedUserProperties, { value: [[key, value]], enumerable: false })
}

export function messageToPublish(message: OutgoingMessage, o: DeliveryOptions): IPublishPacket {
  const packet: IPublishPacket = {
    cmd: 'publish',
    topic: message.topic,
    payload: Buffer.from(message.payload.buffer, message.payload.byteOffset, message.payload.byteLength),
    qos: o.qos,
    retain: o.retain,
    dup: o.dup,
  }
  if (o.messageId !== undefined) packet.messageId = o.messageId
  if (o.protocolVersion !== 5) return packet
  const m = message.meta
  const props: NonNullable<IPublishPacket['properties']> = {}
  if (m.u === true) props.payloadFormatIndicator = true
  // [MQTT-3.3.2-6] the expiry forwarded is what is left of it.
  if (o.remainingExpirySec !== undefined) props.messageExpiryInterval = o.remainingExpirySec
  if (m.ct !== undefined) props.contentType = m.ct
  if (m.rt !== undefined) props.responseTopic = m.rt
  if (m.cd !== undefined) props.correlationData = Buffer.from(m.cd)
  // [MQTT-3.3.2-17] [MQTT-3.3.2-18] forwarded unaltered and in order: spliced in when the packet is encoded.
  for (const { key, value } of message.headers) addUserProperty(packet, key, textDecoder.decode(value))
  // [MQTT-3.3.4-3] every matching subscription's identifier, in one delivery.
  if (o.subscriptionIds.length === 1) props.subscriptionIdentifier = o.subscriptionIds[0] as number
  else if (o.subscriptionIds.length > 1) props.subscriptionIdentifier = [...o.subscriptionIds]
  if (Object.keys(props).length > 0) packet.properties = props
  return packet
}

function userPropertiesToHeaders(props: UserProperties): RecordHeader[] {
  const headers: RecordHeader[] = []
  for (const [key, value] of Object.entries(props)) {
    for (const v of Array.isArray(value) ? value : [value]) headers.push({ key, value: textEncoder.encode(v) })
  }
  return headers
}

function isMqttMeta(meta: unknown): meta is MqttRecordMeta {
  return typeof meta === 'object' && meta !== null && 'q' in meta
}
