import type { Logger } from 'pino'
import type { NativeFrontEnd } from '../native-front-end.ts'
import type { OpName, OpRequest, OpResponse } from '../wire/ops.ts'
import { handleFetch } from './fetch.ts'
import {
  handleDeleteGroup,
  handleDescribeGroup,
  handleGroupHeartbeat,
  handleListGroups,
  handleOffsetCommit,
  handleOffsetFetch,
  handleResetOffsets,
} from './groups.ts'
import { handleListOffsets } from './list-offsets.ts'
import { handleMirrorResolve, handleMirrorStatus, handleMirrorTranslate } from './mirror.ts'
import { handleProduce } from './produce.ts'
import { handleAlterStream, handleCreateStream, handleDeleteStream, handleMetadata } from './streams.ts'
import { handleInitProducer, handleTxnAddOffsets, handleTxnBegin, handleTxnEnd } from './transactions.ts'

/** What a handler sees of its connection. */
export interface NativeContext {
  readonly frontEnd: NativeFrontEnd
  readonly logger: Logger
  readonly clientId: string
  readonly closed: boolean
  /** Keyless records without a partition stick to one partition per stream for a request (Kafka's sticky partitioner). */
  readonly stickyPartitions: Map<string, number>
  onClose(listener: () => void): () => void
}

/** Returned by a handler whose request gets no response (produce with acks 0). */
export const noReply = Symbol('noReply')

export type Handler<K extends OpName> = (
  ctx: NativeContext,
  body: OpRequest<K>,
) => OpResponse<K> | Promise<OpResponse<K>> | typeof noReply

/** One handler per operation; `hello` is the connection's own. */
export const handlers: { [K in OpName]: Handler<K> } = {
  metadata: handleMetadata,
  createStream: handleCreateStream,
  alterStream: handleAlterStream,
  deleteStream: handleDeleteStream,
  produce: handleProduce,
  fetch: handleFetch,
  listOffsets: handleListOffsets,
  initProducer: handleInitProducer,
  txnBegin: handleTxnBegin,
  txnAddOffsets: handleTxnAddOffsets,
  txnEnd: handleTxnEnd,
  groupHeartbeat: handleGroupHeartbeat,
  offsetCommit: handleOffsetCommit,
  offsetFetch: handleOffsetFetch,
  listGroups: handleListGroups,
  describeGroup: handleDescribeGroup,
  resetOffsets: handleResetOffsets,
  deleteGroup: handleDeleteGroup,
  mirrorStatus: handleMirrorStatus,
  mirrorTranslate: handleMirrorTranslate,
  mirrorResolve: handleMirrorResolve,
}
