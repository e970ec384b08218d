import { validateStreamName } from '../log/stream-config.ts'
import { noMirror, type MirrorApi, type TranslateRequest } from '../native/mirror-api.ts'
import type { HttpContext, RouteHandler } from './context.ts'
import { requestInvalid } from './http-errors.ts'
import { parseOffsetText, parseUint, queryValue } from './request.ts'
import { sendJson } from './respond.ts'

// The upstream mirror: /api/v1/mirror/status and /api/v1/mirror/translate (mirror.md B9, B11), the same
// answers as the native mirrorStatus and mirrorTranslate operations, with offsets as JSON numbers.
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
