// The records both sides of scripts/bench-mirror.ts send: N values of `bytes` bytes, value i made of
// one letter ('a' + i % 26). They are laid out once as kcat's input (each value followed by '\n',
// the delimiter kcat -P strips), and the log store is pre-filled from views into that same buffer,
// so the mirror and kcat send byte-identical values (keys null).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pino } from 'pino'
import { LogStore } from '../../src/log/log-store.ts'
import type { RecordInput } from '../../src/log/types.ts'

export interface Workload {
  bytes: number
  records: number
  /** kcat's input: `records` lines of `bytes` characters. */
  lines: Buffer
}

export function makeWorkload(bytes: number, records: number): Workload {
  const stride = bytes + 1
  const lines = Buffer.allocUnsafe(records * stride)
  for (let i = 0; i < records; i++) {
    const at = i * stride
    lines.fill(97 + (i % 26), at, at + bytes)
    lines[at + bytes] = 0x0a
  }
  return { bytes, records, lines }
}

/** Writes kcat's input file (the first `records` lines) into `dir`; returns its path. */
export function writeKcatInput(workload: Workload, dir: string, records = workload.records): string {
  const file = join(dir, `kcat-input-${workload.bytes}-${records}.txt`)
  writeFileSync(file, workload.lines.subarray(0, records * (workload.bytes + 1)))
  return file
}

export interface FilledStore {
  store: LogStore
  dir: string
  stream: string
  partitions: number
  records: number
  close(): Promise<void>
}

/**
 * A fresh LogStore in a temporary directory under `parent` with stream `bench` of `partitions`
 * partitions, `records` records in total (split evenly, in order), appended in batches of 10 000 with
 * durability `os` (the fill is not timed; the mirror's own writes commit with fsync regardless).
 */
export async function filledStore(
  workload: Workload,
  parent: string,
  records: number,
  partitions: number,
): Promise<FilledStore> {
  const dir = mkdtempSync(join(parent, 'cairn-bench-mirror-'))
  const store = LogStore.open({ dataDir: dir, logger: pino({ level: 'silent' }) })
  const stream = 'bench'
  store.createStream(stream, { partitions, durability: 'os' })
  const stride = workload.bytes + 1
  const perPartition = Math.ceil(records / partitions)
  const chunk = 10_000
  for (let p = 0; p < partitions; p++) {
    const first = p * perPartition
    const end = Math.min(records, first + perPartition)
    const appends: Array<Promise<unknown>> = []
    for (let i = first; i < end; i += chunk) {
      const batch: RecordInput[] = []
      for (let j = i; j < Math.min(end, i + chunk); j++) {
        batch.push({ value: workload.lines.subarray(j * stride, j * stride + workload.bytes) })
      }
      appends.push(store.append(stream, p, batch))
      if (appends.length >= 8) await Promise.all(appends.splice(0))
    }
    await Promise.all(appends)
  }
  // Durable and checkpointed before the timed drain, as a backlog appended with durability fsync would be: else
  // the mirror's first fsync'd commits pay for flushing the whole fill (hundreds of MB) out of the page cache.
  store.checkpoint('TRUNCATE')
  return {
    store,
    dir,
    stream,
    partitions,
    records,
    close: async () => {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
