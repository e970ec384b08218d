import type { RouteHandler } from './context.ts'
import { renderPrometheus } from '../observability/prometheus.ts'
import { sendJson } from './respond.ts'

// Liveness and readiness for process supervisors and load balancers.

/** 200 while the process answers HTTP at all. */
export const healthz: RouteHandler = (_ctx, { res }) => {
  sendJson(res, 200, { status: 'ok' })
}

/** 200 when the broker says it is ready and the log store is open; else 503 naming what is not. */
export const readyz: RouteHandler = (ctx, { res }) => {
  const problems: string[] = []
  if (ctx.closed) problems.push('http api closing')
  let ready: boolean
  try {
    ready = ctx.isReady()
  } catch {
    ready = false
  }
  if (!ready) problems.push('broker not ready')
  if (!storeOpen(ctx)) problems.push('log store closed')
  if (problems.length === 0) sendJson(res, 200, { status: 'ready' })
  else sendJson(res, 503, { status: 'not ready', problems })
}

function storeOpen(ctx: Parameters<RouteHandler>[0]): boolean {
  try {
    // stats() refuses with CAIRN_STORE_CLOSED once close() has begun; it reads three pragmas.
    ctx.store.stats()
    return true
  } catch {
    return false
  }
}

/** The metrics registry in Prometheus' text format (empty without a registry). */
export const metrics: RouteHandler = (ctx, { res }) => {
  const body = ctx.metrics === undefined ? '' : renderPrometheus(ctx.metrics.collect())
  res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' })
  res.end(body)
}
