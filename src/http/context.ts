import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import type { Principal } from '../auth/security-policy.ts'
import type { LogStore } from '../log/log-store.ts'
import type { MirrorApi } from '../native/mirror-api.ts'
import type { MetricsRegistry } from '../observability/registry.ts'
import type { HttpTraffic } from '../observability/traffic.ts'
import type { OpRequest, OpResponse } from '../native/wire/ops.ts'
import type { Clock } from '../util/clock.ts'

type MaybePromise<T> = T | Promise<T>

/**
 * What the HTTP API needs from the consumer-group coordinator (src/groups/group-coordinator.ts);
 * GroupCoordinator satisfies it. Declared here so the HTTP layer depends on the operations it uses
 * only, and so tests can hand it a stand-in.
 */
export interface HttpGroupCoordinator {
  /** Without memberId: a simple commit, allowed only while the group has no active members. */
  commitOffsets(request: OpRequest<'offsetCommit'>): Promise<void>
  committedOffset(group: string, stream: string, partition: number): bigint | undefined
  fetchOffsets(request: OpRequest<'offsetFetch'>): MaybePromise<OpResponse<'offsetFetch'>>
  listGroups(): MaybePromise<OpResponse<'listGroups'>>
  describeGroup(group: string): MaybePromise<OpResponse<'describeGroup'>>
  resetOffsets(request: OpRequest<'resetOffsets'>): MaybePromise<OpResponse<'resetOffsets'>>
  deleteGroup(group: string): Promise<void>
}

/** A long-poll fetch waiting for data; close() answers it at once (shutdown). */
export interface PendingPoll {
  finish(): void
}

/** Shared by every route handler of one HTTP API instance. */
export interface HttpContext {
  readonly store: LogStore
  readonly groups: HttpGroupCoordinator
  /** The upstream mirror; undefined when the broker runs without one. */
  readonly mirror: MirrorApi | undefined
  /** The numbers /metrics renders; undefined: /metrics is empty. */
  readonly metrics: MetricsRegistry | undefined
  /** Connections, messages and bytes of this API, for the metrics. */
  readonly traffic: HttpTraffic
  readonly clock: Clock
  readonly logger: Logger
  readonly maxBodyBytes: number
  readonly isReady: () => boolean
  /** Next partition per stream for records without key or explicit partition. */
  readonly roundRobin: Map<string, number>
  readonly polls: Set<PendingPoll>
  closed: boolean
}

export interface RouteRequest {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  /** Percent-decoded path parameters by name. */
  readonly params: Readonly<Record<string, string>>
  readonly query: URLSearchParams
  /** Who is asking, when a security policy is configured (see src/auth/http-access.ts). */
  readonly principal?: Principal | undefined
}

export type RouteHandler = (ctx: HttpContext, request: RouteRequest) => void | Promise<void>
