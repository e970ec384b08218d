import type { IPublishPacket } from 'mqtt-packet'
import { validateTopicName } from '../../topics/topics.ts'
import { AckFirstByte, type MqttConnection } from '../connection.ts'
import { ReasonCode, toMqttReasonCode } from '../reason-codes.ts'

const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * PUBLISH from a client: resolve the topic alias, validate, append to the log, and acknowledge
 * only after the commit (PUBACK for QoS 1, PUBREC for QoS 2). QoS 0 is kept too, unacknowledged.
 */
export function handlePublish(connection: MqttConnection, packet: IPublishPacket): void {
  const frontEnd = connection.frontEnd
  const options = frontEnd.options
  const session = connection.session
  if (session === null) return
  const v5 = connection.protocolVersion === 5
  if (connection.publishRate?.take() === false) {
    // PUBACK cannot carry 0x96; DISCONNECT can, and a client that floods would not slow down for a PUBACK anyway.
    frontEnd.limitCounters.publishRateExceeded++
    return connection.protocolFailure(
      ReasonCode.MESSAGE_RATE_TOO_HIGH,
      `more than ${options.maxPublishesPerSec} PUBLISHes per second`,
    )
  }

  let topic = packet.topic
  const alias = packet.properties?.topicAlias
  if (alias !== undefined) {
    // [MQTT-3.3.2-8] [MQTT-3.3.2-9] 0 and values above our Topic Alias Maximum are invalid.
    if (alias === 0 || alias > options.topicAliasMaximum) {
      return connection.protocolFailure(ReasonCode.TOPIC_ALIAS_INVALID, `topic alias ${alias}`)
    }
    if (topic === '') {
      const known = connection.incomingAliases.get(alias)
      if (known === undefined)
        return connection.protocolFailure(ReasonCode.PROTOCOL_ERROR, `unknown topic alias ${alias}`)
      topic = known
    } else connection.incomingAliases.set(alias, topic)
  }
  const check = validateTopicName(topic, { maxLength: options.maxTopicLength, maxLevels: options.maxTopicLevels })
  // [MQTT-3.3.2-2] no wildcards in a topic name; empty, too long, malformed: all end the connection.
  if (!check.ok) {
    frontEnd.limitCounters.topicsRefused++
    return connection.protocolFailure(ReasonCode.TOPIC_NAME_INVALID, `topic name: ${check.reason}`)
  }

  const qos = packet.qos
  const packetId = packet.messageId ?? 0
  if (connection.principal?.canPublish(topic) === false) {
    // Denied: v5 says so with 0x87; 3.1.1 has no negative acknowledgement, so the message is acknowledged
    // and dropped [MQTT-3.3.5-2] (the other choice, closing, would only make the client send it again).
    frontEnd.counters.publishesDenied++
    connection.logger.debug({ topic }, 'publish not authorized')
    if (qos === 1) sendAck(connection, 'puback', packetId, ReasonCode.NOT_AUTHORIZED, 'not authorized')
    else if (qos === 2) sendAck(connection, 'pubrec', packetId, ReasonCode.NOT_AUTHORIZED, 'not authorized')
    return
  }
  if (qos > 0 && v5 && connection.incomingUnacked >= options.receiveMaximum) {
    // [MQTT-3.3.4-9] more unacknowledged QoS 1/2 PUBLISHes than our Receive Maximum.
    frontEnd.limitCounters.receiveMaximumExceeded++
    return connection.protocolFailure(ReasonCode.RECEIVE_MAXIMUM_EXCEEDED, 'receive maximum exceeded')
  }
  if (qos === 2 && (session.qos2Received.has(packetId) || connection.qos2Pending.has(packetId))) {
    // [MQTT-4.3.3-?] a resent QoS 2 PUBLISH is not stored or delivered again; PUBREC is repeated once known.
    if (session.qos2Received.has(packetId)) sendAck(connection, 'pubrec', packetId, ReasonCode.SUCCESS)
    return
  }
  if (v5 && packet.properties?.payloadFormatIndicator === true && !isUtf8(packet.payload)) {
    // [MQTT-3.3.2-?] a payload declared UTF-8 that is not: refused with 0x99.
    if (qos > 0) sendAck(connection, qos === 1 ? 'puback' : 'pubrec', packetId, ReasonCode.PAYLOAD_FORMAT_INVALID)
    return
  }

  // The parser makes a new packet object per packet: it is ours to complete (topic from its alias).
  const accepted: IPublishPacket = packet
  accepted.topic = topic
  connection.appendStarted()
  if (qos > 0) connection.incomingUnacked++
  if (qos === 2) connection.qos2Pending.add(packetId)
  const clientId = connection.clientId
  const rememberQos2 =
    qos === 2 && session.persistent ? () => frontEnd.sessionStore.addQos2Received(clientId, packetId) : undefined
  frontEnd.acceptPublish(clientId, accepted, connection.topicCache, rememberQos2, (error) => {
    connection.appendFinished()
    if (qos === 2) connection.qos2Pending.delete(packetId)
    if (error !== null) {
      frontEnd.counters.publishesRefused++
      connection.logger.debug({ err: error, topic }, 'publish refused')
      if (qos === 0) return
      connection.incomingUnacked--
      // 3.1.1 has no negative acknowledgement: closing makes the client send it again later.
      if (!v5) return connection.protocolFailure(ReasonCode.UNSPECIFIED_ERROR, error.message)
      sendAck(connection, qos === 1 ? 'puback' : 'pubrec', packetId, toMqttReasonCode(error), error.message)
      return
    }
    if (qos === 1) {
      connection.incomingUnacked--
      sendAck(connection, 'puback', packetId, ReasonCode.SUCCESS)
    } else if (qos === 2) {
      session.qos2Received.add(packetId)
      sendAck(connection, 'pubrec', packetId, ReasonCode.SUCCESS)
    }
  })
}

export function sendAck(
  connection: MqttConnection,
  cmd: 'puback' | 'pubrec' | 'pubrel' | 'pubcomp',
  packetId: number,
  reasonCode: number,
  reasonString?: string,
): void {
  if (connection.protocolVersion !== 5 || (reasonCode === ReasonCode.SUCCESS && reasonString === undefined)) {
    // 3.1.1 acks carry no reason code; a v5 Success with no properties is the same 4 bytes [MQTT-3.4.2.1].
    connection.writeAck(AckFirstByte[cmd], packetId)
    return
  }
  connection.write({
    cmd,
    messageId: packetId,
    reasonCode,
    ...(reasonString === undefined ? {} : { properties: { reasonString } }),
  })
}

function isUtf8(payload: string | Buffer): boolean {
  if (typeof payload === 'string') return true
  try {
    utf8.decode(payload)
    return true
  } catch {
    return false
  }
}
