// The one error vocabulary of Cairn. Every runtime failure is a BrokerError with a code from
// `errorCodes`; protocol front ends map codes to wire codes in one place each (toMqttReasonCode,
// toNativeStatus, toHttpStatus live beside their protocol tables). Programmer errors (bad arguments
// to internal APIs) are plain TypeError/RangeError and are never retried.

export const errorCodes = [
  'CAIRN_CONFIG_INVALID',
  'CAIRN_STREAM_NAME_INVALID',
  'CAIRN_STREAM_EXISTS',
  'CAIRN_STREAM_NOT_FOUND',
  'CAIRN_STREAM_CONFIG_INVALID',
  'CAIRN_PARTITION_NOT_FOUND',
  'CAIRN_RECORD_INVALID',
  'CAIRN_OFFSET_OUT_OF_RANGE',
  'CAIRN_STORAGE_FAILED',
  'CAIRN_STORAGE_CORRUPT',
  'CAIRN_STORAGE_FULL',
  'CAIRN_STORAGE_BUSY',
  'CAIRN_STORE_CLOSED',
  'CAIRN_FRAME_TOO_LARGE',
  'CAIRN_FRAME_MALFORMED',
  'CAIRN_PROTOCOL_VERSION',
  'CAIRN_REQUEST_INVALID',
  'CAIRN_OPERATION_UNKNOWN',
  'CAIRN_TIMEOUT',
  'CAIRN_CONNECTION_CLOSED',
  'CAIRN_PRODUCER_FENCED',
  'CAIRN_PRODUCER_UNKNOWN',
  'CAIRN_SEQUENCE_OUT_OF_ORDER',
  'CAIRN_TRANSACTION_INVALID',
  'CAIRN_TRANSACTION_TOO_LARGE',
  'CAIRN_GROUP_MEMBER_UNKNOWN',
  'CAIRN_GROUP_STALE_EPOCH',
  'CAIRN_GROUP_NOT_EMPTY',
  'CAIRN_GROUP_NOT_FOUND',
  'CAIRN_GROUP_INVALID',
  'CAIRN_PARTITION_NOT_ASSIGNED',
  'CAIRN_INTERNAL',
  'CAIRN_UPSTREAM_UNAVAILABLE',
  'CAIRN_UPSTREAM_UNCERTAIN',
  'CAIRN_UPSTREAM_REJECTED',
  'CAIRN_OFFSET_NOT_MIRRORED',
  'CAIRN_MIRROR_DIVERGED',
  'CAIRN_AUTH_FAILED',
  'CAIRN_NOT_AUTHORIZED',
  'CAIRN_AUTH_RATE_LIMITED',
] as const

export type ErrorCode = (typeof errorCodes)[number]

const retriableCodes: ReadonlySet<ErrorCode> = new Set([
  'CAIRN_STORAGE_BUSY',
  'CAIRN_STORAGE_FULL',
  'CAIRN_TIMEOUT',
  'CAIRN_CONNECTION_CLOSED',
  'CAIRN_UPSTREAM_UNAVAILABLE',
  'CAIRN_UPSTREAM_UNCERTAIN',
  'CAIRN_AUTH_RATE_LIMITED',
])

// Classify by brand, not by class identity, so classification survives bundling into one binary.
const brokerErrorBrand = Symbol.for('cairn.error')

export interface BrokerErrorOptions {
  cause?: unknown
  retriable?: boolean
  /** Extra fields for logs and wire mapping; made enumerable so pino serializes them. */
  details?: Record<string, unknown>
}

export class BrokerError extends Error {
  readonly code: ErrorCode
  readonly retriable: boolean
  readonly details: Record<string, unknown>

  constructor(code: ErrorCode, message: string, options: BrokerErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'BrokerError'
    this.code = code
    this.retriable = options.retriable ?? retriableCodes.has(code)
    this.details = options.details ?? {}
    Object.defineProperty(this, brokerErrorBrand, { value: true })
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isBrokerError(value)
  }
}

export class ConfigError extends BrokerError {
  readonly path: string
  readonly value: unknown

  constructor(path: string, value: unknown, message: string) {
    super('CAIRN_CONFIG_INVALID', `${path}: ${message} (got ${describeValue(value)})`, { details: { path } })
    this.name = 'ConfigError'
    this.path = path
    this.value = value
  }
}

/** Several configuration problems reported together, each naming its dotted path. */
export class ConfigErrors extends AggregateError {
  readonly code = 'CAIRN_CONFIG_INVALID'
  readonly problems: readonly ConfigError[]

  constructor(problems: readonly ConfigError[]) {
    super(problems, `invalid configuration:\n${problems.map((p) => `  - ${p.message}`).join('\n')}`)
    this.name = 'ConfigErrors'
    this.problems = problems
  }
}

export function isBrokerError(value: unknown): value is BrokerError {
  return typeof value === 'object' && value !== null && brokerErrorBrand in value
}

export function hasErrorCode(value: unknown, code: ErrorCode): value is BrokerError {
  return isBrokerError(value) && value.code === code
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'bigint') return `${value}n`
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}
