import { BrokerError, errorCodes, type ErrorCode } from '../errors.ts'
import type { WireError } from '../native/wire/frames.ts'

// Errors the client raises on its own side of the wire. Everything the broker reports arrives as a
// wire `error` {code, message, retriable} and becomes a BrokerError with the same three fields.

const knownCodes: ReadonlySet<string> = new Set(errorCodes)

/** A BrokerError from a wire error (envelope or per item). `op` names the operation for logs. */
export function errorFromWire(error: WireError, op: string): BrokerError {
  // A newer broker may send a code this client does not know; it is kept as sent (the cast is
  // deliberate), so callers comparing codes still see the broker's word.
  const code = error.code as ErrorCode
  return new BrokerError(code, error.message, {
    retriable: error.retriable,
    details: knownCodes.has(error.code) ? { op } : { op, unknownCode: true },
  })
}

/** The connection dropped (or never came up): retriable, the request may be sent again. */
export function connectionClosed(message: string, cause?: unknown): BrokerError {
  return new BrokerError('CAIRN_CONNECTION_CLOSED', message, {
    retriable: true,
    ...(cause === undefined ? {} : { cause }),
  })
}

/** The client (or producer/consumer) was closed by the application: not retriable. */
export function clientClosed(what = 'client'): BrokerError {
  return new BrokerError('CAIRN_CONNECTION_CLOSED', `${what} is closed`, { retriable: false })
}

export function timeout(what: string, timeoutMs: number): BrokerError {
  return new BrokerError('CAIRN_TIMEOUT', `${what} timed out after ${timeoutMs} ms`, {
    retriable: true,
    details: { timeoutMs },
  })
}

/** Codes after which a producer cannot go on: its sequence or epoch is no longer the broker's. */
export const fatalProducerCodes: ReadonlySet<ErrorCode> = new Set([
  'CAIRN_SEQUENCE_OUT_OF_ORDER',
  'CAIRN_PRODUCER_FENCED',
  'CAIRN_PRODUCER_UNKNOWN',
])

export function isRetriable(error: unknown): boolean {
  return error instanceof BrokerError && error.retriable
}

export function asBrokerError(error: unknown, code: ErrorCode, message: string): BrokerError {
  if (error instanceof BrokerError) return error
  return new BrokerError(code, `${message}: ${error instanceof Error ? error.message : String(error)}`, {
    cause: error,
  })
}
