import type { OpName, OpRequest, OpResponse } from '../../../../src/native/wire/ops.ts'

// One request and one response body per operation, as the golden-byte tests (ops.test.ts) and
// their pinned bytes (ops-golden.json) use them. Every operation must have a sample.

const b = (s: string): Uint8Array => new TextEncoder().encode(s)
const info = {
  name: 'sensors',
  config: {
    partitions: 2,
    retentionMs: 604_800_000,
    retentionBytes: -1,
    cleanupPolicy: 'delete' as const,
    durability: 'fsync' as const,
    deleteRetentionMs: 86_400_000,
    subjects: ['sensors/#'],
  },
  createdMs: 1_700_000_000_000,
  partitions: [{ partition: 0, logStartOffset: 0n, logEndOffset: 42n, records: 42, bytes: 4200 }],
}
const offsetInfo = {
  stream: 'sensors',
  partition: 0,
  offset: 40n,
  metadata: '',
  commitMs: 1_700_000_000_000,
  logEndOffset: 42n,
  lag: 2,
}

export const samples: { [K in OpName]: { request: OpRequest<K>; response: OpResponse<K> } } = {
  metadata: { request: { streams: ['sensors'] }, response: { streams: [info] } },
  createStream: {
    request: { name: 'sensors', config: { partitions: 2, subjects: ['sensors/#'] } },
    response: { stream: info },
  },
  alterStream: { request: { name: 'sensors', config: { retentionMs: -1 } }, response: { stream: info } },
  deleteStream: { request: { name: 'sensors' }, response: {} },
  produce: {
    request: {
      acks: -1,
      producerId: 7,
      producerEpoch: 0,
      batches: [
        {
          stream: 'sensors',
          partition: 1,
          firstSequence: 0,
          records: [{ key: b('t1'), value: b('21.5'), headers: [['unit', b('C')]], timestamp: 1_700_000_000_000 }],
        },
      ],
    },
    response: {
      results: [
        { batch: 0, stream: 'sensors', partition: 1, baseOffset: 42n, lastOffset: 42n, timestamp: 1_700_000_000_000 },
      ],
    },
  },
  fetch: {
    request: { maxWaitMs: 500, maxBytes: 1_048_576, partitions: [{ stream: 'sensors', partition: 1, offset: 42n }] },
    response: {
      partitions: [
        {
          stream: 'sensors',
          partition: 1,
          records: [[42n, 1_700_000_000_000, b('t1'), b('21.5'), [['unit', b('C')]], null]],
          nextOffset: 43n,
          logStartOffset: 0n,
          logEndOffset: 43n,
        },
      ],
    },
  },
  listOffsets: {
    request: { partitions: [{ stream: 'sensors', partition: 0, at: { timestamp: 1_700_000_000_000 } }] },
    response: { partitions: [{ stream: 'sensors', partition: 0, offset: 12n, timestamp: 1_700_000_000_100 }] },
  },
  initProducer: {
    request: { transactionalId: 'etl-1', transactionTimeoutMs: 60_000 },
    response: { producerId: 7, producerEpoch: 3 },
  },
  txnBegin: { request: { producerId: 7, producerEpoch: 3 }, response: {} },
  txnAddOffsets: {
    request: {
      producerId: 7,
      producerEpoch: 3,
      group: 'etl',
      memberId: 'm-1',
      memberEpoch: 4,
      offsets: [{ stream: 'sensors', partition: 0, offset: 43n }],
    },
    response: {},
  },
  txnEnd: {
    request: { producerId: 7, producerEpoch: 3, commit: true },
    response: {
      results: [{ stream: 'out', partition: 0, baseOffset: 9n, lastOffset: 10n, timestamp: 1_700_000_000_000 }],
    },
  },
  groupHeartbeat: {
    request: {
      group: 'etl',
      memberId: '',
      memberEpoch: 0,
      instanceId: 'gw-app',
      streams: ['sensors'],
      assignor: 'sticky',
    },
    response: {
      memberId: 'm-1',
      memberEpoch: 1,
      heartbeatIntervalMs: 3000,
      assignment: [{ stream: 'sensors', partitions: [0, 1] }],
    },
  },
  offsetCommit: {
    request: {
      group: 'etl',
      memberId: 'm-1',
      memberEpoch: 1,
      offsets: [{ stream: 'sensors', partition: 0, offset: 43n, metadata: 'ok' }],
    },
    response: {},
  },
  offsetFetch: { request: { group: 'etl', streams: ['sensors'] }, response: { offsets: [offsetInfo] } },
  listGroups: { request: {}, response: { groups: [{ group: 'etl', state: 'stable', members: 1 }] } },
  describeGroup: {
    request: { group: 'etl' },
    response: {
      group: 'etl',
      state: 'stable',
      groupEpoch: 1,
      assignor: 'sticky',
      members: [
        {
          memberId: 'm-1',
          instanceId: 'gw-app',
          clientId: 'app',
          memberEpoch: 1,
          streams: ['sensors'],
          assignment: [{ stream: 'sensors', partitions: [0, 1] }],
        },
      ],
      offsets: [offsetInfo],
    },
  },
  resetOffsets: {
    request: { group: 'etl', stream: 'sensors', to: { shift: -10n }, dryRun: true },
    response: { offsets: [{ stream: 'sensors', partition: 0, previous: 40n, offset: 30n }] },
  },
  deleteGroup: { request: { group: 'etl' }, response: {} },
  mirrorStatus: {
    request: {},
    response: {
      links: [
        {
          link: 'central',
          state: 'backoff',
          lastError: { code: 'CAIRN_UPSTREAM_UNAVAILABLE', message: 'broker down', atMs: 1_700_000_000_500 },
          redeliveredRecords: 3,
          partitions: [
            {
              stream: 'sensors',
              partition: 0,
              upstreamTopic: 'gw1.sensors',
              upstreamPartition: 0,
              state: 'active',
              nextLocal: 40n,
              lastUpstream: 139n,
              lagRecords: 2n,
              oldestUnmirroredMs: 1_700_000_000_000,
              confirmedRecords: 40,
              gapRecords: 0,
            },
            {
              stream: 'sensors',
              partition: 1,
              upstreamTopic: 'gw1.sensors',
              upstreamPartition: 1,
              state: 'active',
              nextLocal: 0n,
              lastUpstream: -1n,
              lagRecords: 0n,
              oldestUnmirroredMs: null,
              confirmedRecords: 0,
              gapRecords: 0,
            },
          ],
        },
      ],
    },
  },
  mirrorTranslate: {
    request: {
      link: 'central',
      stream: 'sensors',
      partition: 0,
      kind: 'record',
      direction: 'to-upstream',
      offset: 12n,
    },
    response: {
      link: 'central',
      stream: 'sensors',
      partition: 0,
      upstreamTopic: 'gw1.sensors',
      upstreamPartition: 0,
      kind: 'record',
      direction: 'to-upstream',
      from: 12n,
      to: 112n,
      clamped: false,
    },
  },
  mirrorResolve: {
    request: { link: 'central', stream: 'sensors', partition: 0, action: 'skip' },
    response: {
      link: 'central',
      stream: 'sensors',
      partition: 0,
      action: 'skip',
      previousState: 'blocked-poison',
      state: 'active',
      nextLocal: 13n,
      mapEpoch: 0,
    },
  },
}
