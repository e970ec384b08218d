import type { IAuthPacket } from 'mqtt-packet'
import type { MqttConnection } from '../connection.ts'
import { ReasonCode } from '../reason-codes.ts'

/** No enhanced authentication method is offered, so an AUTH packet is refused with a clear reason. */
export function handleAuth(connection: MqttConnection, _packet: IAuthPacket): void {
  connection.protocolFailure(
    ReasonCode.BAD_AUTHENTICATION_METHOD,
    'AUTH is not supported: Cairn offers no enhanced authentication method',
  )
}
