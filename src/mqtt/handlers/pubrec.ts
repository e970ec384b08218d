import type { IPubrecPacket } from 'mqtt-packet'
import type { MqttConnection } from '../connection.ts'
import { ReasonCode } from '../reason-codes.ts'
import { sendAck } from './publish.ts'

/** PUBREC: the client holds our QoS 2 message; answer PUBREL [MQTT-4.3.3-?]. */
export function handlePubrec(connection: MqttConnection, packet: IPubrecPacket): void {
  const session = connection.session
  if (session === null) return
  const packetId = packet.messageId ?? 0
  // [MQTT-4.3.3-?] v5: a PUBREC with an error reason ends the exchange.
  if ((packet.reasonCode ?? 0) >= 0x80) {
    session.abandonOutgoing(packetId)
    return
  }
  // A persistent session sends PUBREL only once the PUBREC is committed (see Session.receivedOutgoing).
  const known = session.receivedOutgoing(packetId, () => sendAck(connection, 'pubrel', packetId, ReasonCode.SUCCESS))
  if (!known) sendAck(connection, 'pubrel', packetId, ReasonCode.PACKET_IDENTIFIER_NOT_FOUND)
}
