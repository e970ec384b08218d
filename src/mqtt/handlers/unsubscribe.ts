import type { IUnsubackPacket, IUnsubscribePacket } from 'mqtt-packet'
import type { MqttConnection } from '../connection.ts'
import { ReasonCode } from '../reason-codes.ts'
import { splitReplayFilter } from '../replay.ts'

/** UNSUBSCRIBE: remove each filter; v5 says per filter whether it existed [MQTT-3.11.3-?]. */
export function handleUnsubscribe(connection: MqttConnection, packet: IUnsubscribePacket): void {
  const frontEnd = connection.frontEnd
  const session = connection.session
  if (session === null) return
  const reasons = packet.unsubscriptions.map((filter) => {
    const removed = frontEnd.removeSubscription(session, splitReplayFilter(filter)?.filter ?? filter)
    return removed ? ReasonCode.SUCCESS : ReasonCode.NO_SUBSCRIPTION_EXISTED
  })
  const unsuback: IUnsubackPacket = { cmd: 'unsuback', messageId: packet.messageId ?? 0, granted: reasons }
  if (connection.protocolVersion !== 5) unsuback.granted = []
  connection.write(unsuback)
  frontEnd.saveSession(session)
}
