// A byte-level MQTT peer for limit tests: it sends exactly the packets a test asks for (from any local address)
// and records every packet the broker sends back, including the CONNACK or DISCONNECT a client library would turn
// into an exception.

import { connect, type Socket } from 'node:net'
import mqttPacket, { type Packet } from 'mqtt-packet'
import { onTestFinished } from 'vitest'
import { until } from '../../helpers/wait.ts'

export class RawMqtt {
  readonly socket: Socket
  readonly received: Packet[] = []
  readonly protocolVersion: 4 | 5
  closed = false

  private constructor(socket: Socket, protocolVersion: 4 | 5) {
    this.socket = socket
    this.protocolVersion = protocolVersion
    const parser = mqttPacket.parser({ protocolVersion })
    parser.on('packet', (packet: Packet) => this.received.push(packet))
    socket.on('data', (chunk: Buffer) => parser.parse(chunk))
    socket.on('close', () => (this.closed = true))
    socket.on('error', () => undefined)
  }

  static async open(port: number, protocolVersion: 4 | 5 = 5, localAddress = '127.0.0.1'): Promise<RawMqtt> {
    const socket = connect({ port, host: '127.0.0.1', localAddress })
    onTestFinished(() => {
      socket.destroy()
    })
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    return new RawMqtt(socket, protocolVersion)
  }

  /** Opens a connection and sends CONNECT; resolves with the CONNACK. */
  static async connect(
    port: number,
    clientId: string,
    options: { protocolVersion?: 4 | 5; clean?: boolean; localAddress?: string; sessionExpirySec?: number } = {},
  ): Promise<{ peer: RawMqtt; code: number }> {
    const version = options.protocolVersion ?? 5
    const peer = await RawMqtt.open(port, version, options.localAddress)
    peer.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: version,
      clientId,
      clean: options.clean ?? true,
      keepalive: 60,
      ...(version === 5 && options.sessionExpirySec !== undefined
        ? { properties: { sessionExpiryInterval: options.sessionExpirySec } }
        : {}),
    })
    const connack = await peer.next('connack')
    return { peer, code: (version === 5 ? connack.reasonCode : connack.returnCode) ?? -1 }
  }

  send(packet: Packet): void {
    this.socket.write(mqttPacket.generate(packet, { protocolVersion: this.protocolVersion }))
  }

  /** The first packet of this kind received (already or still to come). */
  async next<C extends Packet['cmd']>(cmd: C): Promise<Extract<Packet, { cmd: C }>> {
    await until(() => this.received.some((p) => p.cmd === cmd) || this.closed, `${cmd} from the broker`)
    const found = this.received.find((p) => p.cmd === cmd)
    if (found === undefined) throw new Error(`connection closed without ${cmd}; got ${JSON.stringify(this.received)}`)
    return found as Extract<Packet, { cmd: C }>
  }

  async waitClosed(): Promise<void> {
    await until(() => this.closed, 'the broker to close the connection')
  }
}
