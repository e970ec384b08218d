import { isBrokerError, type ErrorCode } from '../errors.ts'
import type { WireErrorBody } from './wire/ops.ts'

// The native protocol's closed list of status codes: one number per Cairn error code, fixed
// forever (new codes get new numbers; none is reused). 0 is success. Clients branch on `status`
// or on `error.code`; `error.retriable` says whether the same request may succeed later.
export const nativeStatus: Readonly<Record<ErrorCode, number>> = {
  CAIRN_CONFIG_INVALID: 1,
  CAIRN_STREAM_NAME_INVALID: 2,
  CAIRN_STREAM_EXISTS: 3,
  CAIRN_STREAM_NOT_FOUND: 4,
  CAIRN_STREAM_CONFIG_INVALID: 5,
  CAIRN_PARTITION_NOT_FOUND: 6,
  CAIRN_RECORD_INVALID: 7,
  CAIRN_OFFSET_OUT_OF_RANGE: 8,
  CAIRN_STORAGE_FAILED: 9,
  CAIRN_STORAGE_CORRUPT: 10,
  CAIRN_STORAGE_FULL: 11,
  CAIRN_STORAGE_BUSY: 12,
  CAIRN_STORE_CLOSED: 13,
  CAIRN_FRAME_TOO_LARGE: 14,
  CAIRN_FRAME_MALFORMED: 15,
  CAIRN_PROTOCOL_VERSION: 16,
  CAIRN_REQUEST_INVALID: 17,
  CAIRN_OPERATION_UNKNOWN: 18,
  CAIRN_TIMEOUT: 19,
  CAIRN_CONNECTION_CLOSED: 20,
  CAIRN_PRODUCER_FENCED: 21,
  CAIRN_PRODUCER_UNKNOWN: 22,
  CAIRN_SEQUENCE_OUT_OF_ORDER: 23,
  CAIRN_TRANSACTION_INVALID: 24,
  CAIRN_TRANSACTION_TOO_LARGE: 25,
  CAIRN_GROUP_MEMBER_UNKNOWN: 26,
  CAIRN_GROUP_STALE_EPOCH: 27,
  CAIRN_GROUP_NOT_EMPTY: 28,
  CAIRN_GROUP_NOT_FOUND: 29,
  CAIRN_GROUP_INVALID: 30,
  CAIRN_PARTITION_NOT_ASSIGNED: 31,
  CAIRN_INTERNAL: 32,
  CAIRN_UPSTREAM_UNAVAILABLE: 33,
  CAIRN_UPSTREAM_UNCERTAIN: 34,
  CAIRN_UPSTREAM_REJECTED: 35,
  CAIRN_OFFSET_NOT_MIRRORED: 36,
  CAIRN_MIRROR_DIVERGED: 37,
  CAIRN_AUTH_FAILED: 38,
  CAIRN_NOT_AUTHORIZED: 39,
  CAIRN_AUTH_RATE_LIMITED: 40,
}

export interface NativeFailure {
  status: number
  error: WireErrorBody
}

/** The one place an error becomes a native status and wire error. */
export function toNativeFailure(error: unknown): NativeFailure {
  if (isBrokerError(error)) {
    return {
      status: nativeStatus[error.code],
      error: { code: error.code, message: error.message, retriable: error.retriable },
    }
  }
  return {
    status: nativeStatus.CAIRN_INTERNAL,
    error: { code: 'CAIRN_INTERNAL', message: 'internal error (see the broker log)', retriable: false },
  }
}
