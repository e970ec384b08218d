import { validateStreamName } from '../log/stream-config.ts'
import { resolveActions } from '../mirror/partition-mirror.ts'
import { noMirror, type MirrorApi, type ResolveRequest, type TranslateRequest } from '../native/mirror-api.ts'
import type { HttpContext, RouteHandler } from './context.ts'
import { requestInvalid } from './http-errors.ts'
import { describe, parseOffsetText, parseUint, queryValue, readJsonObject, uintField } from './request.ts'
import { sendJson } from './respond.ts'

// The upstream mirror: /api/v1/mirror/status, /api/v1/mirror/translate (mirror.md B9, B11) and
// /api/v1/mirror/resolve (B5.3), the same answers as the native mirrorStatus, mirrorTranslate and
// mirrorResolve operations, with offsets as JSON numbers.
// Without a mirror both answer 400 CAIRN_REQUEST_INVALID; an offset without an image is 404
// CAIRN_OFFSET_NOT_MIRRORED.

function mirrorOf(ctx: HttpContext): MirrorApi {
  if (ctx.mirror === undefined) throw noMirror()
  return ctx.mirror
}

/** Every link: state, last error, and per mirrored partition its cursor, upstream offset, lag and gaps. */
export const mirrorStatus: RouteHandler = (ctx, { res }) => {
  sendJson(res, 200, { links: mirrorOf(ctx).status() })
}

/**
 * ?stream=&partition=&offset=[&kind=record|position][&direction=to-upstream|to-local][&link=]: where a
 * record (kind=record, the default) or a consumer position (kind=position) is on the other side.
 * `offset` is local for to-upstream (the default) and upstream for to-local; stream and partition are
 * always the local ones.
 */
export const mirrorTranslate: RouteHandler = (ctx, { res, query }) => {
  const mirror = mirrorOf(ctx)
  const stream = required(query, 'stream')
  const request: TranslateRequest = {
    stream: validateStreamName(stream),
    partition: parseUint(required(query, 'partition'), 'partition'),
    offset: parseOffsetText(required(query, 'offset'), 'offset'),
    kind: oneOf(query, 'kind', ['record', 'position'] as const),
    direction: oneOf(query, 'direction', ['to-upstream', 'to-local'] as const),
  }
  const link = queryValue(query, 'link')
  if (link !== undefined) {
    if (link === '') throw requestInvalid('link', 'must not be empty')
    request.link = link
  }
  sendJson(res, 200, mirror.translate(request))
}

/**
 * POST {"stream", "partition", "action", "link"?}: an operator's answer to a partition the mirror
 * stopped (retry/skip a refused record, remirror/continue after an upstream reset, remirror a stream
 * created again, rebase a diverged partition). An action that does not fit the state is 400.
 */
export const mirrorResolve: RouteHandler = async (ctx, { req, res }) => {
  const mirror = mirrorOf(ctx)
  const body = await readJsonObject(req, ctx.maxBodyBytes)
  const { stream, action, link } = body
  if (typeof stream !== 'string') throw requestInvalid('stream', `must be a stream name (got ${describe(stream)})`)
  if (typeof action !== 'string' || !(resolveActions as readonly string[]).includes(action)) {
    throw requestInvalid('action', `must be ${resolveActions.join(', ')} (got ${describe(action)})`)
  }
  const request: ResolveRequest = {
    stream: validateStreamName(stream),
    partition: uintField(body, 'partition'),
    action: action as ResolveRequest['action'],
  }
  if (link !== undefined) {
    if (typeof link !== 'string' || link === '') throw requestInvalid('link', 'must be a non-empty string')
    request.link = link
  }
  sendJson(res, 200, await mirror.resolve(request))
}

function required(query: URLSearchParams, name: string): string {
  const value = queryValue(query, name)
  if (value === undefined) throw requestInvalid(name, 'is required')
  return value
}

/** A query value out of a closed list; absent: the first. */
function oneOf<const T extends string>(query: URLSearchParams, name: string, values: readonly [T, ...T[]]): T {
  const value = queryValue(query, name)
  if (value === undefined) return values[0]
  if (!(values as readonly string[]).includes(value)) {
    throw requestInvalid(name, `must be ${values.join(' or ')} (got ${JSON.stringify(value)})`)
  }
  return value as T
}
