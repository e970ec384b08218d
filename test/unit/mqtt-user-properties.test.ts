import mqttPacket, { type IPublishPacket } from 'mqtt-packet'
import { describe, expect, test } from 'vitest'
import { recordUserPropertyOrder, spliceUserProperties, userPropertyPairsOf } from '../../src/mqtt/user-properties.ts'

describe('user properties', () => {
  test.each([0, 1, 2] as const)(
    'user properties - spliced into a QoS %i PUBLISH, they parse back in wire order with the rest intact',
    (qos) => {
      const packet: IPublishPacket = {
        cmd: 'publish',
        topic: 't/'.repeat(100), // a topic long enough that lengths need two-byte varints
        payload: Buffer.alloc(200, 7),
        qos,
        retain: false,
        dup: false,
        ...(qos > 0 ? { messageId: 42 } : {}),
        properties: { contentType: 'text/plain', messageExpiryInterval: 60 },
      }
      const bytes = spliceUserProperties(mqttPacket.generate(packet, { protocolVersion: 5 }), [
        ['a', '1'],
        ['b', '2'],
        ['a', '3'],
        ['é', 'ü'.repeat(70)],
      ])
      const parser = mqttPacket.parser({ protocolVersion: 5 })
      recordUserPropertyOrder(parser)
      const parsed: IPublishPacket[] = []
      parser.on('packet', (p) => parsed.push(p as IPublishPacket))
      parser.on('error', (err) => {
        throw err
      })
      parser.parse(bytes)
      const [back] = parsed
      expect(back?.topic).toBe(packet.topic)
      expect(back?.payload).toEqual(packet.payload)
      expect(back?.messageId).toBe(packet.messageId)
      expect(back?.properties?.contentType).toBe('text/plain')
      expect(back?.properties?.messageExpiryInterval).toBe(60)
      expect(userPropertyPairsOf(back?.properties)).toEqual([
        ['a', '1'],
        ['b', '2'],
        ['a', '3'],
        ['é', 'ü'.repeat(70)],
      ])
    },
  )
})
