import type { KafkaSink, UpstreamRecord } from './kafka-sink.ts'
import { encodeHeartbeat } from './mm2-format.ts'
import { heartbeatsTopic } from './replication-policy.ts'

/*
 * MirrorMaker 2 heartbeats (mirror.md A1.1, A1.3, B2.3): every heartbeatIntervalMs a link writes a
 * Heartbeat record (source alias = the gateway alias, target alias = the link name, timestamp = now)
 * to partition 0 of `<gatewayAlias>.heartbeats`, the name MM2 gives heartbeats replicated from a
 * cluster. MirrorClient.upstreamClusters() then lists the gateway and replicationHops(gatewayAlias)
 * is 1; fleet dashboards read the timestamps as "last heard of". The default interval is 60 s, not
 * MM2's 1 s: these are cellular links.
 */

/** Heartbeats go to one partition, like MM2's single-partition heartbeats topic. */
export const heartbeatsPartition = 0

export function heartbeatRecord(sourceAlias: string, targetAlias: string, timestampMs: number): UpstreamRecord {
  const { key, value } = encodeHeartbeat({ sourceAlias, targetAlias, timestampMs })
  return { key, value, headers: [], timestamp: timestampMs }
}

/** Sends one heartbeat; resolves with its timestamp. Rejects with the sink's error. */
export async function sendHeartbeat(
  sink: KafkaSink,
  gatewayAlias: string,
  targetAlias: string,
  nowMs: number,
): Promise<number> {
  await sink.send(heartbeatsTopic(gatewayAlias), heartbeatsPartition, [
    heartbeatRecord(gatewayAlias, targetAlias, nowMs),
  ])
  return nowMs
}
