import { randomUUID } from 'node:crypto'
import type { IConnackPacket, IConnectPacket } from 'mqtt-packet'
import { validateTopicName } from '../../topics/topics.ts'
import type { MqttConnection } from '../connection.ts'
import { connackCodeV3, ReasonCode } from '../reason-codes.ts'

/**
 * CONNECT as a pipeline of steps (cf. aedes): check the protocol and client id, authenticate,
 * validate the will, negotiate keepalive/expiry/limits, open or resume the session, CONNACK, resume.
 */
export async function handleConnect(connection: MqttConnection, packet: IConnectPacket): Promise<void> {
  const frontEnd = connection.frontEnd
  const options = frontEnd.options
  const version = packet.protocolVersion ?? 4
  connection.protocolVersion = version
  const v5 = version === 5
  const refuse = (reasonCode: number, reason: string): void => {
    connection.logger.debug({ clientId: packet.clientId, reasonCode, reason }, 'CONNECT refused')
    sendConnack(connection, reasonCode, false, v5 ? { reasonString: reason } : undefined)
    connection.refuse()
  }

  // [MQTT-4.12.0-1] no enhanced authentication method is supported.
  if (v5 && packet.properties?.authenticationMethod !== undefined) {
    return refuse(ReasonCode.BAD_AUTHENTICATION_METHOD, 'enhanced authentication is not supported')
  }
  if (v5 && packet.properties?.receiveMaximum === 0) {
    return refuse(ReasonCode.PROTOCOL_ERROR, 'Receive Maximum of 0') // [MQTT-3.1.2-?] it must be > 0
  }
  // Over a connection limit: refused before any work is spent on it. 3.1.1 reads 0x97 as 3, server unavailable.
  if (connection.overLimit !== undefined) {
    frontEnd.limitCounters.connectionsOverLimit++
    return refuse(ReasonCode.QUOTA_EXCEEDED, connection.overLimit)
  }
  const cleanStart = packet.clean !== false
  let clientId = packet.clientId
  let assignedClientId: string | undefined
  if (clientId === '') {
    // [MQTT-3.1.3-8] 3.1.1: an empty client id needs clean session = 1.
    if (!v5 && !cleanStart)
      return refuse(ReasonCode.CLIENT_IDENTIFIER_NOT_VALID, 'empty client id without clean session')
    // [MQTT-3.1.3-6] the server assigns a unique one; v5 is told which [MQTT-3.2.2-16].
    clientId = `cairn-${randomUUID()}`
    if (v5) assignedClientId = clientId
  }
  connection.clientId = clientId

  if (frontEnd.authenticate !== undefined) {
    const decision = await frontEnd.authenticate({
      clientId,
      username: packet.username,
      password: packet.password,
      remoteAddress: connection.remoteAddress,
      certificateIdentity: connection.certificateIdentity,
    })
    if (connection.state === 'closed') return
    if (!decision.ok) {
      // 3.1.1 has no code for rate limiting: connackCodeV3 makes it 3, server unavailable.
      const [code, reason] = connectRefusals[decision.reason]
      return refuse(code, reason)
    }
    connection.principal = decision.principal
  }

  if (packet.will !== undefined) {
    const check = validateTopicName(packet.will.topic, {
      maxLength: options.maxTopicLength,
      maxLevels: options.maxTopicLevels,
    })
    if (!check.ok) {
      frontEnd.limitCounters.topicsRefused++
      return refuse(ReasonCode.TOPIC_NAME_INVALID, `will topic: ${check.reason}`)
    }
    // A will is a PUBLISH on the client's behalf: its topic needs write access like any other.
    if (connection.principal?.canPublish(packet.will.topic) === false) {
      return refuse(ReasonCode.NOT_AUTHORIZED, 'not authorized to publish to the will topic')
    }
    connection.will = packet.will
  }

  // Keepalive: v5 clients asking for none or more than the cap are told the cap (Server Keep Alive).
  let keepaliveSec = packet.keepalive ?? 0
  let serverKeepAlive: number | undefined
  if (v5 && (keepaliveSec === 0 || keepaliveSec > options.maxKeepaliveSec)) {
    keepaliveSec = options.maxKeepaliveSec
    serverKeepAlive = keepaliveSec
  }
  connection.keepaliveSec = keepaliveSec

  // Session expiry: v5 asks; a 3.1.1 persistent session (clean session = 0) gets the cap.
  const requestedExpiry = v5
    ? (packet.properties?.sessionExpiryInterval ?? 0)
    : cleanStart
      ? 0
      : options.maxSessionExpirySec
  const expirySec = Math.min(requestedExpiry, options.maxSessionExpirySec)

  if (v5) {
    const p = packet.properties
    if (p?.receiveMaximum !== undefined) connection.clientReceiveMaximum = p.receiveMaximum
    if (p?.maximumPacketSize !== undefined) connection.clientMaxPacketBytes = p.maximumPacketSize
    if (p?.topicAliasMaximum !== undefined) connection.clientTopicAliasMaximum = p.topicAliasMaximum
  }

  // A new session past mqtt.maxSessions is refused; a client resuming (or replacing) its own is not.
  const maxSessions = options.maxSessions
  if (maxSessions > 0 && frontEnd.sessions.size >= maxSessions && !frontEnd.sessions.has(clientId)) {
    frontEnd.limitCounters.sessionsOverLimit++
    return refuse(ReasonCode.QUOTA_EXCEEDED, `the broker holds its maximum of ${maxSessions} sessions`)
  }
  const { session, sessionPresent } = frontEnd.openSession(connection, cleanStart, expirySec)
  const properties: NonNullable<IConnackPacket['properties']> | undefined = v5
    ? {
        receiveMaximum: options.receiveMaximum,
        maximumPacketSize: options.maxPacketBytes,
        topicAliasMaximum: options.topicAliasMaximum,
        retainAvailable: true,
        wildcardSubscriptionAvailable: true,
        subscriptionIdentifiersAvailable: true,
        sharedSubscriptionAvailable: true,
        ...(assignedClientId === undefined ? {} : { assignedClientIdentifier: assignedClientId }),
        ...(serverKeepAlive === undefined ? {} : { serverKeepAlive }),
        ...(expirySec === requestedExpiry ? {} : { sessionExpiryInterval: expirySec }),
      }
    : undefined
  // [MQTT-3.2.2-1] [MQTT-3.2.2-2] session present only when a session was resumed.
  sendConnack(connection, ReasonCode.SUCCESS, sessionPresent, properties)
  connection.markConnected()
  session.attach(connection)
}

const connectRefusals = {
  'bad-credentials': [ReasonCode.BAD_USER_NAME_OR_PASSWORD, 'bad user name or password'],
  'not-authorized': [ReasonCode.NOT_AUTHORIZED, 'not authorized'],
  'rate-limited': [ReasonCode.CONNECTION_RATE_EXCEEDED, 'too many failed attempts; try later'],
} as const

function sendConnack(
  connection: MqttConnection,
  reasonCode: number,
  sessionPresent: boolean,
  properties: IConnackPacket['properties'],
): void {
  const v5 = connection.protocolVersion === 5
  const packet: IConnackPacket = { cmd: 'connack', sessionPresent }
  if (v5) {
    packet.reasonCode = reasonCode
    if (properties !== undefined) packet.properties = properties
  } else packet.returnCode = connackCodeV3(reasonCode)
  connection.write(packet)
}
