// `cairn produce STREAM`: one record per input line, through the idempotent producer.

import type { Readable } from 'node:stream'
import type { ProducerRecord, RecordMetadata } from '../../src/client/index.ts'
import type { ToolCommand } from './args.ts'
import { toJson } from './format.ts'
import { write, type ToolContext } from './io.ts'
import { reportError } from './report.ts'

type ProduceCommand = Extract<ToolCommand, { name: 'produce' }>

/** Records per send() call, and send() calls awaiting their acknowledgement at once (bounds memory). */
const chunkRecords = 500
const maxChunksInFlight = 8

export interface PartitionSummary {
  records: number
  /** Offsets of the first and last record produced; absent with --acks 0 (the broker does not answer). */
  first?: bigint
  last?: bigint
}

/** Splits a byte stream into lines (LF or CRLF); a last line without a newline counts, an empty tail does not. */
export async function* readLines(input: Readable): AsyncGenerator<Buffer> {
  let rest = Buffer.alloc(0)
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
    const buffer = rest.length === 0 ? bytes : Buffer.concat([rest, bytes])
    let start = 0
    for (let nl = buffer.indexOf(10, start); nl !== -1; nl = buffer.indexOf(10, start)) {
      yield withoutCr(buffer.subarray(start, nl))
      start = nl + 1
    }
    rest = Buffer.from(buffer.subarray(start))
  }
  if (rest.length > 0) yield withoutCr(rest)
}

const withoutCr = (line: Buffer) => (line.at(-1) === 13 ? line.subarray(0, -1) : line)

export async function produce(context: ToolContext, command: ProduceCommand, input: Readable): Promise<number> {
  const { client, io } = context
  const { stream } = command
  // Fails fast on an unknown stream, even with empty input.
  await client.metadata.stream(stream)
  const producer = client.producer({ acks: command.acks })
  const separator = command.keySeparator === undefined ? undefined : Buffer.from(command.keySeparator)
  const partitions = new Map<number, PartitionSummary>()
  const inFlight = new Set<Promise<void>>()
  let read = 0
  let acknowledged = 0
  let failure: unknown
  let chunk: ProducerRecord[] = []

  const acked = (metadata: RecordMetadata) => {
    acknowledged++
    const summary = partitions.get(metadata.partition) ?? { records: 0 }
    summary.records++
    if (metadata.offset >= 0n) {
      if (summary.first === undefined || metadata.offset < summary.first) summary.first = metadata.offset
      if (summary.last === undefined || metadata.offset > summary.last) summary.last = metadata.offset
    }
    partitions.set(metadata.partition, summary)
  }
  const sendChunk = () => {
    const records = chunk
    chunk = []
    const sent = producer.send(stream, records).then(
      (results) => results.forEach(acked),
      (error: unknown) => {
        failure ??= error
      },
    )
    inFlight.add(sent)
    void sent.finally(() => inFlight.delete(sent))
  }

  try {
    for await (const line of readLines(input)) {
      if (failure !== undefined) break
      read++
      chunk.push(toRecord(line, separator, command))
      if (chunk.length >= chunkRecords) {
        sendChunk()
        while (inFlight.size >= maxChunksInFlight) await Promise.race(inFlight)
      }
    }
    if (failure === undefined && chunk.length > 0) sendChunk()
    await Promise.all(inFlight)
  } finally {
    await producer.close()
  }

  if (failure !== undefined) {
    reportError(io, failure)
    io.stderr.write(`cairn: ${acknowledged} of ${read} records read were acknowledged by ${stream}\n`)
    return 1
  }
  const sorted = [...partitions].sort(([a], [b]) => a - b)
  if (context.json) {
    await write(io.stdout, `${toJson({ stream, records: acknowledged, partitions: Object.fromEntries(sorted) })}\n`)
  } else {
    const lines = [`produced ${acknowledged} record${acknowledged === 1 ? '' : 's'} to ${stream}`]
    for (const [partition, summary] of sorted) {
      const offsets = summary.first === undefined ? '' : `, offsets ${summary.first}..${summary.last}`
      lines.push(`  partition ${partition}: ${summary.records} record${summary.records === 1 ? '' : 's'}${offsets}`)
    }
    await write(io.stdout, `${lines.join('\n')}\n`)
  }
  return 0
}

function toRecord(line: Buffer, separator: Buffer | undefined, command: ProduceCommand): ProducerRecord {
  const record: ProducerRecord = { value: line }
  if (separator !== undefined) {
    const at = line.indexOf(separator)
    // A line without the separator has no key: the whole line is the value.
    if (at !== -1) {
      record.key = line.subarray(0, at)
      record.value = line.subarray(at + separator.length)
    }
  }
  if (command.headers.length > 0) record.headers = command.headers
  if (command.partition !== undefined) record.partition = command.partition
  return record
}
