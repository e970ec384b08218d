import { isUtf8 } from 'node:buffer'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { validateStreamName } from '../log/stream-config.ts'
import type { LogRecord, RecordHeader, RecordInput } from '../log/types.ts'
import { partitionForKey } from '../streams/partitioner.ts'
import type { HttpContext, PendingPoll, RouteHandler } from './context.ts'
import { requestInvalid } from './http-errors.ts'
import { parseOffsetText, parseUint, queryValue, readBody } from './request.ts'
import { sendJson } from './respond.ts'

// Produce and consume: POST /api/v1/topics/{topic}/messages and
// GET /api/v1/topics/{topic}/partitions/{partition}/messages ("topic" in the seed API = a stream).

export const defaultLimit = 100
export const maxLimit = 10_000
export const maxWaitMs = 30_000
/** Key + value bytes per consume response (at least one record is always returned). */
export const maxResponseRecordBytes = 4 * 1024 * 1024

const recordHeaderPrefix = 'x-header-'

/** POST: the body is the value; X-Partition-Key / X-Partition pick the partition; X-Header-* become headers. */
export const produce: RouteHandler = async (ctx, { req, res, params }) => {
  const stream = validateStreamName(params['topic'])
  const partitions = ctx.store.partitionCount(stream)
  const key = singleHeader(req, 'x-partition-key')
  const explicit = singleHeader(req, 'x-partition')
  const keyBytes = key === undefined ? undefined : Buffer.from(key, 'latin1')
  let partition: number
  if (explicit !== undefined) partition = parseUint(explicit.trim(), 'X-Partition')
  else if (keyBytes !== undefined) partition = partitionForKey(keyBytes, partitions)
  else partition = nextRoundRobin(ctx, stream, partitions)
  ctx.store.latestOffset(stream, partition) // CAIRN_PARTITION_NOT_FOUND before the body is read
  const headers = recordHeaders(req)
  const value = await readBody(req, ctx.maxBodyBytes)
  const record: RecordInput = keyBytes === undefined ? { value, headers } : { key: keyBytes, value, headers }
  ctx.traffic.messages.messagesReceived++
  const result = await ctx.store.append(stream, partition, [record])
  sendJson(res, 200, { topic: stream, partition, offset: result.baseOffset, timestamp: result.timestamp })
}

/** GET: records from `offset` (or the group's committed offset, or the earliest), optionally long-polling. */
export const consume: RouteHandler = async (ctx, { req, res, params, query }) => {
  const stream = validateStreamName(params['topic'])
  const partition = parseUint(params['partition'] ?? '', 'partition')
  const limitText = queryValue(query, 'limit')
  const limit = limitText === undefined ? defaultLimit : parseUint(limitText, 'limit', maxLimit)
  if (limit < 1) throw requestInvalid('limit', `must be an integer from 1 to ${maxLimit} (got "0")`)
  const waitText = queryValue(query, 'wait_ms')
  const waitMs = waitText === undefined ? 0 : parseUint(waitText, 'wait_ms', maxWaitMs)
  const offsetText = queryValue(query, 'offset')
  let offset: bigint
  if (offsetText !== undefined) {
    offset = parseOffsetText(offsetText, 'offset')
  } else {
    const start = ctx.store.earliestOffset(stream, partition)
    const group = singleHeader(req, 'x-consumer-group')
    const committed =
      group === undefined || group === '' ? undefined : ctx.groups.committedOffset(group, stream, partition)
    // A committed position that retention has since passed resumes at the earliest record kept.
    if (committed === undefined || committed < start) offset = start
    else offset = minBigint(committed, ctx.store.latestOffset(stream, partition))
  }
  const readOptions = { maxRecords: limit, maxBytes: maxResponseRecordBytes }
  let result = ctx.store.read(stream, partition, offset, readOptions)
  if (result.records.length === 0 && waitMs > 0 && !ctx.closed && result.nextOffset >= result.logEndOffset) {
    const from = result.nextOffset
    const arrived = await waitForAppend(ctx, stream, partition, waitMs, res)
    if (res.destroyed) return
    if (arrived) result = ctx.store.read(stream, partition, from, readOptions)
  }
  ctx.traffic.messages.messagesSent += result.records.length
  sendJson(res, 200, { messages: result.records.map(recordToJson), next_offset: result.nextOffset })
}

export interface RecordJson {
  offset: bigint
  timestamp: number
  /** The key as UTF-8 text; null without a key or when the key is not valid UTF-8. */
  key: string | null
  /** The key bytes in base64 (null without a key): exact for any key. */
  key_base64: string | null
  /** base64; null for a tombstone. */
  value: string | null
  /** Header name -> base64 value; a repeated name keeps its last value here (see header_list). */
  headers: Record<string, string>
  /** Only when a header name repeats: every header in order, as [name, base64 value]. */
  header_list?: Array<[string, string]>
}

export function recordToJson(record: LogRecord): RecordJson {
  const key = record.key
  const headers: Record<string, string> = {}
  let repeated = false
  for (const h of record.headers) {
    if (Object.hasOwn(headers, h.key)) repeated = true
    headers[h.key] = base64(h.value)
  }
  const json: RecordJson = {
    offset: record.offset,
    timestamp: record.timestamp,
    key: key !== null && isUtf8(key) ? Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('utf8') : null,
    key_base64: key === null ? null : base64(key),
    value: record.value === null ? null : base64(record.value),
    headers,
  }
  if (repeated) json.header_list = record.headers.map((h) => [h.key, base64(h.value)])
  return json
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
}

/**
 * `X-Header-<name>: <value>` request headers, in the order sent, repeats kept: the record header is
 * `<name>` as the client spelled it and the value's bytes as sent.
 */
function recordHeaders(req: IncomingMessage): RecordHeader[] {
  const headers: RecordHeader[] = []
  const raw = req.rawHeaders
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string
    if (
      name.length < recordHeaderPrefix.length ||
      name.slice(0, recordHeaderPrefix.length).toLowerCase() !== recordHeaderPrefix
    )
      continue
    const key = name.slice(recordHeaderPrefix.length)
    if (key === '') throw requestInvalid('X-Header-', 'needs a header name after the prefix')
    // Node hands header values over as latin1: one char per byte, so this recovers the bytes sent.
    headers.push({ key, value: Buffer.from(raw[i + 1] as string, 'latin1') })
  }
  return headers
}

/** A request header that must not repeat; its text as received (latin1, one char per byte). */
function singleHeader(req: IncomingMessage, name: string): string | undefined {
  const values = req.headersDistinct[name]
  if (values === undefined || values.length === 0) return undefined
  if (values.length > 1) throw requestInvalid(name, 'must be given once')
  return values[0]
}

/** Records without a key or explicit partition go round-robin over the stream's partitions. */
function nextRoundRobin(ctx: HttpContext, stream: string, partitions: number): number {
  const next = (ctx.roundRobin.get(stream) ?? 0) % partitions
  ctx.roundRobin.set(stream, (next + 1) % partitions)
  return next
}

/**
 * Waits until a commit appends to the partition (true), or the time is up, the client has gone, or
 * the API is closing (false).
 */
function waitForAppend(
  ctx: HttpContext,
  stream: string,
  partition: number,
  waitMs: number,
  res: ServerResponse,
): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false
    const finish = (arrived: boolean) => {
      if (done) return
      done = true
      unwatch()
      ctx.clock.clearTimeout(timer)
      res.off('close', onClose)
      ctx.polls.delete(poll)
      resolve(arrived)
    }
    const onClose = () => finish(false)
    const poll: PendingPoll = { finish: () => finish(false) }
    const unwatch = ctx.store.watchAppends(stream, (batch) => {
      if (batch.partition === partition) finish(true)
    })
    const timer = ctx.clock.setTimeout(() => finish(false), waitMs)
    res.once('close', onClose)
    ctx.polls.add(poll)
  })
}

function minBigint(a: bigint, b: bigint): bigint {
  return a < b ? a : b
}
