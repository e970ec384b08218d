// The mirror's view of an upstream Kafka cluster. The mirror loop is written against this interface
// only; `KafkajsSink` (kafkajs-sink.ts) implements it over the Kafka protocol and `FakeSink`
// (fake-sink.ts) in memory for unit tests. Nothing outside those two files knows which client is used.
//
// Failure vocabulary (every rejection is a BrokerError with one of these codes):
// - CAIRN_UPSTREAM_UNAVAILABLE: the operation did not reach the broker, or the broker proved it did
//   nothing (e.g. NOT_LEADER_OR_FOLLOWER). For send(): the batch is provably NOT appended and may be
//   resent after a backoff. `details.kafkaError` names the Kafka error when there was one.
// - CAIRN_UPSTREAM_UNCERTAIN (send() only): the request may have been appended. The mirror must
//   reconcile (read back) before sending anything else to that partition.
// - CAIRN_UPSTREAM_REJECTED: the broker refused for a reason that a resend cannot fix (record too large,
//   invalid timestamp, authorization, unknown topic/partition after a metadata refresh). For send(): the
//   batch is provably NOT appended.

import type { RecordBatch } from './record-batch.ts'

export interface UpstreamRecord {
  key: Uint8Array | null
  value: Uint8Array | null
  /** In order. Header names are UTF-8; duplicates are allowed (see KafkajsSink for kafkajs's limits). */
  headers: Array<[string, Uint8Array]>
  /** CreateTime, ms since the epoch. */
  timestamp: number
}

export interface FetchedRecord extends UpstreamRecord {
  offset: bigint
}

export interface KafkaSink {
  /** Connects and learns metadata; throws BrokerError CAIRN_UPSTREAM_UNAVAILABLE. */
  connect(): Promise<void>
  /** Partition count of a topic (the mock auto-creates unknown topics with 4 partitions on a metadata request). */
  partitionCount(topic: string): Promise<number>
  /** One batch to one partition, acks=all, in order; resolves with the base offset the broker assigned. The
   *  mirror passes batches it encoded (mirror-batch.ts); records given as objects are encoded by the sink.
   *  Rejects with BrokerError: CAIRN_UPSTREAM_REJECTED when the broker proved it did NOT append (record too large,
   *  invalid timestamp, authorization, unknown topic/partition after metadata refresh); CAIRN_UPSTREAM_UNCERTAIN when
   *  the request may have been appended (timeout, connection cut after the request was written, any ambiguous error);
   *  CAIRN_UPSTREAM_UNAVAILABLE when nothing was sent (not connected, connection refused before writing). */
  send(topic: string, partition: number, batch: RecordBatch | readonly UpstreamRecord[]): Promise<bigint>
  /** Earliest and latest (high watermark) offsets; never ListOffsets-by-timestamp (the mock returns -1 and kafkajs turns it into the HWM). */
  offsets(topic: string, partition: number): Promise<{ earliest: bigint; latest: bigint }>
  /** Records in [from, until) (fewer if retention removed some; stops at maxRecords), with headers — the reconciliation read-back. */
  read(topic: string, partition: number, from: bigint, until: bigint, maxRecords?: number): Promise<FetchedRecord[]>
  close(): Promise<void>
}
