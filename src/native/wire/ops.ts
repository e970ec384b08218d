import {
  array,
  bool,
  bytes,
  int,
  int64,
  literal,
  nullable,
  offset,
  oneOfKeys,
  optional,
  struct,
  text,
  tuple,
  uint,
  uint32,
  type Infer,
  type Schema,
} from './schema.ts'

/*
  Native protocol v1 operations: the `body` of each request and of its response (the envelopes
  are in frames.ts, the framing in frame.ts). CDDL (RFC 8610); every schema below enforces exactly
  this on both ends (the broker checks requests, the client checks responses). Unknown map keys are
  ignored. `offset` = uint sent as an 8-byte integer (bigint); any integer form is accepted.
  A per-item `error` (same shape as the envelope's) reports a failure of that item alone.

  ; ---- streams ----
  metadata-req     = { ? streams: [* tstr] }                      ; absent = every stream
  metadata-res     = { streams: [* stream-info] }                  ; unknown names are left out
  stream-info      = { name: tstr, config: stream-config, createdMs: uint, partitions: [* partition-info] }
  partition-info   = { partition: uint, logStartOffset: offset, logEndOffset: offset, records: uint, bytes: uint }
  stream-config    = { partitions: uint, retentionMs: int, retentionBytes: int,  ; -1 = no limit
                       cleanupPolicy: "delete" / "compact", durability: "fsync" / "os",
                       deleteRetentionMs: uint, subjects: [* tstr] }
  stream-settings  = { ? <any field of stream-config> }             ; partitions may only grow
  createStream-req = { name: tstr, ? config: stream-settings }  createStream-res = { stream: stream-info }
  alterStream-req  = { name: tstr, config: stream-settings }    alterStream-res  = { stream: stream-info }
  deleteStream-req = { name: tstr }                             deleteStream-res = {}

  ; ---- produce ----
  produce-req   = { acks: 0 / 1 / -1,        ; 0: no response at all; 1: after the commit, written to the
                                             ; OS (survives a crash); -1: durable per the stream (fsync)
                    ? producerId: uint, ? producerEpoch: uint,    ; idempotent / transactional producer
                    ? transactional: bool,                        ; records join the open transaction
                    batches: [+ produce-batch] }
  produce-batch = { stream: tstr,
                    ? partition: uint,       ; absent: the broker picks (key -> murmur2 like Kafka's
                                             ; default partitioner; no key -> sticky); needs no producerId
                    ? firstSequence: uint,   ; with producerId: the batch's first sequence number
                    records: [+ record-in] }
  record-in     = { ? key: bstr / nil, value: bstr / nil, ? headers: [* header], ? timestamp: uint }
  header        = [tstr, bstr]
  produce-res   = { results: [+ produce-result] }  ; one per (batch, partition), batches in order
  produce-result = { batch: uint, stream: tstr, partition: uint,
                     ? records: [* uint],    ; indices into the batch, only when the broker split it
                     ? baseOffset: offset, ? lastOffset: offset, ? timestamp: uint,  ; absent in a transaction
                     ? duplicate: true,      ; an idempotent retry of a batch already written
                     ? error: error }

  ; ---- fetch and offsets ----
  fetch-req     = { ? maxWaitMs: uint,       ; long-poll: answer when data arrives or after this (default 0)
                    ? maxBytes: uint,        ; whole response budget (default 4 MiB)
                    partitions: [+ { stream: tstr, partition: uint, offset: offset, ? maxBytes: uint }] }
  fetch-res     = { partitions: [+ fetch-partition] }             ; in request order
  fetch-partition = { stream: tstr, partition: uint, records: [* record-out], nextOffset: offset,
                      logStartOffset: offset, logEndOffset: offset, ? error: error }
  record-out    = [offset, timestamp: uint, key: bstr / nil, value: bstr / nil, headers: [* header],
                   meta: wire / nil]         ; meta: MQTT origin (qos, retain, v5 properties), else nil
  listOffsets-req = { partitions: [+ { stream: tstr, partition: uint, at: at }] }
  at            = { earliest: true } / { latest: true } / { timestamp: uint }
  listOffsets-res = { partitions: [+ { stream: tstr, partition: uint, ? offset: offset, ? timestamp: uint,
                      ? error: error }] }   ; by timestamp: the first record at or after it; none ->
                                            ; offset = logEndOffset and no timestamp

  ; ---- idempotent producer and transactions ----
  initProducer-req = { ? transactionalId: tstr, ? transactionTimeoutMs: uint }
  initProducer-res = { producerId: uint, producerEpoch: uint }   ; same transactionalId: same id, epoch + 1
                                                                  ; (fences the older instance, aborts its transaction)
  txnBegin-req     = { producerId: uint, producerEpoch: uint }          txnBegin-res = {}
  txnAddOffsets-req = { producerId: uint, producerEpoch: uint, group: tstr, ? memberId: tstr,
                        ? memberEpoch: int, offsets: [+ commit-offset] }  txnAddOffsets-res = {}
  txnEnd-req       = { producerId: uint, producerEpoch: uint, commit: bool }
  txnEnd-res       = { results: [* { stream: tstr, partition: uint, baseOffset: offset, lastOffset: offset,
                        timestamp: uint }] }                   ; the offsets the committed records got

  ; ---- consumer groups ----
  groupHeartbeat-req = { group: tstr,
                         memberId: tstr,         ; "" to join
                         memberEpoch: int,       ; 0 join, -1 leave, -2 static member leaves for now
                         ? instanceId: tstr,     ; static membership
                         ? clientId: tstr,
                         ? streams: [* tstr],    ; required when joining; absent = unchanged
                         ? assignor: "range" / "roundrobin" / "sticky",
                         ? sessionTimeoutMs: uint, ? rebalanceTimeoutMs: uint,
                         ? owned: [* stream-partitions] }  ; what the member owns now; absent = unchanged
  groupHeartbeat-res = { memberId: tstr, memberEpoch: int, heartbeatIntervalMs: uint,
                         assignment: [* stream-partitions] }   ; what the member may own now: revoke the
                         ; rest of `owned` (commit first), then start the new ones
  stream-partitions = { stream: tstr, partitions: [* uint] }
  commit-offset  = { stream: tstr, partition: uint, offset: offset, ? metadata: tstr }
  offsetCommit-req = { group: tstr, ? memberId: tstr, ? memberEpoch: int, offsets: [+ commit-offset] }
                     ; without memberId only while the group has no members (simple consumers, HTTP)
  offsetCommit-res = {}
  offsetFetch-req  = { group: tstr, ? streams: [* tstr] }
  offsetFetch-res  = { offsets: [* offset-info] }
  offset-info      = { stream: tstr, partition: uint, offset: offset, metadata: tstr, commitMs: uint,
                       logEndOffset: offset, lag: uint }
  listGroups-req   = {}       listGroups-res = { groups: [* group-summary] }
  group-summary    = { group: tstr, state: "empty" / "stable" / "reconciling", members: uint }
  describeGroup-req = { group: tstr }
  describeGroup-res = { group: tstr, state: tstr, groupEpoch: uint, assignor: tstr,
                        members: [* member-info], offsets: [* offset-info] }
  member-info      = { memberId: tstr, ? instanceId: tstr, clientId: tstr, memberEpoch: int,
                       streams: [* tstr], assignment: [* stream-partitions] }
  resetOffsets-req = { group: tstr, stream: tstr, ? partitions: [* uint], to: reset-to, ? dryRun: bool }
  reset-to         = { earliest: true } / { latest: true } / { timestamp: uint } / { shift: int } /
                     { offset: offset }            ; only while the group has no members
  resetOffsets-res = { offsets: [* { stream: tstr, partition: uint, ? previous: offset, offset: offset }] }
  deleteGroup-req  = { group: tstr }               deleteGroup-res = {}

  ; ---- upstream mirror (answered CAIRN_REQUEST_INVALID when the broker runs without a mirror) ----
  mirrorStatus-req = {}       mirrorStatus-res = { links: [* link-status] }
  link-status      = { link: tstr, state: tstr,    ; "connecting" / "streaming" / "backoff" / "closed"
                       lastError: { code: tstr, message: tstr, atMs: uint } / nil,
                       redeliveredRecords: uint,   ; sent again after an uncertain outcome (duplicates upstream)
                       partitions: [* mirror-partition] }
  mirror-partition = { stream: tstr, partition: uint, upstreamTopic: tstr, upstreamPartition: uint,
                       state: tstr,                ; "active" / "paused-upstream-reset" / "blocked-poison" / "diverged"
                       nextLocal: offset,          ; every local offset below it is mirrored or a recorded gap
                       lastUpstream: int,          ; upstream offset of the last mirrored record, -1 before the first
                       lagRecords: offset,         ; log end - nextLocal
                       oldestUnmirroredMs: uint / nil,  ; timestamp of the record at nextLocal; nil: nothing to send
                       confirmedRecords: uint, gapRecords: uint }
  mirrorTranslate-req = { ? link: tstr,             ; absent: the first configured link
                          stream: tstr, partition: uint,  ; the local partition, in both directions
                          kind: "record" / "position",    ; this record's image / where a consumer at this
                                                          ; position (next offset to read) resumes
                          direction: "to-upstream" / "to-local",
                          offset: offset }                ; local offset (to-upstream) or upstream offset (to-local)
  mirrorTranslate-res = { link: tstr, stream: tstr, partition: uint, upstreamTopic: tstr, upstreamPartition: uint,
                          kind: "record" / "position", direction: "to-upstream" / "to-local",
                          from: offset, to: offset,
                          clamped: bool }   ; positions: beyond the mirror frontier, answered with the frontier
  ; a record without an image (not mirrored yet, a gap, not ours upstream) or a partition the link does
  ; not mirror: CAIRN_OFFSET_NOT_MIRRORED
  mirrorResolve-req = { ? link: tstr, stream: tstr, partition: uint,
                        action: "retry" / "skip" / "remirror" / "continue" / "rebase" }
                        ; blocked-poison: retry / skip; paused-upstream-reset: remirror / continue;
                        ; paused-stream-recreated: remirror; diverged: rebase. Any other pair, or an
                        ; active partition: CAIRN_REQUEST_INVALID naming the actions that apply
  mirrorResolve-res = { link: tstr, stream: tstr, partition: uint, action: tstr,
                        previousState: tstr, state: tstr, nextLocal: offset, mapEpoch: uint }
*/

export const wireError = struct({ code: text, message: text, retriable: bool })
const streamNames = array(text)
const limit = int(-1)

export const streamConfig = struct({
  partitions: uint,
  retentionMs: limit,
  retentionBytes: limit,
  cleanupPolicy: literal('delete', 'compact'),
  durability: literal('fsync', 'os'),
  deleteRetentionMs: uint,
  subjects: streamNames,
})

export const streamSettings = struct({
  partitions: optional(uint),
  retentionMs: optional(limit),
  retentionBytes: optional(limit),
  cleanupPolicy: optional(literal('delete', 'compact')),
  durability: optional(literal('fsync', 'os')),
  deleteRetentionMs: optional(uint),
  subjects: optional(streamNames),
})

const partitionInfo = struct({
  partition: uint,
  logStartOffset: offset,
  logEndOffset: offset,
  records: uint,
  bytes: uint,
})

export const streamInfo = struct({
  name: text,
  config: streamConfig,
  createdMs: uint,
  partitions: array(partitionInfo),
})

const header = tuple<[string, Uint8Array]>(text, bytes)
const nullableBytes = nullable(bytes)

export const recordIn = struct({
  key: optional(nullableBytes),
  value: nullableBytes,
  headers: optional(array(header)),
  timestamp: optional(uint),
})

const wireValue: Schema<unknown> = (v) => v
export const recordOut = tuple<[bigint, number, Uint8Array | null, Uint8Array | null, [string, Uint8Array][], unknown]>(
  offset,
  uint,
  nullableBytes,
  nullableBytes,
  array(header),
  wireValue,
)

const streamPartitions = struct({ stream: text, partitions: array(uint) })
const commitOffset = struct({ stream: text, partition: uint, offset, metadata: optional(text) })
const producerRef = { producerId: uint, producerEpoch: uint }
const empty = struct({})

const offsetInfo = struct({
  stream: text,
  partition: uint,
  offset,
  metadata: text,
  commitMs: uint,
  logEndOffset: offset,
  lag: uint,
})

const memberInfo = struct({
  memberId: text,
  instanceId: optional(text),
  clientId: text,
  memberEpoch: int(-2),
  streams: streamNames,
  assignment: array(streamPartitions),
})

const mirrorPartition = struct({
  stream: text,
  partition: uint,
  upstreamTopic: text,
  upstreamPartition: uint,
  state: text,
  nextLocal: offset,
  lastUpstream: int64,
  lagRecords: offset,
  oldestUnmirroredMs: nullable(uint),
  confirmedRecords: uint,
  gapRecords: uint,
})

const linkStatus = struct({
  link: text,
  state: text,
  lastError: nullable(struct({ code: text, message: text, atMs: uint })),
  redeliveredRecords: uint,
  partitions: array(mirrorPartition),
})

const translateKind = literal('record', 'position')
const translateDirection = literal('to-upstream', 'to-local')
const resolveAction = literal('retry', 'skip', 'remirror', 'continue', 'rebase')

/** Every v1 operation: its request body schema and its response body schema. */
export const ops = {
  metadata: {
    request: struct({ streams: optional(streamNames) }),
    response: struct({ streams: array(streamInfo) }),
  },
  createStream: {
    request: struct({ name: text, config: optional(streamSettings) }),
    response: struct({ stream: streamInfo }),
  },
  alterStream: {
    request: struct({ name: text, config: streamSettings }),
    response: struct({ stream: streamInfo }),
  },
  deleteStream: { request: struct({ name: text }), response: empty },
  produce: {
    request: struct({
      acks: literal(0, 1, -1),
      producerId: optional(uint),
      producerEpoch: optional(uint),
      transactional: optional(bool),
      batches: array(
        struct({
          stream: text,
          partition: optional(uint),
          firstSequence: optional(uint32),
          records: array(recordIn),
        }),
      ),
    }),
    response: struct({
      results: array(
        struct({
          batch: uint,
          stream: text,
          partition: uint,
          records: optional(array(uint)),
          baseOffset: optional(offset),
          lastOffset: optional(offset),
          timestamp: optional(uint),
          duplicate: optional(bool),
          error: optional(wireError),
        }),
      ),
    }),
  },
  fetch: {
    request: struct({
      maxWaitMs: optional(uint),
      maxBytes: optional(uint),
      partitions: array(struct({ stream: text, partition: uint, offset, maxBytes: optional(uint) })),
    }),
    response: struct({
      partitions: array(
        struct({
          stream: text,
          partition: uint,
          records: array(recordOut),
          nextOffset: offset,
          logStartOffset: offset,
          logEndOffset: offset,
          error: optional(wireError),
        }),
      ),
    }),
  },
  listOffsets: {
    request: struct({
      partitions: array(
        struct({
          stream: text,
          partition: uint,
          at: oneOfKeys({ earliest: bool, latest: bool, timestamp: uint }),
        }),
      ),
    }),
    response: struct({
      partitions: array(
        struct({
          stream: text,
          partition: uint,
          offset: optional(offset),
          timestamp: optional(uint),
          error: optional(wireError),
        }),
      ),
    }),
  },
  initProducer: {
    request: struct({ transactionalId: optional(text), transactionTimeoutMs: optional(uint) }),
    response: struct(producerRef),
  },
  txnBegin: { request: struct(producerRef), response: empty },
  txnAddOffsets: {
    request: struct({
      ...producerRef,
      group: text,
      memberId: optional(text),
      memberEpoch: optional(int(-2)),
      offsets: array(commitOffset),
    }),
    response: empty,
  },
  txnEnd: {
    request: struct({ ...producerRef, commit: bool }),
    response: struct({
      results: array(
        struct({ stream: text, partition: uint, baseOffset: offset, lastOffset: offset, timestamp: uint }),
      ),
    }),
  },
  groupHeartbeat: {
    request: struct({
      group: text,
      memberId: text,
      memberEpoch: int(-2),
      instanceId: optional(text),
      clientId: optional(text),
      streams: optional(streamNames),
      assignor: optional(literal('range', 'roundrobin', 'sticky')),
      sessionTimeoutMs: optional(uint),
      rebalanceTimeoutMs: optional(uint),
      owned: optional(array(streamPartitions)),
    }),
    response: struct({
      memberId: text,
      memberEpoch: int(-2),
      heartbeatIntervalMs: uint,
      assignment: array(streamPartitions),
    }),
  },
  offsetCommit: {
    request: struct({
      group: text,
      memberId: optional(text),
      memberEpoch: optional(int(-2)),
      offsets: array(commitOffset),
    }),
    response: empty,
  },
  offsetFetch: {
    request: struct({ group: text, streams: optional(streamNames) }),
    response: struct({ offsets: array(offsetInfo) }),
  },
  listGroups: {
    request: empty,
    response: struct({
      groups: array(struct({ group: text, state: literal('empty', 'stable', 'reconciling'), members: uint })),
    }),
  },
  describeGroup: {
    request: struct({ group: text }),
    response: struct({
      group: text,
      state: literal('empty', 'stable', 'reconciling'),
      groupEpoch: uint,
      assignor: text,
      members: array(memberInfo),
      offsets: array(offsetInfo),
    }),
  },
  resetOffsets: {
    request: struct({
      group: text,
      stream: text,
      partitions: optional(array(uint)),
      to: oneOfKeys({ earliest: bool, latest: bool, timestamp: uint, shift: int64, offset }),
      dryRun: optional(bool),
    }),
    response: struct({
      offsets: array(struct({ stream: text, partition: uint, previous: optional(offset), offset })),
    }),
  },
  deleteGroup: { request: struct({ group: text }), response: empty },
  mirrorStatus: { request: empty, response: struct({ links: array(linkStatus) }) },
  mirrorTranslate: {
    request: struct({
      link: optional(text),
      stream: text,
      partition: uint,
      kind: translateKind,
      direction: translateDirection,
      offset,
    }),
    response: struct({
      link: text,
      stream: text,
      partition: uint,
      upstreamTopic: text,
      upstreamPartition: uint,
      kind: translateKind,
      direction: translateDirection,
      from: offset,
      to: offset,
      clamped: bool,
    }),
  },
  mirrorResolve: {
    request: struct({ link: optional(text), stream: text, partition: uint, action: resolveAction }),
    response: struct({
      link: text,
      stream: text,
      partition: uint,
      action: text,
      previousState: text,
      state: text,
      nextLocal: offset,
      mapEpoch: uint,
    }),
  },
} as const

export type OpName = keyof typeof ops
export type OpRequest<K extends OpName> = Infer<(typeof ops)[K]['request']>
export type OpResponse<K extends OpName> = Infer<(typeof ops)[K]['response']>
export type StreamInfoBody = Infer<typeof streamInfo>
export type StreamSettingsBody = Infer<typeof streamSettings>
export type RecordInBody = Infer<typeof recordIn>
export type RecordOutBody = Infer<typeof recordOut>
export type WireErrorBody = Infer<typeof wireError>

export function isOpName(op: string): op is OpName {
  return Object.hasOwn(ops, op)
}
