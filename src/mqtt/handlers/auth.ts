import type { IAuthPacket } from 'mqtt-packet'
import type { MqttConnection } from '../connection.ts'
import { ReasonCode } from '../reason-codes.ts'

/**
 * No enhanced authentication method is offered (CONNECT with one is refused), so an AUTH after CONNECT
 * is a Protocol Error [MQTT-4.12.0-?]. Not 0x8C Bad authentication method: that is a CONNACK code, not
 * a DISCONNECT one, and clients (mqtt-packet, MQTT.js) reject a DISCONNECT carrying it as malformed.
 */
export function handleAuth(connection: MqttConnection, _packet: IAuthPacket): void {
  connection.protocolFailure(
    ReasonCode.PROTOCOL_ERROR,
    'AUTH is not supported: Cairn offers no enhanced authentication method',
  )
}
