import type Database from 'better-sqlite3'
import type { Logger } from 'pino'
import type { GroupCoordinator } from '../groups/group-coordinator.ts'
import type { LogStore } from '../log/log-store.ts'
import type { Clock } from '../util/clock.ts'
import type { KafkaSink, UpstreamRecord } from './kafka-sink.ts'
import type { PartitionCursor } from './mirror-state.ts'
import { encodeCheckpoint } from './mm2-format.ts'
import type { OffsetMap } from './offset-map.ts'
import { checkpointsTopic } from './replication-policy.ts'

/*
 * Consumer-group checkpoint export (mirror.md B9.3), in MirrorMaker 2's Checkpoint format (A1.3), so
 * that a cloud consumer can resume where a local group stopped: Java consumers with
 * RemoteClusterUtils.translateOffsets(props, gatewayAlias, group), which reads partition 0 of
 * `<gatewayAlias>.checkpoints.internal` and keeps the last checkpoint per topic-partition.
 *
 * For every local group whose name matches the link's patterns and which has a committed position p
 * on a partition this link mirrors, the record is
 *   key   (group, upstream topic, upstream partition)
 *   value (version 0, upstreamOffset = p, offset = q, metadata = the commit's metadata)
 * MM2's "upstream" is the source cluster, i.e. this gateway: upstreamOffset is the LOCAL position,
 * and offset is q = the exact upstream position from the partition's offset map
 * (OffsetMap.positionToUpstream: the upstream offset of the first mirrored record at or after p, or
 * the upstream frontier when p is at or past the mirror cursor).
 *
 * A checkpoint is emitted only when it is more recent than the last one emitted for the same key —
 * MM2's MirrorCheckpointTask.checkpointIsMoreRecent: none emitted yet, or q advanced, or the local
 * group rewound (p went back); otherwise upstream positions only move forward. Partitions with
 * nothing mirrored yet get none (MM2: no offset sync, no checkpoint, KAFKA-12635), nor do partitions
 * whose upstream copy is no longer trusted (paused after an upstream reset, diverged).
 *
 * What was emitted is kept in table mirror_group_checkpoint, written after the send succeeded. No
 * intent protocol: readers keep the last checkpoint per key, so a checkpoint sent again (a crash
 * between send and write, an uncertain send that did arrive) changes nothing for them.
 */

/** What the exporter needs of the group coordinator. */
export type CheckpointGroupSource = Pick<GroupCoordinator, 'listGroups' | 'fetchOffsets'>

/** One mirrored partition, as its PartitionMirror shows it: cursor (frontier) and exact offset map. */
export interface CheckpointPartition {
  readonly cursor: Readonly<PartitionCursor>
  readonly map: OffsetMap
}

export interface CheckpointExporterOptions {
  link: string
  gatewayAlias: string
  store: LogStore
  sink: KafkaSink
  groups: CheckpointGroupSource
  /** Group names, or patterns with `*` (any run of characters). */
  groupPatterns: readonly string[]
  clock: Clock
  logger: Logger
  /** Most records and bytes per Produce request (the link's batch limits). */
  batchMaxRecords: number
  batchMaxBytes: number
}

/** A checkpoint that is due: more recent than the last one emitted for its key. */
export interface DueCheckpoint {
  group: string
  stream: string
  partition: number
  upstreamTopic: string
  upstreamPartition: number
  /** The local committed position (next offset to consume). */
  localPos: bigint
  /** Its exact image upstream. */
  upstreamPos: bigint
  metadata: string
}

/** The last checkpoint emitted for a (group, stream, partition). */
export interface EmittedCheckpoint {
  localPos: bigint
  upstreamPos: bigint
  metadata: string
  emittedMs: number
}

/** The checkpoints topic partition RemoteClusterUtils reads (the topic may have more; it reads only 0). */
export const checkpointsPartition = 0

interface EmittedRow {
  group_id: string
  stream: string
  partition: bigint
  local_pos: bigint
  upstream_pos: bigint
  metadata: string
  emitted_ms: bigint
}

export class CheckpointExporter {
  readonly #o: CheckpointExporterOptions
  readonly #topic: string
  readonly #patterns: RegExp[]
  readonly #upsert: Database.Statement
  readonly #emitted = new Map<string, EmittedCheckpoint>()

  constructor(options: CheckpointExporterOptions) {
    this.#o = options
    this.#topic = checkpointsTopic(options.gatewayAlias)
    this.#patterns = options.groupPatterns.map(globToRegExp)
    const db = options.store.database
    db.exec(`
      CREATE TABLE IF NOT EXISTS mirror_group_checkpoint (
        link_id TEXT NOT NULL, group_id TEXT NOT NULL, stream TEXT NOT NULL, partition INTEGER NOT NULL,
        local_pos INTEGER NOT NULL, upstream_pos INTEGER NOT NULL, metadata TEXT NOT NULL,
        emitted_ms INTEGER NOT NULL,
        PRIMARY KEY (link_id, group_id, stream, partition)
      ) STRICT, WITHOUT ROWID;
    `)
    this.#upsert = db.prepare(
      `INSERT OR REPLACE INTO mirror_group_checkpoint
         (link_id, group_id, stream, partition, local_pos, upstream_pos, metadata, emitted_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    const rows = db
      .prepare(
        'SELECT group_id, stream, partition, local_pos, upstream_pos, metadata, emitted_ms FROM mirror_group_checkpoint WHERE link_id = ?',
      )
      .safeIntegers(true)
      .all(options.link) as EmittedRow[]
    for (const r of rows) {
      this.#emitted.set(key(r.group_id, r.stream, Number(r.partition)), {
        localPos: r.local_pos,
        upstreamPos: r.upstream_pos,
        metadata: r.metadata,
        emittedMs: Number(r.emitted_ms),
      })
    }
  }

  /** The checkpoints topic of this link. */
  get topic(): string {
    return this.#topic
  }

  /** The last checkpoint emitted for a group's partition, if any. */
  emitted(group: string, stream: string, partition: number): EmittedCheckpoint | undefined {
    return this.#emitted.get(key(group, stream, partition))
  }

  /** The checkpoints more recent than the ones already emitted (synchronous: a consistent snapshot). */
  due(partitions: Iterable<CheckpointPartition>): DueCheckpoint[] {
    const byPartition = new Map<string, CheckpointPartition>()
    const streams = new Set<string>()
    for (const pm of partitions) {
      const c = pm.cursor
      // Nothing mirrored yet: no upstream anchor. Reset or diverged upstream: its positions are not ours to name.
      if (c.lastUpstream < 0n || c.state === 'paused-upstream-reset' || c.state === 'diverged') continue
      if (!this.#o.store.hasStream(c.stream)) continue
      byPartition.set(`${c.stream}\u0000${c.partition}`, pm)
      streams.add(c.stream)
    }
    if (streams.size === 0) return []
    const { groups } = this.#o
    const due: DueCheckpoint[] = []
    for (const { group } of groups.listGroups().groups) {
      if (!this.#patterns.some((p) => p.test(group))) continue
      for (const o of groups.fetchOffsets({ group, streams: [...streams] }).offsets) {
        const pm = byPartition.get(`${o.stream}\u0000${o.partition}`)
        if (pm === undefined) continue
        const c = pm.cursor
        const localPos = o.offset
        const upstreamPos = pm.map.positionToUpstream(localPos, {
          nextLocal: c.nextLocal,
          lastUpstream: c.lastUpstream,
        }).position
        const last = this.#emitted.get(key(group, o.stream, o.partition))
        // MM2's checkpointIsMoreRecent: first one, a rewind of the local group, or a newer upstream position.
        if (last !== undefined && localPos >= last.localPos && upstreamPos <= last.upstreamPos) continue
        due.push({
          group,
          stream: o.stream,
          partition: o.partition,
          upstreamTopic: c.upstreamTopic,
          upstreamPartition: c.upstreamPartition,
          localPos,
          upstreamPos,
          metadata: o.metadata,
        })
      }
    }
    return due
  }

  /**
   * Sends every due checkpoint to partition 0 of the checkpoints topic (in batches within the link's
   * limits) and records each batch once it is appended. Returns how many were sent. Rejects with the
   * sink's error; what was not recorded is due again next time (a duplicate is harmless, see above).
   */
  async export(partitions: Iterable<CheckpointPartition>): Promise<number> {
    const due = this.due(partitions)
    let sent = 0
    for (const batch of batches(due, this.#o.batchMaxRecords, this.#o.batchMaxBytes, this.#o.clock.now())) {
      await this.#o.sink.send(this.#topic, checkpointsPartition, batch.records)
      await this.#record(batch.checkpoints, this.#o.clock.now())
      sent += batch.checkpoints.length
    }
    if (sent > 0) this.#o.logger.debug({ topic: this.#topic, checkpoints: sent }, 'group checkpoints emitted')
    return sent
  }

  #record(checkpoints: readonly DueCheckpoint[], emittedMs: number): Promise<void> {
    const { link } = this.#o
    return new Promise((resolve, reject) => {
      this.#o.store.enqueueWrite(
        () => {
          for (const c of checkpoints) {
            this.#upsert.run(link, c.group, c.stream, c.partition, c.localPos, c.upstreamPos, c.metadata, emittedMs)
          }
        },
        // Losing this write to a power cut only means the same checkpoints are sent again: harmless.
        'os',
        (error) => {
          if (error !== null) {
            reject(error)
            return
          }
          for (const c of checkpoints) {
            this.#emitted.set(key(c.group, c.stream, c.partition), {
              localPos: c.localPos,
              upstreamPos: c.upstreamPos,
              metadata: c.metadata,
              emittedMs,
            })
          }
          resolve()
        },
      )
    })
  }
}

/** The MM2 Checkpoint record of a due checkpoint. */
export function checkpointRecord(c: DueCheckpoint, timestampMs: number): UpstreamRecord {
  const { key: k, value } = encodeCheckpoint({
    group: c.group,
    topic: c.upstreamTopic,
    partition: c.upstreamPartition,
    upstreamOffset: c.localPos,
    offset: c.upstreamPos,
    metadata: c.metadata,
  })
  return { key: k, value, headers: [], timestamp: timestampMs }
}

function* batches(
  due: readonly DueCheckpoint[],
  maxRecords: number,
  maxBytes: number,
  timestampMs: number,
): Generator<{ checkpoints: DueCheckpoint[]; records: UpstreamRecord[] }> {
  let checkpoints: DueCheckpoint[] = []
  let records: UpstreamRecord[] = []
  let bytes = 0
  for (const c of due) {
    const record = checkpointRecord(c, timestampMs)
    const size = (record.key?.length ?? 0) + (record.value?.length ?? 0)
    if (records.length > 0 && (records.length >= maxRecords || bytes + size > maxBytes)) {
      yield { checkpoints, records }
      checkpoints = []
      records = []
      bytes = 0
    }
    checkpoints.push(c)
    records.push(record)
    bytes += size
  }
  if (records.length > 0) yield { checkpoints, records }
}

function key(group: string, stream: string, partition: number): string {
  // Group names may hold any character: JSON keeps the three apart.
  return JSON.stringify([group, stream, partition])
}

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')
  return new RegExp(`^${escaped}$`, 's')
}
