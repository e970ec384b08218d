// Output helpers of the client tools: JSON with offsets, aligned tables, sizes and durations for humans,
// records as JSON lines, and the progress bar. All pure.

import type { ConsumerRecord, StreamInfo } from '../../src/client/index.ts'

/** JSON with bigints as numbers (offsets are far below 2^53 in practice) or, beyond that, exact strings. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'bigint'
      ? v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(v)
        : v.toString()
      : v,
  )
}

/**
 * Columns separated by two spaces, padded to the widest cell; columns listed in `right` are right-aligned
 * (numbers). The last column is not padded, so lines carry no trailing blanks.
 */
export function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  right: readonly number[] = [],
): string {
  const all = [header, ...rows]
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)))
  return all
    .map((row) =>
      row
        .map((cell, i) => {
          const width = widths[i] ?? 0
          if (right.includes(i)) return cell.padStart(width)
          return i === row.length - 1 ? cell : cell.padEnd(width)
        })
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
    .concat('\n')
}

const durationSteps: [string, number][] = [
  ['w', 604_800_000],
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
  ['ms', 1],
]

/** 604800000 → `7d`, 5400000 → `1h30m`; weeks only when whole. */
export function formatDuration(ms: number): string {
  if (ms <= 0) return '0s'
  if (ms % 604_800_000 === 0) return `${ms / 604_800_000}w`
  let left = ms
  let out = ''
  for (const [unit, size] of durationSteps.slice(1)) {
    if (left >= size) {
      out += `${Math.floor(left / size)}${unit}`
      left %= size
    }
  }
  return out
}

/** 1536 → `1.5 KiB`. */
export function formatBytes(bytes: number | bigint): string {
  let n = Number(bytes)
  if (n < 1024) return `${n} B`
  for (const unit of ['KiB', 'MiB', 'GiB', 'TiB']) {
    n /= 1024
    if (n < 1024 || unit === 'TiB') return `${n < 10 ? n.toFixed(1).replace(/\.0$/, '') : Math.round(n)} ${unit}`
  }
  return `${n} B`
}

/** The stream's retention for a table cell: `7d`, `forever`, `7d / 1 GiB`. */
export function formatRetention(config: StreamInfo['config']): string {
  const time = config.retentionMs < 0 ? 'forever' : formatDuration(config.retentionMs)
  return config.retentionBytes < 0 ? time : `${time} / ${formatBytes(config.retentionBytes)}`
}

export function streamTotals(info: StreamInfo): { records: number; bytes: number } {
  let records = 0
  let bytes = 0
  for (const p of info.partitions) {
    records += p.records
    bytes += p.bytes
  }
  return { records, bytes }
}

/** A stream as the tools print it with --json: the wire shape, with null for "no limit" instead of -1. */
export function streamJson(info: StreamInfo): Record<string, unknown> {
  const { records, bytes } = streamTotals(info)
  return {
    name: info.name,
    config: {
      ...info.config,
      retentionMs: info.config.retentionMs < 0 ? null : info.config.retentionMs,
      retentionBytes: info.config.retentionBytes < 0 ? null : info.config.retentionBytes,
    },
    createdMs: info.createdMs,
    records,
    bytes,
    partitions: info.partitions,
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** UTF-8 text when the bytes are valid UTF-8, else base64 (and says so). */
export function encodeBytes(bytes: Uint8Array): { text: string; base64: boolean } {
  try {
    return { text: utf8.decode(bytes), base64: false }
  } catch {
    return { text: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'), base64: true }
  }
}

/**
 * One record as a JSON object: {stream, partition, offset, timestamp, key, value, headers}. Keys, values and
 * header values are UTF-8 strings where valid; otherwise base64, flagged by `keyEncoding: "base64"`,
 * `valueEncoding: "base64"` or the header's own `valueEncoding`. Headers keep their order and repeats.
 */
export function recordJson(record: ConsumerRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {
    stream: record.stream,
    partition: record.partition,
    offset: record.offset,
    timestamp: record.timestamp,
  }
  for (const field of ['key', 'value'] as const) {
    const bytes = record[field]
    if (bytes === null) {
      out[field] = null
      continue
    }
    const { text, base64 } = encodeBytes(bytes)
    out[field] = text
    if (base64) out[`${field}Encoding`] = 'base64'
  }
  out.headers = record.headers.map(([name, bytes]) => {
    const { text, base64 } = encodeBytes(bytes)
    return base64 ? { name, value: text, valueEncoding: 'base64' } : { name, value: text }
  })
  return out
}

const newline = Buffer.from('\n')
const tab = Buffer.from('\t')
const asBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

/** One record as a line: `value`, or `key<TAB>value` when it has a key; bytes as stored; a null value is empty. */
export function recordText(record: ConsumerRecord): Buffer {
  const value = record.value === null ? Buffer.alloc(0) : asBuffer(record.value)
  if (record.key === null) return Buffer.concat([value, newline])
  return Buffer.concat([asBuffer(record.key), tab, value, newline])
}

export interface Progress {
  records: number
  bytes: number
  /** Offsets read so far and offsets to read, over every partition; total 0 or undefined when unknown. */
  doneOffsets: bigint
  totalOffsets: bigint | undefined
}

/** `[##########..........]  50%  1,200 records  34 KiB` (no bar when the end is unknown). */
export function renderProgress(progress: Progress, width = 30): string {
  const counts = `${progress.records.toLocaleString('en-US')} records  ${formatBytes(progress.bytes)}`
  const total = progress.totalOffsets
  if (total === undefined || total <= 0n) return counts
  const done = progress.doneOffsets < 0n ? 0n : progress.doneOffsets > total ? total : progress.doneOffsets
  const percent = Number((done * 100n) / total)
  const filled = Number((done * BigInt(width)) / total)
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(percent).padStart(3)}%  ${counts}`
}
