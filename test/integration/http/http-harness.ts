import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { onTestFinished } from 'vitest'
import type { HttpGroupCoordinator } from '../../../src/http/context.ts'
import {
  createHttpApi,
  handleHttpClientError,
  type HttpApiHandler,
  type HttpApiOptions,
} from '../../../src/http/http-api.ts'
import { BrokerError } from '../../../src/errors.ts'
import { openTempStore, type TempStore } from '../../helpers/temp-store.ts'

export interface HttpHarness {
  readonly base: string
  readonly port: number
  readonly server: Server
  readonly api: HttpApiHandler
  readonly temp: TempStore
  /** fetch against the server: `call('/healthz')`. */
  call(path: string, init?: RequestInit): Promise<Response>
  /** fetch, then the parsed JSON body (status and body). */
  json(path: string, init?: RequestInit): Promise<JsonResult>
}

export interface JsonResult {
  status: number
  body: ApiBody
  response: Response
}

export interface ErrorJson {
  code: string
  message: string
  retriable: boolean
  logStartOffset?: number
  logEndOffset?: number
}

export interface MessageJson {
  offset: number
  timestamp: number
  key: string | null
  key_base64: string | null
  value: string | null
  headers: Record<string, string>
  header_list?: Array<[string, string]>
}

export interface PartitionJson {
  partition: number
  logStartOffset: number
  logEndOffset: number
  records: number
  bytes: number
}

export interface StreamJson {
  name: string
  config: Record<string, unknown>
  createdMs: number
  partitions: PartitionJson[]
}

export interface OffsetJson {
  stream: string
  partition: number
  offset: number
  previous?: number
  metadata: string
  commitMs: number
  logEndOffset: number
  lag: number
}

export interface MemberJson {
  memberId: string
  clientId: string
  memberEpoch: number
  streams: string[]
}

/** Any answer of the API seen through one type: each test reads the fields its endpoint returns. */
export interface ApiBody {
  error: ErrorJson
  // produce / consume / commit
  topic: string
  partition: number
  offset: number
  timestamp: number
  messages: MessageJson[]
  next_offset: number
  committed: boolean
  // streams
  streams: StreamJson[]
  name: string
  config: Record<string, unknown>
  createdMs: number
  partitions: PartitionJson[]
  // groups
  groups: Array<{ group: string; state: string; members: number }>
  group: string
  state: string
  members: MemberJson[]
  offsets: OffsetJson[]
  // health
  status: string
  problems: string[]
}

/** A coordinator stand-in for tests that do not use groups: no group has committed anything. */
export const noGroups: HttpGroupCoordinator = {
  commitOffsets: () => Promise.reject(new BrokerError('CAIRN_GROUP_NOT_FOUND', 'no groups here')),
  committedOffset: () => undefined,
  fetchOffsets: () => ({ offsets: [] }),
  listGroups: () => ({ groups: [] }),
  describeGroup: (group) => Promise.reject(new BrokerError('CAIRN_GROUP_NOT_FOUND', `no group "${group}"`)),
  resetOffsets: () => Promise.reject(new BrokerError('CAIRN_GROUP_NOT_FOUND', 'no groups here')),
  deleteGroup: () => Promise.reject(new BrokerError('CAIRN_GROUP_NOT_FOUND', 'no groups here')),
}

export type HarnessOptions = Partial<Omit<HttpApiOptions, 'store' | 'groups'>> & {
  temp?: TempStore
  groups?: (temp: TempStore) => HttpGroupCoordinator
}

/** A temp store and an HTTP server on 127.0.0.1 (ephemeral port) serving the API; torn down after the test. */
export async function startHttp(options: HarnessOptions = {}): Promise<HttpHarness> {
  const { temp: given, groups, ...apiOptions } = options
  const temp = given ?? openTempStore()
  const api = createHttpApi({ store: temp.store, groups: groups?.(temp) ?? noGroups, ...apiOptions })
  const server = createServer(api)
  server.on('clientError', handleHttpClientError)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onTestFinished(async () => {
    api.close()
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  const port = (server.address() as AddressInfo).port
  const base = `http://127.0.0.1:${port}`
  const call = (path: string, init?: RequestInit) => fetch(base + path, init)
  return {
    base,
    port,
    server,
    api,
    temp,
    call,
    async json(path, init) {
      const response = await call(path, init)
      const text = await response.text()
      return { status: response.status, body: (text === '' ? {} : JSON.parse(text)) as ApiBody, response }
    },
  }
}

/** A JSON request init. */
export function jsonBody(method: string, body: unknown): RequestInit {
  return { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }
}

export function b64(text: string | Uint8Array): string {
  return Buffer.from(text).toString('base64')
}
