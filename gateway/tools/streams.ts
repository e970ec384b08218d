// `cairn streams list|create|describe|delete`.

import type { StreamInfo, StreamSettings } from '../../src/client/index.ts'
import type { ToolCommand } from './args.ts'
import { formatBytes, formatDuration, formatRetention, streamJson, streamTotals, table, toJson } from './format.ts'
import { write, type ToolContext } from './io.ts'

type StreamsCommand = Extract<ToolCommand, { name: `streams ${string}` }>

export async function streams(context: ToolContext, command: StreamsCommand): Promise<number> {
  const { client, io } = context
  const admin = client.admin()
  await write(io.stdout, await run(context, command, admin))
  return 0
}

async function run(
  { io, json }: ToolContext,
  command: StreamsCommand,
  admin: ReturnType<ToolContext['client']['admin']>,
): Promise<string> {
  switch (command.name) {
    case 'streams list': {
      const list = (await admin.listStreams()).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      if (json) return `${toJson({ streams: list.map(streamJson) })}\n`
      if (list.length === 0) return 'no streams\n'
      const rows = list.map((info) => {
        const { records, bytes } = streamTotals(info)
        const { partitions } = info.config
        return [info.name, String(partitions), String(records), formatBytes(bytes), formatRetention(info.config)]
      })
      return table(['NAME', 'PARTITIONS', 'RECORDS', 'BYTES', 'RETENTION'], rows, [1, 2, 3])
    }
    case 'streams create': {
      const settings: StreamSettings = { ...command.settings }
      const info = await admin.createStream(command.stream, settings)
      if (json) return `${toJson(streamJson(info))}\n`
      const { config } = info
      return (
        `created stream ${info.name}: ${config.partitions} partition${config.partitions === 1 ? '' : 's'}, ` +
        `retention ${formatRetention(config)}, cleanup ${config.cleanupPolicy}, durability ${config.durability}\n`
      )
    }
    case 'streams describe': {
      const info = await admin.describeStream(command.stream)
      return json ? `${toJson(streamJson(info))}\n` : describe(info)
    }
    case 'streams delete': {
      if (!command.yes) {
        const info = await admin.describeStream(command.stream)
        const { records } = streamTotals(info)
        const question = `delete stream "${info.name}" and its ${records} record${records === 1 ? '' : 's'}? [y/N] `
        if (!(await io.confirm(question))) throw new Declined('not deleted')
      }
      await admin.deleteStream(command.stream)
      return json ? `${toJson({ deleted: command.stream })}\n` : `deleted stream ${command.stream}\n`
    }
  }
}

/** The user answered no: exit 1 with this message, nothing done. */
export class Declined extends Error {}

/** Settings as key/value lines, then one row per partition. */
export function describe(info: StreamInfo): string {
  const { config } = info
  const { records, bytes } = streamTotals(info)
  const settings = table(
    ['stream', info.name],
    [
      ['partitions', String(config.partitions)],
      ['retention', config.retentionMs < 0 ? 'forever' : formatDuration(config.retentionMs)],
      [
        'retention bytes',
        config.retentionBytes < 0 ? 'no limit' : `${formatBytes(config.retentionBytes)} per partition`,
      ],
      ['cleanup', config.cleanupPolicy],
      ['durability', config.durability],
      ['subjects', config.subjects.length === 0 ? '-' : config.subjects.join(' ')],
      ['created', new Date(info.createdMs).toISOString()],
      ['records', `${records} (${formatBytes(bytes)})`],
    ],
  )
  const partitions = table(
    ['PARTITION', 'START', 'END', 'RECORDS', 'BYTES'],
    info.partitions.map((p) => [
      String(p.partition),
      String(p.logStartOffset),
      String(p.logEndOffset),
      String(p.records),
      formatBytes(p.bytes),
    ]),
    [0, 1, 2, 3, 4],
  )
  return `${settings}\n${partitions}`
}
