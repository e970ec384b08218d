// The log store's public vocabulary: streams of partitions, records, offsets.
// Offsets are bigint at every public boundary (Kafka semantics: logStartOffset = first kept,
// logEndOffset = next to be written). Timestamps are milliseconds since the epoch.

export const cleanupPolicies = ['delete', 'compact'] as const
export type CleanupPolicy = (typeof cleanupPolicies)[number]

/** `fsync`: an acknowledged append survives power loss. `os`: it survives a process crash. */
export const durabilities = ['fsync', 'os'] as const
export type Durability = (typeof durabilities)[number]

export interface StreamConfig {
  partitions: number
  /** Records older than this are deleted; null keeps them forever (until a byte or disk budget). */
  retentionMs: number | null
  /** Per partition; null means no byte limit. */
  retentionBytes: number | null
  cleanupPolicy: CleanupPolicy
  durability: Durability
  /** With `compact`: how long a tombstone (null value) stays readable before compaction removes it. */
  deleteRetentionMs: number
  /** MQTT topic filters that route publishes into this stream (interpreted by the MQTT front end). */
  subjects: string[]
}

export type StreamSettings = Partial<StreamConfig>

export interface RecordHeader {
  key: string
  value: Uint8Array
}

/** What a producer hands to append(). Keys and values are opaque bytes; null value = tombstone. */
export interface RecordInput {
  key?: Uint8Array | null
  value: Uint8Array | null
  headers?: readonly RecordHeader[]
  /** Defaults to the store clock's now() at append time. */
  timestamp?: number
  /** Structured metadata (e.g. MQTT topic, QoS, retain, v5 properties), stored CBOR-encoded. */
  meta?: unknown
}

export interface LogRecord {
  offset: bigint
  timestamp: number
  key: Uint8Array | null
  value: Uint8Array | null
  headers: RecordHeader[]
  meta: unknown
}

export interface AppendResult {
  baseOffset: bigint
  /** Offset of the last record of the batch. */
  lastOffset: bigint
  /** Timestamp of the first record of the batch. */
  timestamp: number
}

export interface ReadOptions {
  /** At most this many records (default 500). */
  maxRecords?: number
  /** Stop once this many bytes (key + value) are collected; at least one record is always returned. */
  maxBytes?: number
}

export interface ReadResult {
  records: LogRecord[]
  /** The offset to read from next (past any compacted holes that were skipped). */
  nextOffset: bigint
  logStartOffset: bigint
  logEndOffset: bigint
}

export interface PartitionInfo {
  partition: number
  logStartOffset: bigint
  logEndOffset: bigint
  /** Records present (differs from end - start once compaction has removed some). */
  records: number
  /** Bytes of key + value + headers of the records present. */
  bytes: number
}

export interface StreamInfo {
  name: string
  config: StreamConfig
  createdMs: number
  partitions: PartitionInfo[]
}

export interface TimestampLookup {
  offset: bigint
  timestamp: number
}

export interface StoreStats {
  /** Bytes of the database file in use (pages minus free pages). */
  usedBytes: number
  fileBytes: number
  walBytes: number
  freeBytes: number
  commits: number
  appendedRecords: number
  /** Deleted by retention or the disk budget, since the store was opened. */
  retentionDeletedRecords: number
  retentionDeletedBytes: number
  compactionDeletedRecords: number
}
