import type { OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { BrokerError, isBrokerError, type ErrorCode } from '../errors.ts'
import { sendJson } from './respond.ts'

// The one place where Cairn's error vocabulary becomes an HTTP status (as toMqttReasonCode is for
// MQTT). Every code is listed, so a new code does not compile until it has a status here.

/** The HTTP status for a BrokerError code. */
export function statusForCode(code: ErrorCode): number {
  switch (code) {
    case 'CAIRN_STREAM_NAME_INVALID':
    case 'CAIRN_STREAM_CONFIG_INVALID':
    case 'CAIRN_RECORD_INVALID':
    case 'CAIRN_REQUEST_INVALID':
    case 'CAIRN_GROUP_INVALID':
    case 'CAIRN_FRAME_MALFORMED':
    case 'CAIRN_PROTOCOL_VERSION':
      return 400
    case 'CAIRN_STREAM_NOT_FOUND':
    case 'CAIRN_PARTITION_NOT_FOUND':
    case 'CAIRN_GROUP_NOT_FOUND':
    case 'CAIRN_OPERATION_UNKNOWN':
    case 'CAIRN_OFFSET_NOT_MIRRORED':
      return 404
    case 'CAIRN_STREAM_EXISTS':
    case 'CAIRN_GROUP_NOT_EMPTY':
    case 'CAIRN_GROUP_STALE_EPOCH':
    case 'CAIRN_GROUP_MEMBER_UNKNOWN':
    case 'CAIRN_PARTITION_NOT_ASSIGNED':
    case 'CAIRN_PRODUCER_FENCED':
    case 'CAIRN_PRODUCER_UNKNOWN':
    case 'CAIRN_SEQUENCE_OUT_OF_ORDER':
    case 'CAIRN_TRANSACTION_INVALID':
    case 'CAIRN_MIRROR_DIVERGED':
      return 409
    case 'CAIRN_FRAME_TOO_LARGE':
    case 'CAIRN_TRANSACTION_TOO_LARGE':
      return 413
    // 401 comes with a WWW-Authenticate challenge (set where the request is authenticated).
    case 'CAIRN_AUTH_FAILED':
      return 401
    case 'CAIRN_NOT_AUTHORIZED':
      return 403
    case 'CAIRN_AUTH_RATE_LIMITED':
      return 429
    // 416 rather than 400: the request was well formed, the position is not in the log; a client
    // tells "reset my position" apart from "fix my request" by the status alone.
    case 'CAIRN_OFFSET_OUT_OF_RANGE':
      return 416
    case 'CAIRN_STORAGE_FULL':
      return 507
    case 'CAIRN_STORAGE_BUSY':
    case 'CAIRN_STORE_CLOSED':
    case 'CAIRN_CONNECTION_CLOSED':
      return 503
    case 'CAIRN_TIMEOUT':
    case 'CAIRN_UPSTREAM_UNCERTAIN':
      return 504
    // Upstream is Kafka, a gateway behind this one: its failures are "bad gateway".
    case 'CAIRN_UPSTREAM_UNAVAILABLE':
    case 'CAIRN_UPSTREAM_REJECTED':
      return 502
    // A configuration problem can only be the server's own; storage failures are not the client's.
    case 'CAIRN_CONFIG_INVALID':
    case 'CAIRN_STORAGE_FAILED':
    case 'CAIRN_STORAGE_CORRUPT':
    case 'CAIRN_INTERNAL':
      return 500
  }
}

/**
 * The HTTP status for any thrown value: BrokerErrors by code, anything else 500. The HTTP front end
 * itself may pin a status on an error it raises (`details.httpStatus`: 413 for a body over the limit,
 * 405 for a method a path does not take).
 */
export function toHttpStatus(error: unknown): number {
  if (!isBrokerError(error)) return 500
  const pinned = error.details['httpStatus']
  return typeof pinned === 'number' ? pinned : statusForCode(error.code)
}

export interface ErrorBody {
  error: {
    code: ErrorCode
    message: string
    retriable: boolean
    logStartOffset?: number
    logEndOffset?: number
  }
}

/** The JSON body for an error; internals of non-BrokerErrors are not exposed. */
export function toErrorBody(error: unknown): ErrorBody {
  if (!isBrokerError(error)) {
    // A failure that is not a BrokerError is a bug: its details go to the log only.
    return { error: { code: 'CAIRN_INTERNAL', message: 'internal error (see the broker log)', retriable: false } }
  }
  const body: ErrorBody = { error: { code: error.code, message: error.message, retriable: error.retriable } }
  if (error.code === 'CAIRN_OFFSET_OUT_OF_RANGE') {
    const start = toNumber(error.details['logStartOffset'])
    const end = toNumber(error.details['logEndOffset'])
    if (start !== undefined) body.error.logStartOffset = start
    if (end !== undefined) body.error.logEndOffset = end
  }
  return body
}

/** Writes `error` as the JSON error response (status from toHttpStatus unless given). */
export function sendError(res: ServerResponse, error: unknown, headers: OutgoingHttpHeaders = {}): void {
  sendJson(res, toHttpStatus(error), toErrorBody(error), headers)
}

/** A CAIRN_REQUEST_INVALID error whose message names the field. */
export function requestInvalid(field: string, problem: string): BrokerError {
  return new BrokerError('CAIRN_REQUEST_INVALID', `${field} ${problem}`, { details: { field } })
}

function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value
  if (typeof value === 'bigint') return Number(value)
  if (typeof value === 'string' && /^\d+$/.test(value)) return Number(value)
  return undefined
}
