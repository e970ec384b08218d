// The local log as the gateway's HTTP API serves it: each record's fingerprint (to compare with its
// upstream copy) and, for the fleet's MQTT topics, its payload (for checkArrivals).
import { createHash } from 'node:crypto'
import type { Arrival } from '../../device/simulator/index.ts'

interface HttpRecord {
  offset: number
  timestamp: number
  key: string | null
  key_base64: string | null
  value: string | null
  headers: Record<string, string>
  header_list?: Array<[string, string]>
}

export interface LocalPartition {
  logStart: number
  logEnd: number
  /** By local offset. */
  fingerprints: Map<number, string>
  /** Records whose key (the MQTT topic) starts with the fleet's topic prefix, in offset order. */
  arrivals: Arrival[]
}

/**
 * Key, value, user headers and timestamp hashed together: what the mirror must carry unchanged. Both
 * sides hash the bytes, so the HTTP API's base64 and kcat's raw bytes compare equal.
 */
export function fingerprint(
  key: Uint8Array | null,
  value: Uint8Array | null,
  headers: ReadonlyArray<readonly [string, Uint8Array | null]>,
  timestampMs: number,
): string {
  const hash = createHash('sha1')
  const field = (bytes: Uint8Array | null): void => {
    hash.update(bytes === null ? 'N' : `${bytes.length}:`)
    if (bytes !== null) hash.update(bytes)
  }
  field(key)
  field(value)
  for (const [name, headerValue] of headers) {
    field(Buffer.from(name))
    field(headerValue)
  }
  hash.update(`@${timestampMs}`)
  return hash.digest('base64').slice(0, 16)
}

const fromBase64 = (text: string | null): Uint8Array | null => (text === null ? null : Buffer.from(text, 'base64'))

export async function readLocalPartition(
  httpBase: string,
  stream: string,
  partition: number,
  topicPrefix: string,
): Promise<LocalPartition> {
  const fingerprints = new Map<number, string>()
  const arrivals: Arrival[] = []
  let offset = 0
  let logStart: number | undefined
  for (;;) {
    const url = `${httpBase}/api/v1/topics/${stream}/partitions/${partition}/messages?offset=${offset}&limit=10000`
    const response = await fetch(url, { signal: AbortSignal.timeout(60_000) })
    if (response.status !== 200) throw new Error(`GET ${url}: ${response.status} ${await response.text()}`)
    const body = (await response.json()) as { messages: HttpRecord[]; next_offset: number }
    if (body.messages.length === 0) return { logStart: logStart ?? offset, logEnd: offset, fingerprints, arrivals }
    for (const m of body.messages) {
      logStart ??= m.offset
      const value = fromBase64(m.value)
      const headerList = m.header_list ?? Object.entries(m.headers)
      const headers = headerList.map(([name, v]) => [name, fromBase64(v)] as const)
      fingerprints.set(m.offset, fingerprint(fromBase64(m.key_base64), value, headers, m.timestamp))
      if (m.key !== null && m.key.startsWith(topicPrefix) && value !== null) {
        arrivals.push({ topic: m.key, payload: value, orderDomain: partition })
      }
    }
    offset = body.next_offset
  }
}
