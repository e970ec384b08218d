// `cairn groups list|describe|reset-offsets`.

import type { GroupDescription, ResetTo } from '../../src/client/index.ts'
import { resolveTime, type ToolCommand } from './args.ts'
import { table, toJson } from './format.ts'
import { write, type ToolContext } from './io.ts'

type GroupsCommand = Extract<ToolCommand, { name: `groups ${string}` }>

export async function groups(context: ToolContext, command: GroupsCommand): Promise<number> {
  const { client, io, json } = context
  const admin = client.admin()
  const out = (text: string) => write(io.stdout, text)
  switch (command.name) {
    case 'groups list': {
      const list = await admin.listGroups()
      if (json) await out(`${toJson({ groups: list })}\n`)
      else if (list.length === 0) await out('no groups\n')
      else {
        const rows = list.map((g) => [g.group, g.state, String(g.members)])
        await out(table(['GROUP', 'STATE', 'MEMBERS'], rows, [2]))
      }
      return 0
    }
    case 'groups describe': {
      const description = await admin.describeGroup(command.group)
      await out(json ? `${toJson(description)}\n` : describeGroup(description))
      return 0
    }
    case 'groups reset-offsets': {
      const { to } = command
      const target: ResetTo =
        'time' in to ? { timestamp: resolveTime(to.time, io.now()) } : 'shift' in to ? { shift: to.shift } : to
      const request: Parameters<typeof admin.resetOffsets>[0] = {
        group: command.group,
        stream: command.stream,
        to: target,
        dryRun: command.dryRun,
      }
      if (command.partitions !== undefined) request.partitions = command.partitions
      const offsets = (await admin.resetOffsets(request)).sort((a, b) => a.partition - b.partition)
      if (json) {
        const result = offsets.map((o) => ({ partition: o.partition, previous: o.previous ?? null, offset: o.offset }))
        await out(
          `${toJson({ group: command.group, stream: command.stream, dryRun: command.dryRun, offsets: result })}\n`,
        )
        return 0
      }
      const rows = offsets.map((o) => [
        o.stream,
        String(o.partition),
        o.previous === undefined ? '-' : String(o.previous),
        '→',
        String(o.offset),
      ])
      const footer = command.dryRun
        ? `dry run: the offsets of group ${command.group} are unchanged\n`
        : `reset ${offsets.length} offset${offsets.length === 1 ? '' : 's'} of group ${command.group}\n`
      await out(`${table(['STREAM', 'PARTITION', 'BEFORE', '', 'AFTER'], rows, [1, 2, 4])}${footer}`)
      return 0
    }
  }
}

/** Group header, then its members and its committed offsets with lag. */
export function describeGroup(description: GroupDescription): string {
  const header = table(
    ['group', description.group],
    [
      ['state', description.state],
      ['epoch', String(description.groupEpoch)],
      ['assignor', description.assignor],
    ],
  )
  const members =
    description.members.length === 0
      ? 'no members\n'
      : table(
          ['MEMBER', 'INSTANCE', 'CLIENT', 'ASSIGNMENT'],
          description.members.map((m) => [
            m.memberId,
            m.instanceId ?? '-',
            m.clientId,
            m.assignment.map((a) => `${a.stream}[${a.partitions.join(',')}]`).join(' ') || '-',
          ]),
        )
  const offsets =
    description.offsets.length === 0
      ? 'no committed offsets\n'
      : table(
          ['STREAM', 'PARTITION', 'COMMITTED', 'END', 'LAG'],
          [...description.offsets]
            .sort((a, b) => (a.stream === b.stream ? a.partition - b.partition : a.stream < b.stream ? -1 : 1))
            .map((o) => [o.stream, String(o.partition), String(o.offset), String(o.logEndOffset), String(o.lag)]),
          [1, 2, 3, 4],
        )
  return `${header}\n${members}\n${offsets}`
}
