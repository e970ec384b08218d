import type { IDisconnectPacket } from 'mqtt-packet'
import type { MqttConnection } from '../connection.ts'
import { ReasonCode } from '../reason-codes.ts'

/** DISCONNECT from the client: the will is dropped unless v5 reason 0x04 asks for it [MQTT-3.14.4-3]. */
export function handleDisconnect(connection: MqttConnection, packet: IDisconnectPacket): void {
  const session = connection.session
  const requestedExpiry = packet.properties?.sessionExpiryInterval
  if (session !== null && connection.protocolVersion === 5 && requestedExpiry !== undefined) {
    // [MQTT-3.14.2-2] a session that had expiry 0 cannot be made persistent at DISCONNECT.
    if (session.expirySec === 0 && requestedExpiry > 0) {
      return connection.protocolFailure(
        ReasonCode.PROTOCOL_ERROR,
        'session expiry set at DISCONNECT after 0 at CONNECT',
      )
    }
    session.expirySec = Math.min(requestedExpiry, connection.frontEnd.options.maxSessionExpirySec)
  }
  connection.gracefulDisconnect = packet.reasonCode !== ReasonCode.DISCONNECT_WITH_WILL
  connection.close()
}
