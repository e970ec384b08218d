import { BrokerError } from '../../src/errors.ts'
import type {
  LinkStatus,
  MirrorApi,
  ResolveRequest,
  ResolveResult,
  TranslateRequest,
  TranslateResult,
} from '../../src/native/mirror-api.ts'

/**
 * A stand-in for the upstream mirror, for the tests of what exposes it (native ops, HTTP, CLI): fixed
 * status, and a translation as a real exclusive, gap-free partition would answer it. The real Mirror
 * (offset map, cursors, Kafka) is tested in test/unit/mirror and the mirror's integration tests.
 *
 * Link `central` mirrors sensors/0 to gw1.sensors/0: local records 0..39 are upstream 100..139 (local
 * 40 and 41 are not mirrored yet). sensors/1 is mirrored to gw1.sensors/1 but nothing has gone up yet.
 * resolve() answers as for a partition blocked by a refused record: skip and retry apply, nothing else.
 */
export const stubNowMs = 1_800_000_000_000

export interface StubMirror extends MirrorApi {
  /** Every translate request, in order. */
  readonly requests: TranslateRequest[]
  /** Every resolve request, in order. */
  readonly resolved: ResolveRequest[]
}

export function stubMirror(): StubMirror {
  const requests: TranslateRequest[] = []
  const resolved: ResolveRequest[] = []
  const status: LinkStatus[] = [
    {
      link: 'central',
      state: 'backoff',
      lastError: { code: 'CAIRN_UPSTREAM_UNAVAILABLE', message: 'kafka:9092 refused', atMs: stubNowMs - 12_000 },
      redeliveredRecords: 3,
      partitions: [
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
          gapRecords: 5,
        },
        {
          stream: 'sensors',
          partition: 0,
          upstreamTopic: 'gw1.sensors',
          upstreamPartition: 0,
          state: 'active',
          nextLocal: 40n,
          lastUpstream: 139n,
          lagRecords: 2n,
          oldestUnmirroredMs: stubNowMs - 90_000,
          confirmedRecords: 40,
          gapRecords: 0,
        },
      ],
    },
  ]
  const notMirrored = (message: string) => new BrokerError('CAIRN_OFFSET_NOT_MIRRORED', message)
  return {
    requests,
    resolved,
    status: () => status,
    resolve(request: ResolveRequest): Promise<ResolveResult> {
      resolved.push(request)
      const { stream, partition, action } = request
      if (action !== 'skip' && action !== 'retry') {
        return Promise.reject(
          new BrokerError(
            'CAIRN_REQUEST_INVALID',
            `central: ${stream}/${partition} is blocked-poison: ${action} does not apply (use retry or skip)`,
          ),
        )
      }
      const nextLocal = action === 'skip' ? 41n : 40n
      return Promise.resolve({
        link: request.link ?? 'central',
        stream,
        partition,
        action,
        previousState: 'blocked-poison',
        state: 'active',
        nextLocal,
        mapEpoch: 0,
      })
    },
    translate(request: TranslateRequest): TranslateResult {
      requests.push(request)
      const link = request.link ?? 'central'
      if (link !== 'central') throw new BrokerError('CAIRN_REQUEST_INVALID', `no mirror link ${link}`)
      if (request.stream !== 'sensors' || request.partition !== 0) {
        throw notMirrored(`${request.stream}/${request.partition} is not mirrored by link central`)
      }
      const { offset } = request
      let to: bigint
      let clamped = false
      if (request.kind === 'record') {
        if (request.direction === 'to-upstream') {
          if (offset >= 40n) throw notMirrored(`local offset ${offset} has no upstream copy`)
          to = offset + 100n
        } else {
          if (offset < 100n || offset >= 140n) {
            throw notMirrored(`upstream offset ${offset} is not a record of this partition`)
          }
          to = offset - 100n
        }
      } else if (request.direction === 'to-upstream') {
        to = offset >= 40n ? 140n : offset + 100n
        clamped = offset > 40n
      } else {
        to = offset < 100n ? 0n : offset >= 140n ? 40n : offset - 100n
        clamped = offset > 140n
      }
      return {
        link,
        stream: request.stream,
        partition: request.partition,
        upstreamTopic: 'gw1.sensors',
        upstreamPartition: 0,
        kind: request.kind,
        direction: request.direction,
        from: offset,
        to,
        clamped,
      }
    },
  }
}
