import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { pino, type Logger } from 'pino'
import { authorizeHttpRequest, basicChallenge } from '../auth/http-access.ts'
import type { SecurityPolicy } from '../auth/security-policy.ts'
import { isBrokerError } from '../errors.ts'
import type { LogStore } from '../log/log-store.ts'
import type { MirrorApi } from '../native/mirror-api.ts'
import type { MetricsRegistry } from '../observability/registry.ts'
import { HttpTraffic } from '../observability/traffic.ts'
import { systemClock, type Clock } from '../util/clock.ts'
import type { HttpContext, HttpGroupCoordinator } from './context.ts'
import * as groups from './groups.ts'
import { healthz, metrics, readyz } from './health.ts'
import { certificateIdentityOf } from './certificate-identity.ts'
import { sendError, toHttpStatus } from './http-errors.ts'
import * as messages from './messages.ts'
import * as mirror from './mirror.ts'
import { Router, type Route } from './router.ts'
import { createStatusRoute, type StatusSource } from './status.ts'
import * as streams from './streams.ts'

// The seed HTTP API as a request handler: the gateway owns the listener
// (`http.createServer(createHttpApi({...}))`), this module owns routing, bodies, errors and JSON.

export interface HttpApiOptions {
  store: LogStore
  /** The consumer-group coordinator (GroupCoordinator from src/groups). */
  groups: HttpGroupCoordinator
  /** Times long-poll waits; defaults to the system clock. */
  clock?: Clock
  logger?: Logger
  /** Largest request body accepted (message value or JSON); larger gets 413. Default 1 MiB. */
  maxBodyBytes?: number
  /** /readyz answers 200 only while this returns true (default: always) and the store is open. */
  isReady?: () => boolean
  /** The upstream mirror (Mirror from src/mirror), for /api/v1/mirror/*; without it those answer 400. */
  mirror?: MirrorApi
  /** The metrics registry rendered at /metrics (Prometheus text format). */
  metrics?: MetricsRegistry
  /** Users and ACLs: every path but /healthz and /readyz then needs HTTP Basic credentials. */
  security?: SecurityPolicy | undefined
  /** The verified TLS client certificate's identity of a request's connection; default: what the HTTPS listener recorded. */
  certificateIdentity?: ((req: IncomingMessage) => string | undefined) | undefined
  /** What the gateway knows for GET /api/v1/status (listeners, connections); without it that path is 404. */
  status?: StatusSource
}

export type HttpApiHandler = ((req: IncomingMessage, res: ServerResponse) => void) & {
  /** Answers pending long-polls now (with what they have) and makes /readyz answer 503; call before closing the server. */
  close(): void
  /** Connections, messages and bytes served, for the metrics. */
  readonly traffic: HttpTraffic
}

export const defaultMaxBodyBytes = 1024 * 1024

export const routes: readonly Route[] = [
  { path: '/healthz', methods: { GET: healthz } },
  { path: '/readyz', methods: { GET: readyz } },
  { path: '/metrics', methods: { GET: metrics } },
  { path: '/api/v1/topics/:topic/messages', methods: { POST: messages.produce } },
  { path: '/api/v1/topics/:topic/partitions/:partition/messages', methods: { GET: messages.consume } },
  { path: '/api/v1/streams', methods: { GET: streams.listStreams, POST: streams.createStream } },
  {
    path: '/api/v1/streams/:name',
    methods: { GET: streams.describeStream, PATCH: streams.alterStream, DELETE: streams.deleteStream },
  },
  { path: '/api/v1/consumer-groups', methods: { GET: groups.listGroups } },
  { path: '/api/v1/consumer-groups/:group', methods: { GET: groups.describeGroup, DELETE: groups.deleteGroup } },
  { path: '/api/v1/consumer-groups/:group/offsets', methods: { GET: groups.fetchOffsets, POST: groups.commitOffset } },
  { path: '/api/v1/consumer-groups/:group/reset-offsets', methods: { POST: groups.resetOffsets } },
  { path: '/api/v1/mirror/status', methods: { GET: mirror.mirrorStatus } },
  { path: '/api/v1/mirror/translate', methods: { GET: mirror.mirrorTranslate } },
  { path: '/api/v1/mirror/resolve', methods: { POST: mirror.mirrorResolve } },
]

export function createHttpApi(options: HttpApiOptions): HttpApiHandler {
  const maxBodyBytes = options.maxBodyBytes ?? defaultMaxBodyBytes
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 0)
    throw new RangeError('maxBodyBytes must be an integer >= 0')
  const ctx: HttpContext = {
    store: options.store,
    groups: options.groups,
    mirror: options.mirror,
    metrics: options.metrics,
    traffic: new HttpTraffic(),
    clock: options.clock ?? systemClock,
    logger: options.logger ?? pino({ level: 'silent' }),
    maxBodyBytes,
    isReady: options.isReady ?? (() => true),
    roundRobin: new Map(),
    polls: new Set(),
    closed: false,
  }
  const status = options.status
  const statusRoutes: Route[] =
    status === undefined ? [] : [{ path: '/api/v1/status', methods: { GET: createStatusRoute(status) } }]
  const router = new Router([...routes, ...statusRoutes])

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    ctx.traffic.request(req)
    try {
      const { pathname, query } = splitUrl(req.url ?? '/')
      const dispatch = router.dispatch(req.method ?? 'GET', pathname)
      if (dispatch.kind === 'options') {
        res.writeHead(204, { allow: dispatch.allow })
        res.end()
        return
      }
      const security = options.security
      const principal =
        security === undefined
          ? undefined
          : await authorizeHttpRequest(
              security,
              req,
              { path: dispatch.path, method: req.method ?? 'GET', params: dispatch.params, query },
              (options.certificateIdentity ?? certificateIdentityOf)(req),
            )
      await dispatch.handler(ctx, { req, res, params: dispatch.params, query, principal })
    } catch (error) {
      try {
        answerError(ctx, req, res, error)
      } catch {
        res.destroy()
      }
    }
  }

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    void handle(req, res)
  }
  return Object.assign(handler, {
    traffic: ctx.traffic,
    close(): void {
      ctx.closed = true
      for (const poll of [...ctx.polls]) poll.finish()
    },
  })
}

function answerError(ctx: HttpContext, req: IncomingMessage, res: ServerResponse, error: unknown): void {
  const status = toHttpStatus(error)
  // A client that left mid-request is its own affair: nothing failed here, and nobody is left to answer.
  if (isBrokerError(error) && error.code === 'CAIRN_CONNECTION_CLOSED') {
    ctx.logger.debug({ method: req.method, url: req.url }, 'http client left before the request was read')
    res.destroy()
    return
  }
  if (status >= 500) {
    ctx.logger.error({ err: error, method: req.method, url: req.url }, 'http request failed')
  } else {
    ctx.logger.debug(
      { code: isBrokerError(error) ? error.code : undefined, method: req.method, url: req.url },
      'http request refused',
    )
  }
  if (res.headersSent) {
    res.destroy()
    return
  }
  const headers: Record<string, string> = {}
  if (isBrokerError(error)) {
    const allow = error.details['allow']
    if (status === 405 && typeof allow === 'string') headers['allow'] = allow
    // The rest of a body over the limit is not read: the connection ends after the answer.
    if (status === 413) headers['connection'] = 'close'
    if (status === 401) headers['www-authenticate'] = basicChallenge
  }
  sendError(res, error, headers)
}

function splitUrl(url: string): { pathname: string; query: URLSearchParams } {
  let target = url
  // absolute-form (a request sent as to a proxy): keep its path and query only
  if (!target.startsWith('/') && /^https?:\/\//i.test(target)) {
    try {
      const parsed = new URL(target)
      target = parsed.pathname + parsed.search
    } catch {
      target = '/'
    }
  }
  const q = target.indexOf('?')
  return {
    pathname: q === -1 ? target : target.slice(0, q),
    query: new URLSearchParams(q === -1 ? '' : target.slice(q + 1)),
  }
}

/**
 * For `server.on('clientError', handleHttpClientError)`: requests Node's parser refuses (headers over
 * maxHeaderSize, malformed request lines) get a JSON error too, then the connection closes.
 */
export function handleHttpClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy()
    return
  }
  const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400
  const message =
    status === 431 ? 'request headers too large' : status === 408 ? 'request timed out' : 'malformed HTTP request'
  const body = JSON.stringify({ error: { code: 'CAIRN_REQUEST_INVALID', message, retriable: false } })
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  )
}
