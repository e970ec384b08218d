import { BrokerError } from '../errors.ts'
import { defaultStreamConfig, resolveStreamConfig, validateStreamName } from '../log/stream-config.ts'
import type { StreamSettings } from '../log/types.ts'
import type { RouteHandler } from './context.ts'
import { requestInvalid } from './http-errors.ts'
import { readJsonObject } from './request.ts'
import { sendEmpty, sendJson } from './respond.ts'

// Stream administration: /api/v1/streams and /api/v1/streams/{name}. A stream is answered as the
// store describes it (StreamInfo: name, config, createdMs, partitions with their offsets).

export const listStreams: RouteHandler = (ctx, { res }) => {
  sendJson(res, 200, { streams: ctx.store.listStreams() })
}

/** POST {name, ...settings}: 201 with the new stream. Settings are checked by the store, each problem named. */
export const createStream: RouteHandler = async (ctx, { req, res, principal }) => {
  const body = await readJsonObject(req, ctx.maxBodyBytes)
  const { name, ...settings } = body
  if (name === undefined || name === null) throw requestInvalid('name', 'is required')
  const stream = validateStreamName(name)
  principal?.check({ kind: 'stream', name: stream, action: 'admin' })
  const info = ctx.store.createStream(stream, knownSettings(stream, settings))
  sendJson(res, 201, info, { location: `/api/v1/streams/${encodeURIComponent(info.name)}` })
}

export const describeStream: RouteHandler = (ctx, { res, params }) => {
  sendJson(res, 200, ctx.store.describeStream(validateStreamName(params['name'])))
}

/**
 * PATCH {settings}: changes retention, cleanup policy, durability, subjects; `partitions` may only
 * grow (existing partitions and offsets are untouched). Every setting is checked before anything
 * changes, so a refused PATCH changes nothing.
 */
export const alterStream: RouteHandler = async (ctx, { req, res, params }) => {
  const name = validateStreamName(params['name'])
  const body = await readJsonObject(req, ctx.maxBodyBytes)
  if (Object.hasOwn(body, 'name') && body['name'] !== name) throw requestInvalid('name', 'cannot be changed')
  const { name: _name, partitions, ...rest } = body
  const settings = knownSettings(name, rest)
  const current = ctx.store.describeStream(name)
  resolveStreamConfig(
    name,
    { ...settings, ...(partitions === undefined ? {} : { partitions }) } as StreamSettings,
    current.config,
  )
  if (typeof partitions === 'number' && partitions !== current.config.partitions) {
    ctx.store.addPartitions(name, partitions)
  }
  const info = Object.keys(settings).length > 0 ? ctx.store.alterStream(name, settings) : ctx.store.describeStream(name)
  sendJson(res, 200, info)
}

export const deleteStream: RouteHandler = (ctx, { res, params }) => {
  ctx.store.deleteStream(validateStreamName(params['name']))
  sendEmpty(res, 204)
}

/**
 * Refuses names that are not stream settings. resolveStreamConfig checks names with `in`, which lets
 * "__proto__", "constructor" and the like through from JSON, so they are caught here first.
 */
function knownSettings(stream: string, body: Record<string, unknown>): StreamSettings {
  const unknown = Object.keys(body).filter((key) => !Object.hasOwn(defaultStreamConfig, key))
  if (unknown.length > 0) {
    throw new BrokerError(
      'CAIRN_STREAM_CONFIG_INVALID',
      `stream "${stream}": ${unknown.map((key) => `unknown setting ${JSON.stringify(key)}`).join('; ')}`,
      { details: { stream } },
    )
  }
  return body
}
