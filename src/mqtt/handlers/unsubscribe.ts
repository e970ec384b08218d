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
  // Committed before UNSUBACK, as for SUBACK: a kill -9 right after it must not bring the subscription back.
  frontEnd.saveSession(session, (error) => {
    if (error === null) connection.write(unsuback)
    else connection.fail(ReasonCode.UNSPECIFIED_ERROR, `session state could not be saved: ${error.message}`)
  })
}
