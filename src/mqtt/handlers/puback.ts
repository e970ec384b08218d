import type { IPubackPacket } from 'mqtt-packet'
import type { MqttConnection } from '../connection.ts'

/** PUBACK ends a QoS 1 delivery to the client; an unknown id is ignored. */
export function handlePuback(connection: MqttConnection, packet: IPubackPacket): void {
  connection.session?.completeOutgoing(packet.messageId ?? 0, 'publish')
}
