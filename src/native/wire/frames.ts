import { BrokerError } from '../../errors.ts'
import { describeWireValue as describe } from './schema.ts'

/*
  Native protocol messages: the CBOR item inside each frame (framing and `wire` are in frame.ts).
  CDDL (RFC 8610). Unknown keys are ignored, so later versions can add optional fields.

  message  = request / response

  request  = {
    v: uint,              ; protocol version; 1 is the only one so far
    id: uint32,           ; correlation id, chosen by the client, unique among its in-flight requests
    op: tstr,             ; operation name
    ? body: wire,
  }

  response = {
    id: uint32,           ; the request's id; responses may come out of order (pipelining allowed)
    status: uint,         ; 0 = ok; anything else comes with `error`
    ? error: error,
    ? body: wire,
  }

  error = { code: tstr, message: tstr, retriable: bool }   ; code is a CAIRN_* error code

  ; the first request on a connection; the server answers with the highest common version
  hello-request  = { v: 1, id: uint32, op: "hello", body: hello }
  hello          = { versions: [+ uint], clientId: tstr,
                     ? username: tstr, ? password: bstr / tstr }  ; when the broker requires users
  hello-response = { id: uint32, status: 0, body: hello-reply }
  hello-reply    = { version: uint, maxFrameBytes: uint32 }

  uint32 = 0..4294967295
  ; offsets (log positions) are uint; our peers always send them as 8-byte integers (bigint);
  ; read them with readUint64 (codec.ts)
*/

export const protocolVersions = [1] as const
export const statusOk = 0

export interface Request {
  v: number
  id: number
  op: string
  body?: unknown
}

export interface WireError {
  code: string
  message: string
  retriable: boolean
}

export interface Response {
  id: number
  status: number
  error?: WireError
  body?: unknown
}

export interface Hello {
  versions: number[]
  clientId: string
  username?: string
  password?: Uint8Array | string
}

export interface HelloReply {
  version: number
  maxFrameBytes: number
}

const maxUint32 = 0xffff_ffff

function invalid(what: string, path: string, expected: string, value: unknown): BrokerError {
  return new BrokerError(
    'CAIRN_FRAME_MALFORMED',
    `malformed ${what}: ${path} must be ${expected} (got ${describe(value)})`,
    {
      details: { path },
    },
  )
}

type Fields = Record<string, unknown>

function map(what: string, path: string, value: unknown): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw invalid(what, path, 'a map', value)
  }
  return value as Fields
}

function uint(what: string, path: string, value: unknown, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= max) return value
  // A peer may send any uint as an 8-byte integer, which decodes as bigint.
  if (typeof value === 'bigint' && value >= 0n && value <= BigInt(max)) return Number(value)
  throw invalid(what, path, max === maxUint32 ? 'a uint32' : 'a uint', value)
}

function text(what: string, path: string, value: unknown): string {
  if (typeof value === 'string') return value
  throw invalid(what, path, 'a text string', value)
}

function bool(what: string, path: string, value: unknown): boolean {
  if (typeof value === 'boolean') return value
  throw invalid(what, path, 'a boolean', value)
}

/** Validates a decoded frame as a request. Throws BrokerError CAIRN_FRAME_MALFORMED naming the field. */
export function parseRequest(value: unknown): Request {
  const m = map('request', '$', value)
  const request: Request = {
    v: uint('request', 'v', m['v']),
    id: uint('request', 'id', m['id'], maxUint32),
    op: text('request', 'op', m['op']),
  }
  if (m['body'] !== undefined) request.body = m['body']
  return request
}

/** Validates a decoded frame as a response. Throws BrokerError CAIRN_FRAME_MALFORMED naming the field. */
export function parseResponse(value: unknown): Response {
  const m = map('response', '$', value)
  const response: Response = {
    id: uint('response', 'id', m['id'], maxUint32),
    status: uint('response', 'status', m['status']),
  }
  if (m['error'] !== undefined) {
    const e = map('response', 'error', m['error'])
    response.error = {
      code: text('response', 'error.code', e['code']),
      message: text('response', 'error.message', e['message']),
      retriable: bool('response', 'error.retriable', e['retriable']),
    }
  }
  if (response.status !== statusOk && response.error === undefined) {
    throw invalid('response', 'error', `present when status is not ${statusOk}`, undefined)
  }
  if (m['body'] !== undefined) response.body = m['body']
  return response
}

/** Validates the body of a hello request. */
export function parseHello(body: unknown): Hello {
  const m = map('hello', 'body', body)
  const versions = m['versions']
  if (!Array.isArray(versions) || versions.length === 0) {
    throw invalid('hello', 'body.versions', 'a non-empty array', versions)
  }
  const hello: Hello = {
    versions: versions.map((v: unknown, i) => uint('hello', `body.versions[${i}]`, v)),
    clientId: text('hello', 'body.clientId', m['clientId']),
  }
  if (m['username'] !== undefined) hello.username = text('hello', 'body.username', m['username'])
  const password = m['password']
  if (password !== undefined) {
    // Never echoed in the error: it may be a real password sent in the wrong shape.
    if (typeof password !== 'string' && !(password instanceof Uint8Array)) {
      throw invalid('hello', 'body.password', 'a byte or text string', typeof password)
    }
    hello.password = password
  }
  return hello
}

/** Validates the body of a hello response. */
export function parseHelloReply(body: unknown): HelloReply {
  const m = map('hello reply', 'body', body)
  return {
    version: uint('hello reply', 'body.version', m['version']),
    maxFrameBytes: uint('hello reply', 'body.maxFrameBytes', m['maxFrameBytes'], maxUint32),
  }
}

/** The highest version both sides speak, or undefined when they share none. */
export function negotiateVersion(
  offered: readonly number[],
  supported: readonly number[] = protocolVersions,
): number | undefined {
  let best: number | undefined
  for (const v of offered) if (supported.includes(v) && (best === undefined || v > best)) best = v
  return best
}

export function helloRequest(
  id: number,
  clientId: string,
  versions: readonly number[] = protocolVersions,
  credentials: { username?: string; password?: Uint8Array | string } = {},
): Request {
  const body: Record<string, unknown> = { versions: [...versions], clientId }
  if (credentials.username !== undefined) body['username'] = credentials.username
  if (credentials.password !== undefined) body['password'] = credentials.password
  return { v: 1, id, op: 'hello', body }
}

export function helloResponse(id: number, reply: HelloReply): Response {
  return { id, status: statusOk, body: { version: reply.version, maxFrameBytes: reply.maxFrameBytes } }
}
