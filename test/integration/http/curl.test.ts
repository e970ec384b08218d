import { execFile, execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it, onTestFinished } from 'vitest'
import { partitionForKey } from '../../../src/streams/partitioner.ts'
import { startHttp } from './http-harness.ts'

const run = promisify(execFile)

function findCurl(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v curl'], { encoding: 'utf8' }).trim() || undefined
  } catch {
    return undefined
  }
}

const curl = findCurl()

/** Runs curl; returns the status and the body (curl's -w prints the status on the last line). */
async function curlCall(args: string[]): Promise<{ status: number; body: string }> {
  const { stdout } = await run(curl as string, ['-sS', '-w', '\n%{http_code}', ...args])
  const cut = stdout.lastIndexOf('\n')
  return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) }
}

describe('http - with curl as the client', () => {
  it.skipIf(curl === undefined)(
    curl === undefined ? 'skipped: curl is not installed on this machine' : 'produces binary data and reads it back',
    async () => {
      const h = await startHttp()
      const dir = mkdtempSync(join(tmpdir(), 'cairn-curl-'))
      onTestFinished(() => rmSync(dir, { recursive: true, force: true }))

      const created = await curlCall([
        '-X',
        'POST',
        '-H',
        'content-type: application/json',
        '--data',
        '{"name":"curl.t","partitions":4}',
        `${h.base}/api/v1/streams`,
      ])
      expect(created.status).toBe(201)

      const file = join(dir, 'value.bin')
      const value = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 31) % 256))
      writeFileSync(file, value)
      // curl sends the UTF-8 bytes of the key as they are.
      const key = 'gw-7/température'
      const produced = await curlCall([
        '-H',
        `X-Partition-Key: ${key}`,
        '-H',
        'X-Header-Source: curl',
        '-H',
        'content-type: application/octet-stream',
        '--data-binary',
        `@${file}`,
        `${h.base}/api/v1/topics/curl.t/messages`,
      ])
      expect(produced.status).toBe(200)
      const ack = JSON.parse(produced.body) as { topic: string; partition: number; offset: number }
      expect(ack).toMatchObject({ topic: 'curl.t', partition: partitionForKey(Buffer.from(key, 'utf8'), 4), offset: 0 })

      const read = await curlCall([`${h.base}/api/v1/topics/curl.t/partitions/${ack.partition}/messages?offset=0`])
      expect(read.status).toBe(200)
      const body = JSON.parse(read.body) as {
        messages: Array<{ key: string; value: string; headers: Record<string, string> }>
        next_offset: number
      }
      expect(body.next_offset).toBe(1)
      expect(body.messages[0]?.key).toBe(key)
      expect(Buffer.from(body.messages[0]?.value ?? '', 'base64')).toEqual(value)
      expect(body.messages[0]?.headers).toEqual({ Source: Buffer.from('curl').toString('base64') })

      const missing = await curlCall([`${h.base}/api/v1/topics/curl.t/partitions/9/messages`])
      expect(missing.status).toBe(404)
      expect(JSON.parse(missing.body)).toMatchObject({ error: { code: 'CAIRN_PARTITION_NOT_FOUND', retriable: false } })

      // A path fetch would normalise away: curl sends it as written.
      const dots = await curlCall(['--path-as-is', `${h.base}/api/v1/streams/%2E%2E`])
      expect(dots.status).toBe(400)
      expect(JSON.parse(dots.body)).toMatchObject({ error: { code: 'CAIRN_STREAM_NAME_INVALID' } })
    },
  )
})
