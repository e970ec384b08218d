// The client tools (`cairn produce|consume|streams|groups`): in-process against a real native broker for
// most cases (the tool functions with injected stdin/stdout/stderr), and the spawned `cairn` for a few
// end-to-end cases (exit codes, stderr, a real `cairn serve`).

import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Readable, Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { parseCommandLine, usage, UsageError } from '../../gateway/config.ts'
import { parseBroker, parseByteSize, parseDuration, parseTimeSpec } from '../../gateway/tools/args.ts'
import { formatDuration, renderProgress } from '../../gateway/tools/format.ts'
import { runTool, type ToolIO } from '../../gateway/tools/run.ts'
import { CairnClient } from '../../src/client/index.ts'
import { partitionForKey } from '../../src/streams/partitioner.ts'
import { startNativeBroker, type NativeBroker } from '../helpers/native-broker.ts'
import { repoRoot, servedPorts, startCairn, stopCairn, tempDir } from './cairn-process.ts'

interface RunResult {
  code: number
  stdout: string
  stderr: string
}

interface RunOptions {
  stdin?: string | Buffer
  stdinIsTTY?: boolean
  stderrIsTTY?: boolean
  env?: Record<string, string>
  signal?: AbortSignal
  confirm?: (question: string) => Promise<boolean>
  /** Leave out --broker (the environment, or the default, applies). */
  noBrokerFlag?: boolean
  /** Called with each stdout chunk as it is written. */
  onStdout?: (text: string) => void
}

function sink(onChunk?: (text: string) => void): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = []
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(Buffer.from(chunk))
      onChunk?.(Buffer.from(chunk).toString('utf8'))
      callback()
    },
  })
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') }
}

let broker: NativeBroker
let client: CairnClient
let brokerFlag: string[]

/** Parses argv as `cairn` does and runs the tool in-process against the test broker. */
async function cairn(argv: string[], options: RunOptions = {}): Promise<RunResult> {
  const stdout = sink(options.onStdout)
  const stderr = sink()
  let commandLine
  try {
    commandLine = parseCommandLine(options.noBrokerFlag === true ? argv : [...argv, ...brokerFlag])
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    return { code: 2, stdout: '', stderr: `cairn: ${error.message}\n` }
  }
  if (commandLine.command !== 'tool') throw new Error(`not a client command: ${argv.join(' ')}`)
  const io: ToolIO = {
    stdin: Readable.from(options.stdin === undefined ? [] : [Buffer.from(options.stdin)]),
    stdout: stdout.stream,
    stderr: stderr.stream,
    stdinIsTTY: options.stdinIsTTY ?? false,
    stderrIsTTY: options.stderrIsTTY ?? false,
    env: options.env ?? {},
    signal: options.signal ?? new AbortController().signal,
    now: () => Date.now(),
    confirm: options.confirm ?? (() => Promise.reject(new Error('no terminal in tests'))),
  }
  const code = await runTool(commandLine.tool, io)
  return { code, stdout: stdout.text(), stderr: stderr.text() }
}

const jsonLines = (text: string) =>
  text
    .trim()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>)

let streamCount = 0
/** A fresh stream per test (the broker is shared). */
async function newStream(settings: string[] = []): Promise<string> {
  const name = `s${++streamCount}`
  const created = await cairn(['streams', 'create', name, ...settings])
  expect(created.code, created.stderr).toBe(0)
  return name
}

beforeAll(async () => {
  broker = await startNativeBroker()
  brokerFlag = ['--broker', `127.0.0.1:${broker.port}`]
  client = new CairnClient({ port: broker.port })
})

afterAll(async () => {
  await client.close()
  await broker.close()
})

describe('cli - produce and consume', () => {
  test('cli - produce from stdin with keys: murmur2 partitions, and consume --format json returns exactly them', async () => {
    const stream = await newStream(['--partitions', '4'])
    const input = Array.from({ length: 40 }, (_, i) => `sensor-${i % 7}=reading ${i}`)
    const produced = await cairn(['produce', stream, '--key-separator', '=', '--header', 'unit=C', '--json'], {
      stdin: `${input.join('\n')}\n`,
    })
    expect(produced.code, produced.stderr).toBe(0)
    const summary = JSON.parse(produced.stdout) as {
      stream: string
      records: number
      partitions: Record<string, { records: number; first: number; last: number }>
    }
    expect(summary.stream).toBe(stream)
    expect(summary.records).toBe(40)
    expect(Object.values(summary.partitions).reduce((n, p) => n + p.records, 0)).toBe(40)
    for (const p of Object.values(summary.partitions))
      expect(p).toEqual({ records: p.records, first: 0, last: p.records - 1 })

    const consumed = await cairn(['consume', stream, '--format', 'json'])
    expect(consumed.code, consumed.stderr).toBe(0)
    const records = jsonLines(consumed.stdout)
    expect(records).toHaveLength(40)
    for (const record of records) {
      expect(Object.keys(record)).toEqual(['stream', 'partition', 'offset', 'timestamp', 'key', 'value', 'headers'])
      expect(record.partition).toBe(partitionForKey(Buffer.from(record.key as string), 4))
      expect(record.headers).toEqual([{ name: 'unit', value: 'C' }])
    }
    const lines = records.map((r) => `${r.key as string}=${r.value as string}`)
    expect(lines.sort()).toEqual([...input].sort())
    // Within a partition, input order is kept.
    for (const p of [0, 1, 2, 3]) {
      const inPartition = records.filter((r) => r.partition === p)
      expect(inPartition.map((r) => r.offset)).toEqual(inPartition.map((_, i) => i))
      const expected = input.filter((line) => partitionForKey(Buffer.from(line.split('=')[0] as string), 4) === p)
      expect(inPartition.map((r) => `${r.key as string}=${r.value as string}`)).toEqual(expected)
    }
  })

  test('cli - produce --file (CRLF, keys, one partition) and consume as text; binary values come back as base64', async () => {
    const stream = await newStream(['--partitions', '2'])
    const file = join(tempDir(), 'input.txt')
    writeFileSync(file, 'k1\tone\r\nk2\ttwo\r\nno key here\r\nk3\tthree')
    const produced = await cairn([
      'produce',
      stream,
      '--file',
      file,
      '--key-separator',
      '\t',
      '--partition',
      '1',
      '--acks',
      '1',
    ])
    expect(produced).toEqual({
      code: 0,
      stdout: `produced 4 records to ${stream}\n  partition 1: 4 records, offsets 0..3\n`,
      stderr: '',
    })
    const text = await cairn(['consume', stream])
    expect(text.stdout).toBe('k1\tone\nk2\ttwo\nno key here\nk3\tthree\n')

    await client
      .producer()
      .send(stream, { key: new Uint8Array([0xff, 0x00]), value: new Uint8Array([0xc3, 0x28]), partition: 0 })
    const json = jsonLines((await cairn(['consume', stream, '--partition', '0', '--json'])).stdout)
    expect(json).toMatchObject([{ key: '/wA=', keyEncoding: 'base64', value: 'wyg=', valueEncoding: 'base64' }])
  })

  test('cli - consume --from a duration and an ISO time seeks by timestamp; --offset and --max-records', async () => {
    const stream = await newStream(['--partitions', '2'])
    const now = Date.now()
    const producer = client.producer()
    const ages = [180, 120, 90, 45, 20, 5] // minutes ago
    await producer.send(
      stream,
      ages.flatMap((age, i) =>
        [0, 1].map((partition) => ({ value: `p${partition}-${i}`, partition, timestamp: now - age * 60_000 })),
      ),
    )
    await producer.close()

    const values = async (args: string[]) => {
      const result = await cairn(['consume', stream, ...args])
      expect(result.code, result.stderr).toBe(0)
      return result.stdout.split('\n').filter((line) => line !== '')
    }
    expect(await values(['--from', '1h', '--partition', '0'])).toEqual(['p0-3', 'p0-4', 'p0-5'])
    expect(await values(['--from=-30m', '--partition', '1'])).toEqual(['p1-4', 'p1-5'])
    const iso = new Date(now - 100 * 60_000).toISOString()
    expect((await values(['--from', iso])).sort()).toEqual([
      'p0-2',
      'p0-3',
      'p0-4',
      'p0-5',
      'p1-2',
      'p1-3',
      'p1-4',
      'p1-5',
    ])
    expect(await values(['--from', '1m'])).toEqual([])
    expect(await values(['--offset', '4', '--partition', '1'])).toEqual(['p1-4', 'p1-5'])
    expect(await values(['--offset', 'latest'])).toEqual([])
    expect(await values(['--partition', '0', '--max-records', '2'])).toEqual(['p0-0', 'p0-1'])
    const json = jsonLines((await cairn(['consume', stream, '--partition', '1', '--offset', '5', '--json'])).stdout)
    expect(json).toEqual([
      { stream, partition: 1, offset: 5, timestamp: now - 5 * 60_000, key: null, value: 'p1-5', headers: [] },
    ])
  })

  test('cli - consume --group commits what it printed; groups describe then shows lag 0', async () => {
    const stream = await newStream(['--partitions', '3'])
    const lines = Array.from({ length: 30 }, (_, i) => `k${i}:v${i}`)
    expect((await cairn(['produce', stream, '--key-separator', ':'], { stdin: lines.join('\n') })).code).toBe(0)

    const partial = await cairn(['consume', stream, '--group', 'g-commit', '--max-records', '5'])
    expect(partial.code, partial.stderr).toBe(0)
    expect(partial.stdout.trim().split('\n')).toHaveLength(5)
    const afterPartial = JSON.parse((await cairn(['groups', 'describe', 'g-commit', '--json'])).stdout) as {
      offsets: { lag: number; offset: number }[]
    }
    expect(afterPartial.offsets.reduce((n, o) => n + o.offset, 0)).toBe(5)

    const rest = await cairn(['consume', stream, '--group', 'g-commit'])
    expect(rest.code, rest.stderr).toBe(0)
    const all = [...partial.stdout.trim().split('\n'), ...rest.stdout.trim().split('\n')]
    expect(all.map((line) => line.replace('\t', ':')).sort()).toEqual([...lines].sort())

    const described = await cairn(['groups', 'describe', 'g-commit', '--json'])
    const description = JSON.parse(described.stdout) as {
      group: string
      state: string
      members: unknown[]
      offsets: { stream: string; partition: number; offset: number; logEndOffset: number; lag: number }[]
    }
    expect(description).toMatchObject({ group: 'g-commit', state: 'empty', members: [] })
    expect(description.offsets).toHaveLength(3)
    for (const o of description.offsets) expect(o).toMatchObject({ stream, lag: 0, offset: o.logEndOffset })

    const human = await cairn(['groups', 'describe', 'g-commit'])
    expect(human.stdout).toMatch(/^group\s+g-commit\nstate\s+empty\n/)
    expect(human.stdout).toContain('no members')
    expect(human.stdout).toMatch(/STREAM\s+PARTITION\s+COMMITTED\s+END\s+LAG\n/)
    expect((await cairn(['groups', 'list'])).stdout).toMatch(/g-commit\s+empty\s+0\n/)

    const again = await cairn(['consume', stream, '--group', 'g-commit'])
    expect(again).toEqual({ code: 0, stdout: '', stderr: '' })
  })

  test('cli - consume --follow --group prints new records until aborted, then commits and exits 0', async () => {
    const stream = await newStream()
    const controller = new AbortController()
    let seen = ''
    const following = cairn(['consume', stream, '--follow', '--group', 'g-follow'], {
      signal: controller.signal,
      onStdout: (text) => {
        seen += text
        if (seen.split('\n').length > 3) controller.abort()
      },
    })
    for (const batch of [['a', 'b'], ['c']]) {
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect((await cairn(['produce', stream], { stdin: batch.join('\n') })).code).toBe(0)
    }
    const result = await following
    expect(result).toEqual({ code: 0, stdout: 'a\nb\nc\n', stderr: '' })
    const offsets = JSON.parse((await cairn(['groups', 'describe', 'g-follow', '--json'])).stdout) as {
      offsets: { offset: number; lag: number }[]
    }
    expect(offsets.offsets).toEqual([expect.objectContaining({ offset: 3, lag: 0 })])
  })

  test('cli - consume --output writes the file, a summary on stderr, and a progress bar only on a terminal', async () => {
    const stream = await newStream(['--partitions', '2'])
    const input = Array.from({ length: 200 }, (_, i) => `value-${i}`)
    expect((await cairn(['produce', stream], { stdin: input.join('\n') })).code).toBe(0)
    const dir = tempDir()

    const plain = await cairn(['consume', stream, '--output', join(dir, 'out.txt')])
    expect(plain).toEqual({
      code: 0,
      stdout: '',
      stderr: `consumed 200 records (1.8 KiB) from ${stream} to ${join(dir, 'out.txt')}\n`,
    })
    expect(readFileSync(join(dir, 'out.txt'), 'utf8').trim().split('\n').sort()).toEqual([...input].sort())

    const tty = await cairn(['consume', stream, '--json', '-o', join(dir, 'out.jsonl')], { stderrIsTTY: true })
    expect(tty.code).toBe(0)
    expect(tty.stderr).toContain('\r[##############################] 100%  200 records')
    // The bar is cleared (carriage return, erase line) before the summary.
    const [bar, summary] = tty.stderr.split('\r\u001b[K')
    expect(bar).toMatch(/% {2}200 records/)
    expect(summary).toMatch(/^consumed 200 records \(\d+(\.\d)? KiB\) from s\d+ to .*out\.jsonl\n$/)
    expect(jsonLines(readFileSync(join(dir, 'out.jsonl'), 'utf8'))).toHaveLength(200)

    const unwritable = await cairn(['consume', stream, '--output', join(dir, 'missing', 'out.txt')])
    expect(unwritable.code).toBe(1)
    expect(unwritable.stderr).toMatch(/^cairn: cannot write .*missing\/out\.txt: ENOENT/)
  })

  test('cli - the progress bar renders records, bytes and the share of the known end', () => {
    expect(renderProgress({ records: 0, bytes: 0, doneOffsets: 0n, totalOffsets: 200n }, 10)).toBe(
      '[..........]   0%  0 records  0 B',
    )
    expect(renderProgress({ records: 1234, bytes: 52_000, doneOffsets: 617n, totalOffsets: 2468n }, 20)).toBe(
      '[#####...............]  25%  1,234 records  51 KiB',
    )
    expect(renderProgress({ records: 9, bytes: 3 * 1024 ** 2, doneOffsets: 12n, totalOffsets: 9n }, 4)).toBe(
      '[####] 100%  9 records  3 MiB',
    )
    // The end is unknown (nothing to read when it started): counts only.
    expect(renderProgress({ records: 5, bytes: 1536, doneOffsets: 0n, totalOffsets: undefined })).toBe(
      '5 records  1.5 KiB',
    )
  })
})

describe('cli - streams', () => {
  test('cli - streams create, list, describe and delete, with --json shapes', async () => {
    const created = await cairn([
      'streams',
      'create',
      'meters',
      ...['--partitions', '3', '--retention', 'none', '--retention-bytes', '64MiB', '--cleanup', 'compact'],
      ...['--durability', 'os', '--subject', 'meters/+/kwh', '--subject', 'meters/+/v', '--json'],
    ])
    expect(created.code, created.stderr).toBe(0)
    const info = JSON.parse(created.stdout) as Record<string, unknown>
    expect(info).toEqual({
      name: 'meters',
      config: {
        partitions: 3,
        retentionMs: null,
        retentionBytes: 64 * 1024 * 1024,
        cleanupPolicy: 'compact',
        durability: 'os',
        deleteRetentionMs: 86_400_000,
        subjects: ['meters/+/kwh', 'meters/+/v'],
      },
      createdMs: expect.any(Number) as unknown,
      records: 0,
      bytes: 0,
      partitions: [0, 1, 2].map((partition) => ({
        partition,
        logStartOffset: 0,
        logEndOffset: 0,
        records: 0,
        bytes: 0,
      })),
    })
    expect((await cairn(['produce', 'meters', '--key-separator', ' '], { stdin: 'm1 10\nm2 20\n' })).code).toBe(0)

    const human = await cairn(['streams', 'create', 'alerts', '--retention', '36h', '--retention-bytes', '1GiB'])
    expect(human.stdout).toBe(
      'created stream alerts: 1 partition, retention 1d12h / 1 GiB, cleanup delete, durability fsync\n',
    )

    const list = await cairn(['streams', 'list'])
    expect(list.code).toBe(0)
    const rows = list.stdout.split('\n')
    expect(rows[0]).toMatch(/^NAME +PARTITIONS +RECORDS +BYTES +RETENTION$/)
    expect(list.stdout).toMatch(/\nalerts +1 +0 +0 B +1d12h \/ 1 GiB\n/)
    expect(list.stdout).toMatch(/\nmeters +3 +2 +\d+ B +forever \/ 64 MiB\n/)
    // Aligned: every row's RETENTION column starts at the same place.
    const at = rows[0]?.indexOf('RETENTION')
    for (const row of rows.slice(1).filter((r) => r !== '')) {
      expect(row[(at ?? 0) - 1]).toBe(' ')
      expect(row[at ?? 0]).not.toBe(' ')
    }
    const listJson = JSON.parse((await cairn(['streams', 'list', '--json'])).stdout) as { streams: { name: string }[] }
    expect(listJson.streams.map((s) => s.name)).toEqual(expect.arrayContaining(['alerts', 'meters']))

    const describe = await cairn(['streams', 'describe', 'meters'])
    expect(describe.stdout).toMatch(
      /^stream +meters\npartitions +3\nretention +forever\nretention bytes +64 MiB per partition\n/,
    )
    expect(describe.stdout).toMatch(/\nPARTITION +START +END +RECORDS +BYTES\n/)
    const describeJson = JSON.parse((await cairn(['streams', 'describe', 'meters', '--json'])).stdout) as {
      records: number
      partitions: { logEndOffset: number }[]
    }
    expect(describeJson.records).toBe(2)
    expect(describeJson.partitions.reduce((n, p) => n + p.logEndOffset, 0)).toBe(2)

    // Without a terminal, delete needs --yes (exit 2, nothing deleted); on one, it asks.
    const refused = await cairn(['streams', 'delete', 'meters'])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain('--yes is required')
    const questions: string[] = []
    const declined = await cairn(['streams', 'delete', 'meters'], {
      stdinIsTTY: true,
      confirm: (question) => {
        questions.push(question)
        return Promise.resolve(false)
      },
    })
    expect(declined).toEqual({ code: 1, stdout: '', stderr: 'cairn: not deleted\n' })
    expect(questions).toEqual(['delete stream "meters" and its 2 records? [y/N] '])
    const confirmed = await cairn(['streams', 'delete', 'meters'], {
      stdinIsTTY: true,
      confirm: () => Promise.resolve(true),
    })
    expect(confirmed).toEqual({ code: 0, stdout: 'deleted stream meters\n', stderr: '' })
    expect(JSON.parse((await cairn(['streams', 'delete', 'alerts', '--yes', '--json'])).stdout)).toEqual({
      deleted: 'alerts',
    })
    const gone = await cairn(['streams', 'describe', 'meters'])
    expect(gone).toEqual({
      code: 1,
      stdout: '',
      stderr: 'cairn: CAIRN_STREAM_NOT_FOUND: stream "meters" does not exist\n',
    })
  })
})

describe('cli - groups reset-offsets', () => {
  test('cli - reset-offsets: every mode, --partition, --dry-run, before → after', async () => {
    const stream = await newStream(['--partitions', '2'])
    const now = Date.now()
    const producer = client.producer()
    await producer.send(
      stream,
      Array.from({ length: 20 }, (_, i) => ({ value: `v${i}`, partition: i % 2, timestamp: now - (20 - i) * 60_000 })),
    )
    await producer.close()
    const group = 'g-reset'
    await client.admin().commitOffsets(group, [
      { stream, partition: 0, offset: 4n },
      { stream, partition: 1, offset: 6n },
    ])
    const committed = async () =>
      (await client.admin().fetchOffsets(group, [stream])).map((o) => [o.partition, Number(o.offset)])
    const reset = async (args: string[]) => {
      const result = await cairn(['groups', 'reset-offsets', group, '--stream', stream, ...args, '--json'])
      expect(result.code, result.stderr).toBe(0)
      return JSON.parse(result.stdout) as { group: string; stream: string; dryRun: boolean; offsets: unknown[] }
    }

    expect(await reset(['--to-earliest', '--dry-run'])).toEqual({
      group,
      stream,
      dryRun: true,
      offsets: [
        { partition: 0, previous: 4, offset: 0 },
        { partition: 1, previous: 6, offset: 0 },
      ],
    })
    expect(await committed()).toEqual([
      [0, 4],
      [1, 6],
    ])
    expect((await reset(['--to-latest', '--partition', '1'])).offsets).toEqual([
      { partition: 1, previous: 6, offset: 10 },
    ])
    expect((await reset(['--shift-by=-3'])).offsets).toEqual([
      { partition: 0, previous: 4, offset: 1 },
      { partition: 1, previous: 10, offset: 7 },
    ])
    expect((await reset(['--shift-by', '100', '--partition', '0'])).offsets).toEqual([
      { partition: 0, previous: 1, offset: 10 },
    ])
    expect((await reset(['--to-offset', '2'])).offsets).toEqual([
      { partition: 0, previous: 10, offset: 2 },
      { partition: 1, previous: 7, offset: 2 },
    ])
    // Record i is at now-(20-i) min in partition i % 2: from 7.5 minutes ago, i >= 13 (p0 offset 7, p1 offset 6).
    const iso = new Date(now - 7.5 * 60_000).toISOString()
    expect((await reset(['--to-time', iso])).offsets).toEqual([
      { partition: 0, previous: 2, offset: 7 },
      { partition: 1, previous: 2, offset: 6 },
    ])
    expect((await reset(['--to-time', '1h'])).offsets).toEqual([
      { partition: 0, previous: 7, offset: 0 },
      { partition: 1, previous: 6, offset: 0 },
    ])
    expect(await committed()).toEqual([
      [0, 0],
      [1, 0],
    ])

    const human = await cairn(['groups', 'reset-offsets', group, '--stream', stream, '--to-latest', '--dry-run'])
    expect(human.stdout).toMatch(new RegExp(`^STREAM +PARTITION +BEFORE +AFTER\\n${stream} +0 +0  →  +10\\n`))
    expect(human.stdout).toMatch(/dry run: the offsets of group g-reset are unchanged\n$/)
    const moved = await cairn(['groups', 'reset-offsets', group, '--stream', stream, '--to-latest'])
    expect(moved.stdout).toMatch(/reset 2 offsets of group g-reset\n$/)

    const beyond = await cairn(['groups', 'reset-offsets', group, '--stream', stream, '--to-offset', '99'])
    expect(beyond.code).toBe(1)
    expect(beyond.stderr).toMatch(/^cairn: CAIRN_OFFSET_OUT_OF_RANGE: offset 99 is outside/)
  })
})

describe('cli - errors and usage', () => {
  test('cli - broker errors exit 1 with the code on stderr', async () => {
    expect(await cairn(['consume', 'no-such-stream'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'cairn: CAIRN_STREAM_NOT_FOUND: stream "no-such-stream" does not exist\n',
    })
    const produce = await cairn(['produce', 'no-such-stream'], { stdin: 'x\n' })
    expect(produce).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^cairn: CAIRN_STREAM_NOT_FOUND: /) as unknown,
    })
    const stream = await newStream()
    expect((await cairn(['streams', 'create', stream])).stderr).toMatch(/^cairn: CAIRN_STREAM_EXISTS: /)
    expect((await cairn(['consume', stream, '--partition', '3'])).stderr).toBe(
      `cairn: CAIRN_PARTITION_NOT_FOUND: stream "${stream}" has no partition 3 (it has 1)\n`,
    )
    const produceToPartition = await cairn(['produce', stream, '--partition', '5'], { stdin: 'x\n' })
    expect(produceToPartition.code).toBe(1)
    expect(produceToPartition.stderr).toMatch(
      /^cairn: CAIRN_PARTITION_NOT_FOUND: .*\ncairn: 0 of 1 records read were acknowledged/,
    )
    expect((await cairn(['groups', 'describe', 'no-such-group'])).stderr).toBe(
      'cairn: CAIRN_GROUP_NOT_FOUND: unknown group "no-such-group"\n',
    )
    const missingFile = await cairn(['produce', stream, '--file', '/nonexistent/input'])
    expect(missingFile.code).toBe(1)
    expect(missingFile.stderr).toMatch(/^cairn: cannot read \/nonexistent\/input: ENOENT/)
  })

  test('cli - bad flags and arguments are usage errors (exit 2) naming the culprit', async () => {
    for (const [argv, fragment] of [
      [['produce'], 'produce: missing STREAM'],
      [['produce', 's', '--acks', '2'], '--acks must be 0, 1 or all'],
      [['produce', 's', '--header', 'novalue'], '--header must be NAME=VALUE'],
      [['consume', 's', '--offset', '-1'], "'--offset' argument is ambiguous"],
      [['consume', 's', '--offset', 'first'], '--offset must be a non-negative offset, earliest or latest'],
      [['consume', 's', '--offset', '3', '--from', '1h'], 'give --offset or --from, not both'],
      [['consume', 's', '--from', 'yesterday'], '--from must be an ISO time'],
      [['consume', 's', '--group', 'g', '--partition', '1'], '--partition cannot be used with --group'],
      [['consume', 's', '--format', 'xml'], '--format must be text or json'],
      [['consume', 's', '--max-records', '0'], '--max-records must be a positive integer'],
      [['consume', 's', '--bogus'], "Unknown option '--bogus'"],
      [['streams'], 'streams: missing command (list, create, describe, delete)'],
      [['streams', 'drop', 'x'], 'streams: unknown command "drop"'],
      [['streams', 'create', 'x', '--retention', '7 days'], '--retention must be a duration'],
      [['streams', 'create', 'x', '--cleanup', 'shred'], '--cleanup must be delete or compact'],
      [['streams', 'list', '--yes'], 'streams list: --yes does not apply'],
      [['streams', 'describe'], 'streams describe: missing NAME'],
      [['groups', 'reset-offsets', 'g', '--stream', 's'], 'give exactly one of --to-earliest'],
      [
        ['groups', 'reset-offsets', 'g', '--stream', 's', '--to-earliest', '--to-latest'],
        '(got --to-earliest and --to-latest)',
      ],
      [['groups', 'reset-offsets', 'g', '--to-earliest'], '--stream is required'],
      [['groups', 'list', '--stream', 's'], 'groups list: --stream does not apply'],
      [['streams', 'list', '--timeout-ms', 'soon'], '--timeout-ms must be a non-negative integer'],
    ] as const) {
      const result = await cairn([...argv])
      expect(result.code, argv.join(' ')).toBe(2)
      expect(result.stderr, argv.join(' ')).toContain(fragment)
    }
    const badBroker = await cairn(['streams', 'list'], { env: { CAIRN_BROKER: 'gw:port' }, noBrokerFlag: true })
    expect(badBroker).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'cairn: CAIRN_BROKER must be HOST:PORT (IPv6 hosts in brackets), e.g. 127.0.0.1:7883 (got "gw:port")\nRun "cairn --help" for usage.\n',
    })
    expect(parseCommandLine(['streams', 'list', '--help'])).toEqual({ command: 'help', flags: {} })
    expect(parseCommandLine(['--broker', 'h:1', 'groups', 'list', '--json'])).toMatchObject({
      command: 'tool',
      tool: { globals: { broker: 'h:1', json: true, timeoutMs: 5000 }, command: { name: 'groups list' } },
    })
  })

  test('cli - value parsers: durations, times, sizes, broker addresses', () => {
    expect(parseDuration('90s', 'x')).toBe(90_000)
    expect(parseDuration('1h30m', 'x')).toBe(5_400_000)
    expect(parseDuration('7d', 'x')).toBe(604_800_000)
    expect(formatDuration(5_400_000)).toBe('1h30m')
    expect(formatDuration(1_209_600_000)).toBe('2w')
    expect(parseTimeSpec('2026-11-21T10:00:00Z', 'x')).toEqual({ at: Date.UTC(2026, 10, 21, 10) })
    expect(parseTimeSpec('15m', 'x')).toEqual({ ago: 900_000 })
    expect(parseTimeSpec('-2h', 'x')).toEqual({ ago: 7_200_000 })
    expect(parseTimeSpec('1795000000000', 'x')).toEqual({ at: 1_795_000_000_000 })
    expect(() => parseTimeSpec('2026-13-45', 'x')).toThrow(UsageError)
    expect(parseByteSize('512MiB', 'x')).toBe(512 * 1024 ** 2)
    expect(parseByteSize('2GB', 'x')).toBe(2e9)
    expect(parseByteSize('1000', 'x')).toBe(1000)
    expect(() => parseByteSize('lots', 'x')).toThrow('must be a size in bytes')
    expect(parseBroker('gw.local:7000', 'x')).toEqual({ host: 'gw.local', port: 7000 })
    expect(parseBroker('[::1]:7883', 'x')).toEqual({ host: '::1', port: 7883 })
    expect(parseBroker('gw.local', 'x')).toEqual({ host: 'gw.local', port: 7883 })
    expect(parseBroker('9000', 'x')).toEqual({ host: '127.0.0.1', port: 9000 })
    expect(() => parseBroker('h:70000', 'CAIRN_BROKER')).toThrow('CAIRN_BROKER must be HOST:PORT')
  })

  test('cli - usage lists every client command and stays within 120 columns', () => {
    for (const fragment of [
      'produce  write records',
      'cairn produce STREAM [--file FILE] [--key-separator SEP]',
      'cairn consume STREAM',
      '--from TIME|DURATION',
      'cairn streams create NAME [--partitions N]',
      'cairn streams delete NAME [--yes]',
      'cairn groups describe GROUP',
      '--to-time TIME|DURATION | --shift-by N | --to-offset N',
      '--broker HOST:PORT',
      'env CAIRN_BROKER',
      '--timeout-ms N',
    ]) {
      expect(usage).toContain(fragment)
    }
    expect(Math.max(...usage.split('\n').map((line) => line.length))).toBeLessThanOrEqual(120)
  })
})

// ---- the real binary ----

const cli = join(repoRoot, 'gateway', 'cli.ts')

function spawnCairn(
  args: string[],
  options: { env?: Record<string, string>; stdin?: string } = {},
): Promise<RunResult> {
  const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('CAIRN_')))
  const child = spawn(process.execPath, [cli, ...args], { cwd: repoRoot, env: { ...baseEnv, ...options.env } })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  child.stdin.end(options.stdin ?? '')
  return new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr })))
}

describe('cli - the cairn binary', () => {
  test('cli - end to end: cairn serve, then produce and consume through the binary (CAIRN_BROKER)', async () => {
    const server = startCairn([
      'serve',
      '--data-dir',
      join(tempDir(), 'data'),
      '--mqtt',
      'off',
      '--native',
      '127.0.0.1:0',
      '--http',
      'off',
    ])
    const { native } = await servedPorts(server)
    const env = { CAIRN_BROKER: `127.0.0.1:${native}` }
    const [created, usageError] = await Promise.all([
      spawnCairn(['streams', 'create', 'e2e', '--partitions', '2'], { env }),
      spawnCairn(['consume', 'e2e', '--follow=yes'], { env }),
    ])
    expect(created).toEqual({
      code: 0,
      stdout: 'created stream e2e: 2 partitions, retention 1w, cleanup delete, durability fsync\n',
      stderr: '',
    })
    expect(usageError.code).toBe(2)
    expect(usageError.stderr).toMatch(
      /^cairn: Option '-f, --follow' does not take an argument\nRun "cairn --help" for usage\.\n$/,
    )

    const produced = await spawnCairn(['produce', 'e2e', '--key-separator', ',', '--json'], {
      env,
      stdin: 'a,1\nb,2\nc,3\n',
    })
    expect(produced.code, produced.stderr).toBe(0)
    expect(JSON.parse(produced.stdout)).toMatchObject({ stream: 'e2e', records: 3 })
    const [consumed, unknown] = await Promise.all([
      spawnCairn(['consume', 'e2e', '--format', 'json'], { env }),
      spawnCairn(['consume', 'nope'], { env }),
    ])
    expect(consumed.code, consumed.stderr).toBe(0)
    const records = jsonLines(consumed.stdout)
    expect(records.map((r) => `${r.key as string},${r.value as string}`).sort()).toEqual(['a,1', 'b,2', 'c,3'])
    for (const r of records) expect(r.partition).toBe(partitionForKey(Buffer.from(r.key as string), 2))
    expect(unknown).toEqual({
      code: 1,
      stdout: '',
      stderr: 'cairn: CAIRN_STREAM_NOT_FOUND: stream "nope" does not exist\n',
    })
    expect((await stopCairn(server)).code).toBe(0)
  })

  test('cli - an unreachable broker exits 1 naming the address', async () => {
    const [flag, env] = await Promise.all([
      spawnCairn(['streams', 'list', '--broker', '127.0.0.1:1']),
      spawnCairn(['consume', 'x'], { env: { CAIRN_BROKER: '127.0.0.1:9' } }),
    ])
    expect(flag.code).toBe(1)
    expect(flag.stdout).toBe('')
    expect(flag.stderr).toMatch(
      /^cairn: CAIRN_CONNECTION_CLOSED: cannot reach the broker at 127\.0\.0\.1:1 \(connect ECONNREFUSED/,
    )
    expect(env.code).toBe(1)
    expect(env.stderr).toContain('cannot reach the broker at 127.0.0.1:9')
  })
})
