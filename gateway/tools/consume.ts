// `cairn consume STREAM`: reads records to the log end as of the start (or follows), as text or JSON lines.

import { createWriteStream } from 'node:fs'
import type { Writable } from 'node:stream'
import {
  BrokerError,
  type CommitOffset,
  type Consumer,
  type ConsumerRecord,
  type StreamInfo,
} from '../../src/client/index.ts'
import { resolveTime, type ToolCommand } from './args.ts'
import { formatBytes, recordJson, recordText, renderProgress, toJson, type Progress } from './format.ts'
import { write, type ToolContext } from './io.ts'
import { errorLine } from './report.ts'

type ConsumeCommand = Extract<ToolCommand, { name: 'consume' }>

/** Long-poll of one fetch: short when reading to a known end, longer when following. */
const fetchWaitMs = { toEnd: 200, follow: 500 }
/** A group member that gets no partition in this long gives up (without --follow). */
const assignmentWaitMs = 15_000
const progressIntervalMs = 100

export async function consume(context: ToolContext, command: ConsumeCommand): Promise<number> {
  const { client, io } = context
  const { stream, group, follow } = command
  const admin = client.admin()
  const info = await admin.describeStream(stream)
  const partitionCount = info.config.partitions
  // The log end as of the start: without --follow, reading stops there.
  const ends = new Map(info.partitions.map((p) => [p.partition, p.logEndOffset]))
  const starts = new Map<number, bigint>()

  let consumer: Consumer
  if (group === undefined) {
    const selected = command.partitions ?? Array.from({ length: partitionCount }, (_, p) => p)
    const missing = selected.find((p) => p >= partitionCount)
    if (missing !== undefined) {
      throw new BrokerError(
        'CAIRN_PARTITION_NOT_FOUND',
        `stream "${stream}" has no partition ${missing} (it has ${partitionCount})`,
      )
    }
    for (const [partition, offset] of await startOffsets(context, command, info, selected))
      starts.set(partition, offset)
    consumer = client.consumer({ maxWaitMs: follow ? fetchWaitMs.follow : fetchWaitMs.toEnd })
    consumer.assign(selected.map((partition) => ({ stream, partition, offset: starts.get(partition) ?? 0n })))
  } else {
    const reset = 'latest' in command.start ? 'latest' : 'earliest'
    // Where the group stands, for the progress bar only: the members' positions come from the broker.
    const committed = new Map((await admin.fetchOffsets(group, [stream])).map((o) => [o.partition, o.offset]))
    for (const p of info.partitions) {
      starts.set(p.partition, committed.get(p.partition) ?? (reset === 'latest' ? p.logEndOffset : p.logStartOffset))
    }
    consumer = client.consumer({ group, reset, maxWaitMs: follow ? fetchWaitMs.follow : fetchWaitMs.toEnd })
    consumer.subscribe([stream])
  }

  const owned = (): number[] =>
    group === undefined ? (command.partitions ?? [...starts.keys()]) : consumer.assignment().map((p) => p.partition)
  const caughtUp = (): boolean => {
    const partitions = owned()
    if (partitions.length === 0) return group === undefined
    return partitions.every((p) => {
      const position = consumer.position(stream, p)
      return position !== undefined && position >= (ends.get(p) ?? 0n)
    })
  }

  const output = command.output === undefined ? io.stdout : await openOutput(command.output)
  let outputError: Error | undefined
  const onOutputError = (error: Error) => {
    outputError ??= error
  }
  output.on('error', onOutputError)

  const progress: Progress = { records: 0, bytes: 0, doneOffsets: 0n, totalOffsets: undefined }
  const showProgress = command.output !== undefined && io.stderrIsTTY
  let drawnAt = 0
  const draw = (force: boolean) => {
    if (!showProgress) return
    const now = io.now()
    if (!force && now - drawnAt < progressIntervalMs) return
    drawnAt = now
    let done = 0n
    let total = 0n
    for (const p of owned()) {
      const start = starts.get(p) ?? 0n
      const end = ends.get(p) ?? 0n
      if (end <= start) continue
      const position = consumer.position(stream, p) ?? start
      const reached = position > end ? end : position
      total += end - start
      if (reached > start) done += reached - start
    }
    progress.doneOffsets = done
    progress.totalOffsets = total
    io.stderr.write(`\r${renderProgress(progress)}\x1b[K`)
  }

  // Group commits: the position after the last record printed, per partition, once it moved.
  const printed = new Map<number, bigint>()
  const committed = new Map<number, bigint>()
  const commitPrinted = async () => {
    if (group === undefined) return
    const mine = new Set(owned())
    const offsets: CommitOffset[] = [...printed]
      .filter(([p, offset]) => mine.has(p) && committed.get(p) !== offset)
      .map(([partition, offset]) => ({ stream, partition, offset }))
    if (offsets.length === 0) return
    try {
      await consumer.commit(offsets)
      for (const { partition, offset } of offsets) committed.set(partition, offset)
    } catch (error) {
      // A rebalance took the partition meanwhile: its next owner reads those records again.
      io.stderr.write(`cairn: warning: commit failed: ${errorLine(error).slice('cairn: '.length)}`)
    }
  }

  const startedMs = io.now()
  let full = false
  try {
    while (!io.signal.aborted && outputError === undefined && !full) {
      if (!follow && caughtUp()) break
      if (!follow && group !== undefined && owned().length === 0 && io.now() - startedMs > assignmentWaitMs) {
        throw new BrokerError(
          'CAIRN_TIMEOUT',
          `no partition of "${stream}" was assigned to this member of group "${group}" within ${assignmentWaitMs} ms`,
        )
      }
      const records = await consumer.poll()
      for (const record of records) {
        if (!follow && record.offset >= (ends.get(record.partition) ?? 0n)) continue
        const line = format(record, command.format)
        try {
          await write(output, line)
        } catch (error) {
          onOutputError(error instanceof Error ? error : new Error(String(error)))
          break
        }
        progress.records++
        progress.bytes += line.length
        printed.set(record.partition, record.offset + 1n)
        if (command.maxRecords !== undefined && progress.records >= command.maxRecords) {
          full = true
          break
        }
      }
      await commitPrinted()
      draw(false)
    }
    await commitPrinted()
  } finally {
    await consumer.close().catch(() => {})
  }

  if (command.output !== undefined) {
    await new Promise<void>((resolve) => output.end(resolve))
    draw(true)
    if (showProgress) io.stderr.write('\r\x1b[K')
    const records = `${progress.records} record${progress.records === 1 ? '' : 's'}`
    io.stderr.write(`consumed ${records} (${formatBytes(progress.bytes)}) from ${stream} to ${command.output}\n`)
  }
  output.off('error', onOutputError)
  if (outputError !== undefined) {
    // The reader went away (`cairn consume s | head`): not a failure.
    if ((outputError as NodeJS.ErrnoException).code === 'EPIPE') return 0
    io.stderr.write(`cairn: cannot write the output: ${outputError.message}\n`)
    return 1
  }
  return 0
}

function format(record: ConsumerRecord, as: 'text' | 'json'): Buffer {
  return as === 'json' ? Buffer.from(`${toJson(recordJson(record))}\n`) : recordText(record)
}

async function startOffsets(
  { client, io }: ToolContext,
  command: ConsumeCommand,
  info: StreamInfo,
  partitions: readonly number[],
): Promise<Map<number, bigint>> {
  const { start } = command
  const byPartition = new Map(info.partitions.map((p) => [p.partition, p]))
  if ('time' in start) {
    const timestamp = resolveTime(start.time, io.now())
    const found = await client
      .admin()
      .listOffsets(partitions.map((partition) => ({ stream: command.stream, partition, at: { timestamp } })))
    return new Map(found.map((r) => [r.partition, r.offset]))
  }
  return new Map(
    partitions.map((p) => {
      const bounds = byPartition.get(p)
      if ('offset' in start) return [p, start.offset]
      if ('latest' in start) return [p, bounds?.logEndOffset ?? 0n]
      return [p, bounds?.logStartOffset ?? 0n]
    }),
  )
}

async function openOutput(path: string): Promise<Writable> {
  const file = createWriteStream(path)
  await new Promise<void>((resolve, reject) => {
    file.once('open', () => {
      file.off('error', reject)
      resolve()
    })
    file.once('error', (error) => reject(new Error(`cannot write ${path}: ${error.message}`, { cause: error })))
  })
  return file
}
