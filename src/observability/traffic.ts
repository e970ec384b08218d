import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { MetricsRegistry, Sample } from './registry.ts'

/**
 * What a front end counts on its hot path: plain number fields it bumps in place (no lookups, no
 * allocation). Messages are MQTT PUBLISHes or records; bytes are as read from and written to the
 * connection, protocol framing included.
 */
export interface TrafficCounters {
  connectionsAccepted: number
  messagesReceived: number
  messagesSent: number
  bytesReceived: number
  bytesSent: number
}

export function newTrafficCounters(): TrafficCounters {
  return { connectionsAccepted: 0, messagesReceived: 0, messagesSent: 0, bytesReceived: 0, bytesSent: 0 }
}

/** One protocol's numbers, read when scraped. */
export interface TrafficSource {
  protocol: string
  counters(): TrafficCounters
  /** Connections open now. */
  connections(): number
}

export function registerTrafficMetrics(registry: MetricsRegistry, sources: readonly TrafficSource[]): void {
  const byProtocol = (read: (source: TrafficSource, counters: TrafficCounters) => number) => (): Sample[] =>
    sources.map((s) => ({ labels: { protocol: s.protocol }, value: read(s, s.counters()) }))
  registry.gauge(
    'cairn_connections',
    'Client connections open now',
    byProtocol((s) => s.connections()),
  )
  registry.counter(
    'cairn_connections_accepted_total',
    'Client connections accepted',
    byProtocol((_, c) => c.connectionsAccepted),
  )
  registry.counter(
    'cairn_messages_received_total',
    'Messages received from clients (MQTT PUBLISHes, records produced)',
    byProtocol((_, c) => c.messagesReceived),
  )
  registry.counter(
    'cairn_messages_sent_total',
    'Messages sent to clients (MQTT PUBLISHes, records fetched)',
    byProtocol((_, c) => c.messagesSent),
  )
  registry.counter(
    'cairn_received_bytes_total',
    'Bytes read from client connections, protocol framing included',
    byProtocol((_, c) => c.bytesReceived),
  )
  registry.counter(
    'cairn_sent_bytes_total',
    'Bytes written to client connections, protocol framing included',
    byProtocol((_, c) => c.bytesSent),
  )
}

/**
 * HTTP traffic, seen from the request handler: the listener belongs to gateway/, so a connection is
 * counted at its first request, and bytes are read off the sockets (headers included) when scraped.
 */
export class HttpTraffic {
  /** Messages are bumped by the routes; connections and bytes are filled in by counters(). */
  readonly #counters = newTrafficCounters()
  readonly #open = new Set<Socket>()
  #closedBytesReceived = 0
  #closedBytesSent = 0

  get messages(): Pick<TrafficCounters, 'messagesReceived' | 'messagesSent'> {
    return this.#counters
  }

  /** Called for every request; cheap after the first request of a connection. */
  request(req: IncomingMessage): void {
    const socket = req.socket
    if (this.#open.has(socket)) return
    this.#open.add(socket)
    this.#counters.connectionsAccepted++
    socket.once('close', () => {
      this.#open.delete(socket)
      this.#closedBytesReceived += socket.bytesRead
      this.#closedBytesSent += socket.bytesWritten
    })
  }

  connections(): number {
    return this.#open.size
  }

  counters(): TrafficCounters {
    let received = this.#closedBytesReceived
    let sent = this.#closedBytesSent
    for (const socket of this.#open) {
      received += socket.bytesRead
      sent += socket.bytesWritten
    }
    return { ...this.#counters, bytesReceived: received, bytesSent: sent }
  }
}
