import type { OutgoingHttpHeaders, ServerResponse } from 'node:http'

// Offsets are bigint inside Cairn; in JSON they are plain numbers (every offset this store hands out
// is below 2^53, which the store enforces).
function replacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? Number(value) : value
}

/** Serializes `body` (bigints as numbers) and ends the response with it. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
  if (res.headersSent || res.writableEnded) return
  const payload = Buffer.from(JSON.stringify(body, replacer), 'utf8')
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': payload.length,
    'cache-control': 'no-store',
  })
  res.end(payload)
}

/** Ends the response with a status and no body (204). */
export function sendEmpty(res: ServerResponse, status: number): void {
  if (res.headersSent || res.writableEnded) return
  res.writeHead(status)
  res.end()
}
