// `cairn mirror status|translate|resolve`: the upstream mirror's links and partitions, exact offset translation
// between a gateway partition and its Kafka image (mirror.md B9, B11), and the operator's answers to a stopped
// partition (B5.3).

import type { MirrorLinkStatus, MirrorResolveRequest, MirrorTranslation } from '../../src/client/admin.ts'
import type { ToolCommand } from './args.ts'
import { formatDuration, table, toJson } from './format.ts'
import { write, type ToolContext } from './io.ts'

type MirrorCommand = Extract<ToolCommand, { name: `mirror ${string}` }>

export async function mirror(context: ToolContext, command: MirrorCommand): Promise<number> {
  const { client, io, json } = context
  const admin = client.admin()
  switch (command.name) {
    case 'mirror status': {
      const links = await admin.mirrorStatus()
      if (json) await write(io.stdout, `${toJson({ links })}\n`)
      else if (links.length === 0) await write(io.stdout, 'no mirror links\n')
      else await write(io.stdout, links.map((link) => describeLink(link, io.now())).join('\n'))
      return 0
    }
    case 'mirror translate': {
      const request: Parameters<typeof admin.mirrorTranslate>[0] = {
        stream: command.stream,
        partition: command.partition,
        offset: command.offset,
        kind: command.kind,
        direction: command.direction,
      }
      if (command.link !== undefined) request.link = command.link
      const translation = await admin.mirrorTranslate(request)
      await write(io.stdout, json ? `${toJson(translation)}\n` : describeTranslation(translation))
      return 0
    }
    case 'mirror resolve': {
      const request: MirrorResolveRequest = {
        stream: command.stream,
        partition: command.partition,
        action: command.action,
      }
      if (command.link !== undefined) request.link = command.link
      const r = await admin.mirrorResolve(request)
      const text =
        `${r.link}: ${r.stream}/${r.partition} ${r.previousState} -> ${r.state} (${r.action}); ` +
        `next local offset ${r.nextLocal}, map epoch ${r.mapEpoch}\n`
      await write(io.stdout, json ? `${toJson(r)}\n` : text)
      return 0
    }
  }
}

/** How long ago, to the second, in at most two units: `45s`, `3m12s`, `2h5m`, `3d4h`. */
export function formatAge(ms: number): string {
  if (ms < 1000) return ms <= 0 ? '0s' : `${Math.floor(ms)}ms`
  const text = formatDuration(Math.floor(ms / 1000) * 1000)
  return /^(\d+[a-z]+){1,2}/.exec(text)?.[0] ?? text
}

/** The link's state, last error and redeliveries, then one row per mirrored partition. */
export function describeLink(link: MirrorLinkStatus, nowMs: number): string {
  const lastError =
    link.lastError === null
      ? 'none'
      : `${link.lastError.code}: ${link.lastError.message} (${formatAge(nowMs - link.lastError.atMs)} ago)`
  const header = table(
    ['link', link.link],
    [
      ['state', link.state],
      ['last error', lastError],
      ['redelivered', `${link.redeliveredRecords} record${link.redeliveredRecords === 1 ? '' : 's'}`],
    ],
  )
  if (link.partitions.length === 0) return `${header}\nno mirrored partitions\n`
  const rows = [...link.partitions]
    .sort((a, b) => (a.stream === b.stream ? a.partition - b.partition : a.stream < b.stream ? -1 : 1))
    .map((p) => [
      p.stream,
      String(p.partition),
      p.state,
      String(p.nextLocal),
      `${p.upstreamTopic}/${p.upstreamPartition}`,
      p.lastUpstream < 0n ? '-' : String(p.lastUpstream),
      String(p.lagRecords),
      p.oldestUnmirroredMs === null ? '-' : formatAge(nowMs - p.oldestUnmirroredMs),
      String(p.gapRecords),
    ])
  const partitions = table(
    ['STREAM', 'PARTITION', 'STATE', 'CURSOR', 'UPSTREAM', 'UPSTREAM OFFSET', 'LAG', 'OLDEST UNMIRRORED', 'GAPS'],
    rows,
    [1, 3, 5, 6, 8],
  )
  return `${header}\n${partitions}`
}

/** `sensors/0@12 → gw1.sensors/0@112  (record, link central)`; to-local the other way round. */
export function describeTranslation(t: MirrorTranslation): string {
  const local = `${t.stream}/${t.partition}`
  const upstream = `${t.upstreamTopic}/${t.upstreamPartition}`
  const [fromName, toName] = t.direction === 'to-upstream' ? [local, upstream] : [upstream, local]
  const note = t.clamped ? '; beyond the mirror frontier: the frontier' : ''
  return `${fromName}@${t.from} → ${toName}@${t.to}  (${t.kind}, link ${t.link}${note})\n`
}
