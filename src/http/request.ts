import type { IncomingMessage } from 'node:http'
import { BrokerError } from '../errors.ts'
import { requestInvalid } from './http-errors.ts'

// Reading and checking what a request carries: its body (bounded), JSON, query and header values.

/** The error for a body over the limit: CAIRN_REQUEST_INVALID answered with 413. */
function bodyTooLarge(maxBytes: number): BrokerError {
  return new BrokerError('CAIRN_REQUEST_INVALID', `request body exceeds the limit of ${maxBytes} bytes`, {
    details: { field: 'body', httpStatus: 413 },
  })
}

/**
 * Reads the whole body, at most `maxBytes`. A declared Content-Length over the limit is refused before
 * reading anything; a chunked body is refused as soon as it passes the limit, without keeping the rest.
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = req.headers['content-length']
    if (declared !== undefined && Number(declared) > maxBytes) {
      reject(bodyTooLarge(maxBytes))
      return
    }
    const chunks: Buffer[] = []
    let total = 0
    const onData = (chunk: Buffer) => {
      total += chunk.length
      if (total > maxBytes) {
        cleanup()
        chunks.length = 0
        reject(bodyTooLarge(maxBytes))
        return
      }
      chunks.push(chunk)
    }
    const onEnd = () => {
      cleanup()
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total))
    }
    const onError = (error: Error) => {
      cleanup()
      reject(new BrokerError('CAIRN_CONNECTION_CLOSED', 'the request body was cut off', { cause: error }))
    }
    const onClose = () => {
      if (!req.complete) onError(new Error('request closed before its end'))
    }
    const cleanup = () => {
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onError)
      req.off('close', onClose)
    }
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onError)
    req.on('close', onClose)
  })
}

/** Reads and parses a JSON object body; anything else is CAIRN_REQUEST_INVALID. */
export async function readJsonObject(req: IncomingMessage, maxBytes: number): Promise<Record<string, unknown>> {
  const body = await readBody(req, maxBytes)
  let value: unknown
  try {
    value = JSON.parse(body.toString('utf8'))
  } catch {
    throw requestInvalid('body', 'must be valid JSON')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw requestInvalid('body', 'must be a JSON object')
  }
  return value as Record<string, unknown>
}

const decimal = /^\d{1,20}$/

/** A non-negative integer from a query or header text, at most `max`. */
export function parseUint(text: string, field: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = decimal.test(text) ? Number(text) : NaN
  if (!(n <= max)) throw requestInvalid(field, `must be an integer from 0 to ${max} (got ${JSON.stringify(text)})`)
  return n
}

/** An offset from a query text (any size; the store refuses what it cannot hold). */
export function parseOffsetText(text: string, field: string): bigint {
  if (!decimal.test(text)) throw requestInvalid(field, `must be a non-negative integer (got ${JSON.stringify(text)})`)
  return BigInt(text)
}

/** A required non-negative integer field of a JSON body (a JSON number). */
export function uintField(body: Record<string, unknown>, field: string): number {
  const value = body[field]
  if (value === undefined || value === null) throw requestInvalid(field, 'is required')
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw requestInvalid(field, `must be a non-negative integer (got ${describe(value)})`)
  }
  return value
}

/** A required offset field of a JSON body: a non-negative integer number or decimal string. */
export function offsetField(body: Record<string, unknown>, field: string): bigint {
  return toOffset(body[field], field)
}

export function toOffset(value: unknown, field: string): bigint {
  if (value === undefined || value === null) throw requestInvalid(field, 'is required')
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value)
  if (typeof value === 'string' && decimal.test(value)) return BigInt(value)
  throw requestInvalid(field, `must be a non-negative integer (got ${describe(value)})`)
}

/** A signed integer (offset shift): a safe integer number or a decimal string with optional sign. */
export function toSignedOffset(value: unknown, field: string): bigint {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value)
  if (typeof value === 'string' && /^[-+]?\d{1,20}$/.test(value)) return BigInt(value)
  throw requestInvalid(field, `must be an integer (got ${describe(value)})`)
}

/** The single value of a query parameter; given twice is an error. */
export function queryValue(query: URLSearchParams, name: string): string | undefined {
  const values = query.getAll(name)
  if (values.length > 1) throw requestInvalid(name, 'must be given once')
  return values[0]
}

export function describe(value: unknown): string {
  if (value === undefined) return 'nothing'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object' && value !== null) return 'an object'
  return JSON.stringify(value)
}
