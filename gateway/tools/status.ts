// `cairn status`: one screen about a running broker, from its HTTP API (GET /api/v1/status): listeners with their
// connections, MQTT clients, the store, streams with sizes and append rates, groups with lag, mirror links with
// state and backlog. Rates come from two samples --sample-ms apart.

import type { StatusDocument } from '../../src/http/status.ts'
import type { ToolCommand } from './args.ts'
import { formatBytes, formatDuration, table, toJson } from './format.ts'
import { toolCredentials, write, type ToolIO } from './io.ts'
import { formatAge } from './mirror.ts'
import { UsageError } from './usage-error.ts'

type StatusCommand = Extract<ToolCommand, { name: 'status' }>

export const defaultStatusHttp = '127.0.0.1:8080'

/** `[HOST:]PORT` of the HTTP listener; a wildcard host (as in the broker's own setting) means this machine. */
export function parseHttpAddress(text: string, source: string): string {
  const match = /^(?:(\[[^\]\s]+\]|[^:\s[\]]+):)?(\d{1,5})$/.exec(text.trim())
  const port = Number(match?.[2])
  if (match === null || port < 1 || port > 65535) {
    throw new UsageError(
      `${source} must be [HOST:]PORT of the HTTP listener, e.g. ${defaultStatusHttp} (got "${text}")`,
    )
  }
  const host = match[1] ?? '127.0.0.1'
  return `${['0.0.0.0', '[::]', '*'].includes(host) ? '127.0.0.1' : host}:${port}`
}

/** --http, else CAIRN_HTTP (the broker's own listener setting), else 127.0.0.1:8080. Throws UsageError. */
export function resolveStatusHttp(flag: string | undefined, env: ToolIO['env']): string {
  if (flag !== undefined) return parseHttpAddress(flag, '--http')
  const fromEnv = env.CAIRN_HTTP
  if (fromEnv !== undefined && fromEnv !== '') return parseHttpAddress(fromEnv, 'CAIRN_HTTP')
  return defaultStatusHttp
}

/** HTTP Basic credentials of CAIRN_USERNAME / CAIRN_PASSWORD, as the other tools use them natively. */
function basicAuth(env: ToolIO['env']): Record<string, string> {
  const { username, password } = toolCredentials(env)
  if (username === undefined) return {}
  return { authorization: `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString('base64')}` }
}

export async function status(command: StatusCommand, io: ToolIO, timeoutMs: number, json: boolean): Promise<number> {
  let address
  try {
    address = resolveStatusHttp(command.http, io.env)
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    io.stderr.write(`cairn: ${error.message}\nRun "cairn --help" for usage.\n`)
    return 2
  }
  const url = `http://${address}/api/v1/status`
  const sample = async (): Promise<StatusDocument> => {
    let response
    try {
      response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: basicAuth(io.env) })
    } catch (error) {
      const reason = error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error)
      throw new Error(`cannot reach the broker's HTTP API at ${address} (${reason}); set --http or CAIRN_HTTP`, {
        cause: error,
      })
    }
    if (!response.ok) throw new Error(`${url} answered ${response.status}: ${(await response.text()).slice(0, 200)}`)
    return (await response.json()) as StatusDocument
  }
  try {
    const first = await sample()
    let second: StatusDocument | undefined
    if (command.sampleMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, command.sampleMs))
      second = await sample()
    }
    const text = json ? `${toJson({ ...(second ?? first), rates: rates(first, second) })}\n` : render(first, second)
    await write(io.stdout, text)
    return 0
  } catch (error) {
    io.stderr.write(`cairn: ${error instanceof Error ? error.message : String(error)}\n`)
    return 1
  }
}

export interface Rates {
  /** Records appended per second, per stream, between the samples. */
  streams: Record<string, number>
  commitsPerSec: number
}

/** Per-second rates between two samples; null with one sample. */
export function rates(first: StatusDocument, second: StatusDocument | undefined): Rates | null {
  if (second === undefined) return null
  const seconds = Math.max(second.nowMs - first.nowMs, 1) / 1000
  const before = new Map(first.streams.map((s) => [s.name, s.endOffsetSum]))
  const streams: Record<string, number> = {}
  for (const s of second.streams) {
    const previous = before.get(s.name)
    // A stream created between the samples has no rate yet; one recreated may have gone backwards.
    if (previous !== undefined && s.endOffsetSum >= previous) streams[s.name] = (s.endOffsetSum - previous) / seconds
  }
  return { streams, commitsPerSec: Math.max(second.store.commits - first.store.commits, 0) / seconds }
}

const perSec = (n: number | undefined) => (n === undefined ? '-' : `${n < 10 ? n.toFixed(1) : Math.round(n)}/s`)

/** The one-screen summary: the last sample's state, rates between the two. */
export function render(first: StatusDocument, second?: StatusDocument): string {
  const now = second ?? first
  const r = rates(first, second)
  const up = formatDuration(Math.floor((now.nowMs - now.startedMs) / 1000) * 1000)
  const lines = [
    `cairn ${now.version}, up ${up === '' ? '0s' : up}, ${now.mqttClients} MQTT client${now.mqttClients === 1 ? '' : 's'}`,
    `store: ${formatBytes(now.store.usedBytes)} used of ${formatBytes(now.store.fileBytes)}, ` +
      `WAL ${formatBytes(now.store.walBytes)}${r === null ? '' : `, commits ${perSec(r.commitsPerSec)}`}`,
    '',
    table(
      ['LISTENER', 'ADDRESS', 'CONNECTIONS'],
      now.listeners.filter((l) => l.address !== null).map((l) => [l.name, l.address ?? 'off', String(l.connections)]),
      [2],
    ),
  ]
  lines.push(
    table(
      ['STREAM', 'PARTITIONS', 'RECORDS', 'SIZE', 'RATE'],
      now.streams.map((s) => [
        s.name,
        String(s.partitions),
        String(s.records),
        formatBytes(s.bytes),
        r === null ? '-' : perSec(r.streams[s.name]),
      ]),
      [1, 2, 3, 4],
    ),
  )
  lines.push(
    now.groups.length === 0
      ? 'no consumer groups\n'
      : table(
          ['GROUP', 'STATE', 'MEMBERS', 'LAG'],
          now.groups.map((g) => [g.group, g.state, String(g.members), String(g.lag)]),
          [2, 3],
        ),
  )
  lines.push(
    now.mirror === null
      ? 'mirror: off\n'
      : table(
          ['LINK', 'STATE', 'PARTITIONS', 'BACKLOG', 'OLDEST UNMIRRORED', 'LAST ERROR'],
          now.mirror.map((m) => [
            m.link,
            m.state,
            String(m.partitions),
            String(m.lagRecords),
            m.oldestUnmirroredMs === null ? '-' : formatAge(now.nowMs - m.oldestUnmirroredMs),
            m.lastError ?? '-',
          ]),
          [2, 3],
        ),
  )
  return lines.join('\n')
}
