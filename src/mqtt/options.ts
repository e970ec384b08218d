export interface MqttOptions {
  /** The stream whose log is every session's queue: offline delivery and replay read it. */
  sessionStream: string
  /** Largest packet accepted from a client, and announced in CONNACK (v5). */
  maxPacketBytes: number
  /** Unacknowledged QoS 1/2 PUBLISHes a client may have towards us (v5 Receive Maximum). */
  receiveMaximum: number
  /** Unacknowledged QoS 1/2 PUBLISHes we send to one client (capped by the client's Receive Maximum). */
  maxInflightOut: number
  /** Topic aliases a client may use towards us (v5); 0 disables them. */
  topicAliasMaximum: number
  /** Keepalive cap announced as Server Keep Alive to v5 clients that ask for more, or for none. */
  maxKeepaliveSec: number
  /** Session expiry cap; 3.1.1 persistent sessions (clean session = 0) get this expiry. */
  maxSessionExpirySec: number
  /** A resuming session reads at most this many records back in the session stream; older ones are skipped and counted. */
  maxOfflineRecords: number
  /** Publishes a connection may have waiting for a commit before we stop reading its socket. */
  maxPendingAppendsPerConnection: number
  /** A connection must send CONNECT within this time. */
  connectTimeoutMs: number
  maxTopicLength: number
  maxTopicLevels: number
  /** Sessions kept (connected, and persistent ones waiting for their client); 0: no limit. A new one past it is refused. */
  maxSessions: number
  /** Subscriptions one session may hold; 0: no limit. */
  maxSubscriptionsPerClient: number
  /** PUBLISHes per second one connection may send, with bursts of up to one second's worth; 0: no limit. */
  maxPublishesPerSec: number
  /** How often $SYS/broker/... statistics are published; 0 disables them. */
  sysIntervalMs: number
}

export const defaultMqttOptions: Readonly<MqttOptions> = Object.freeze({
  sessionStream: 'mqtt',
  maxPacketBytes: 1024 * 1024,
  receiveMaximum: 1024,
  maxInflightOut: 100,
  topicAliasMaximum: 64,
  maxKeepaliveSec: 300,
  maxSessionExpirySec: 7 * 24 * 3600,
  maxOfflineRecords: 1_000_000,
  maxPendingAppendsPerConnection: 2048,
  connectTimeoutMs: 10_000,
  maxTopicLength: 1024,
  maxTopicLevels: 32,
  maxSessions: 100_000,
  maxSubscriptionsPerClient: 1000,
  maxPublishesPerSec: 0,
  sysIntervalMs: 10_000,
})
