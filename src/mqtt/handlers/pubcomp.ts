import type { IPubcompPacket } from 'mqtt-packet'
import type { MqttConnection } from '../connection.ts'

/** PUBCOMP ends a QoS 2 delivery to the client. */
export function handlePubcomp(connection: MqttConnection, packet: IPubcompPacket): void {
  connection.session?.completeOutgoing(packet.messageId ?? 0, 'pubrel')
}
