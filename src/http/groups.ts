import { validateStreamName } from '../log/stream-config.ts'
import type { OpRequest } from '../native/wire/ops.ts'
import type { RouteHandler } from './context.ts'
import { requestInvalid } from './http-errors.ts'
import { describe, offsetField, readJsonObject, toOffset, toSignedOffset, uintField } from './request.ts'
import { sendEmpty, sendJson } from './respond.ts'

// Consumer groups: /api/v1/consumer-groups[/{group}[/offsets|/reset-offsets]]. Answers are the
// coordinator's own shapes (stream, partition, offset, lag...) with offsets as JSON numbers.

type ResetTo = OpRequest<'resetOffsets'>['to']

export const listGroups: RouteHandler = async (ctx, { res }) => {
  sendJson(res, 200, await ctx.groups.listGroups())
}

/** State, epoch, assignor, members, and per partition the committed offset, log end and lag. */
export const describeGroup: RouteHandler = async (ctx, { res, params }) => {
  sendJson(res, 200, await ctx.groups.describeGroup(params['group'] ?? ''))
}

export const deleteGroup: RouteHandler = async (ctx, { res, params }) => {
  await ctx.groups.deleteGroup(params['group'] ?? '')
  sendEmpty(res, 204)
}

/** GET: the group's committed offsets with lag; `?topic=a&topic=b` narrows to those streams. */
export const fetchOffsets: RouteHandler = async (ctx, { res, params, query }) => {
  const topics = query.getAll('topic')
  const request: OpRequest<'offsetFetch'> = { group: params['group'] ?? '' }
  if (topics.length > 0) request.streams = topics.map((t) => validateStreamName(t))
  sendJson(res, 200, await ctx.groups.fetchOffsets(request))
}

/**
 * POST {topic, partition, offset, metadata?}: commits `offset` (the next offset to consume) as a
 * simple consumer; refused with CAIRN_GROUP_NOT_EMPTY while the group has active members.
 */
export const commitOffset: RouteHandler = async (ctx, { req, res, params }) => {
  const body = await readJsonObject(req, ctx.maxBodyBytes)
  const stream = validateStreamName(topicOf(body))
  const partition = uintField(body, 'partition')
  const offset = offsetField(body, 'offset')
  const metadata = body['metadata']
  if (metadata !== undefined && metadata !== null && typeof metadata !== 'string') {
    throw requestInvalid('metadata', `must be a string (got ${describe(metadata)})`)
  }
  ctx.store.latestOffset(stream, partition) // unknown stream or partition: 404 before the coordinator
  const commit: OpRequest<'offsetCommit'>['offsets'][number] = { stream, partition, offset }
  if (typeof metadata === 'string') commit.metadata = metadata
  await ctx.groups.commitOffsets({ group: params['group'] ?? '', offsets: [commit] })
  sendJson(res, 200, { committed: true })
}

/**
 * POST {topic, partitions?, to, dryRun?}: `to` is "earliest", "latest", {timestamp: ms},
 * {shift: n} (may be negative) or {offset: n}. Only while the group has no active members.
 */
export const resetOffsets: RouteHandler = async (ctx, { req, res, params }) => {
  const body = await readJsonObject(req, ctx.maxBodyBytes)
  const request: OpRequest<'resetOffsets'> = {
    group: params['group'] ?? '',
    stream: validateStreamName(topicOf(body)),
    to: resetTarget(body['to']),
  }
  const partitions = body['partitions']
  if (partitions !== undefined && partitions !== null) {
    if (!Array.isArray(partitions)) throw requestInvalid('partitions', `must be an array (got ${describe(partitions)})`)
    request.partitions = partitions.map((p: unknown, i) => {
      if (typeof p !== 'number' || !Number.isSafeInteger(p) || p < 0) {
        throw requestInvalid(`partitions[${i}]`, `must be a non-negative integer (got ${describe(p)})`)
      }
      return p
    })
  }
  const dryRun = body['dryRun']
  if (dryRun !== undefined && dryRun !== null) {
    if (typeof dryRun !== 'boolean') throw requestInvalid('dryRun', `must be a boolean (got ${describe(dryRun)})`)
    request.dryRun = dryRun
  }
  sendJson(res, 200, await ctx.groups.resetOffsets(request))
}

function topicOf(body: Record<string, unknown>): unknown {
  const topic = body['topic'] ?? body['stream']
  if (topic === undefined || topic === null) throw requestInvalid('topic', 'is required')
  return topic
}

function resetTarget(to: unknown): ResetTo {
  if (to === 'earliest') return { earliest: true }
  if (to === 'latest') return { latest: true }
  if (typeof to === 'object' && to !== null && !Array.isArray(to)) {
    const field = Object.keys(to).length === 1 ? Object.keys(to)[0] : undefined
    const spec = to as Record<string, unknown>
    if (field === 'earliest' && spec['earliest'] === true) return { earliest: true }
    if (field === 'latest' && spec['latest'] === true) return { latest: true }
    if (field === 'timestamp') {
      const ts = spec['timestamp']
      if (typeof ts !== 'number' || !Number.isSafeInteger(ts) || ts < 0) {
        throw requestInvalid('to.timestamp', `must be a non-negative integer of ms (got ${describe(ts)})`)
      }
      return { timestamp: ts }
    }
    if (field === 'shift') return { shift: toSignedOffset(spec['shift'], 'to.shift') }
    if (field === 'offset') return { offset: toOffset(spec['offset'], 'to.offset') }
  }
  if (to === undefined || to === null) throw requestInvalid('to', 'is required')
  throw requestInvalid(
    'to',
    `must be "earliest", "latest", {"timestamp": ms}, {"shift": n} or {"offset": n} (got ${describe(to)})`,
  )
}
