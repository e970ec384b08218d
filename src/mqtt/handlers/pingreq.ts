import type { MqttConnection } from '../connection.ts'

/** [MQTT-3.12.4-1] PINGREQ is answered with PINGRESP. */
export function handlePingreq(connection: MqttConnection): void {
  connection.write({ cmd: 'pingresp' })
}
