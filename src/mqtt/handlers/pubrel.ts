import type { IPubrelPacket } from 'mqtt-packet'
import type { MqttConnection } from '../connection.ts'
import { ReasonCode } from '../reason-codes.ts'
import { sendAck } from './publish.ts'

/**
 * PUBREL from a publisher: the QoS 2 exchange ends. For a persistent session the packet id is
 * forgotten durably before PUBCOMP goes out: otherwise, after a crash, a new message reusing the id
 * would be taken for a duplicate and lost.
 */
export function handlePubrel(connection: MqttConnection, packet: IPubrelPacket): void {
  const session = connection.session
  if (session === null) return
  const packetId = packet.messageId ?? 0
  const known = session.qos2Received.delete(packetId)
  // An unknown id is answered with success too (as mosquitto does): it is a PUBREL resent after a
  // restart of a non-persistent session, whose message was stored before PUBREC; 0x92 would make the
  // client report a failure for a delivered message, and an application might publish it again.
  const complete = (): void => sendAck(connection, 'pubcomp', packetId, ReasonCode.SUCCESS)
  if (!known) return complete()
  connection.incomingUnacked--
  if (!session.persistent) return complete()
  const frontEnd = connection.frontEnd
  const clientId = connection.clientId
  frontEnd.store.enqueueWrite(
    () => frontEnd.sessionStore.removeQos2Received(clientId, packetId),
    frontEnd.durability,
    (error) => {
      if (error === null) complete()
      else connection.fail(ReasonCode.UNSPECIFIED_ERROR, `session state could not be saved: ${error.message}`)
    },
  )
}
