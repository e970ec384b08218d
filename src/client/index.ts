// The TypeScript client for Cairn's native protocol (CBOR frames over TCP or TLS).
export { CairnClient, type CairnClientOptions, type ClientEvents, type ReconnectOptions } from './cairn-client.ts'
export {
  Admin,
  type GroupDescription,
  type GroupOffset,
  type GroupSummary,
  type ListOffsetsResult,
  type OffsetSpec,
  type ResetTo,
  type StreamInfo,
  type StreamSettings,
} from './admin.ts'
export { Producer, type ProducerOptions, type SendOffsetsRequest } from './producer.ts'
export { Consumer, type ConsumerOptions, type PartitionLag } from './consumer.ts'
export { MetadataCache } from './metadata-cache.ts'
export { Backoff, type BackoffOptions } from './backoff.ts'
export type {
  Bytes,
  CommitOffset,
  ConsumerRecord,
  ProducerRecord,
  RecordMetadata,
  RequestOptions,
  StreamPartition,
} from './types.ts'
export { BrokerError, isBrokerError, hasErrorCode, type ErrorCode } from '../errors.ts'
