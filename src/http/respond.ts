import type { OutgoingHttpHeaders, ServerResponse } from 'node:http'

// Offsets are bigint inside Cairn; in JSON they are plain numbers (every offset this store hands out
// is below 2^53, which the store enforces).
function replacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? Number(value) : value
}

/** Serializes `body` (bigints as numbers) and ends the response with it. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
  if (res.headersSent || res.writableEnded) return
  const payload = JSON.stringify(body, replacer)
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload, 'utf8'),
    'cache-control': 'no-store',
  })
  // A string, not a Buffer: Node 24 writes the head of a Buffer-ended answer to a pipelined request with
  // `Expect: 100-continue` before the automatic `100 Continue` (found by scripts/fuzz-http.ts).
  res.end(payload, 'utf8')
}

/** Ends the response with a status and no body (204). */
export function sendEmpty(res: ServerResponse, status: number): void {
  if (res.headersSent || res.writableEnded) return
  res.writeHead(status)
  res.end()
}
