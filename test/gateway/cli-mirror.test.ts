// `cairn mirror status|translate`, in-process against a real native broker whose mirror is a stand-in
// (test/helpers/stub-mirror.ts, fixed answers): these tests check the command lines and what they print;
// the real mirror is tested in its own suites.

import { Readable, Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { parseCommandLine, usage } from '../../gateway/config.ts'
import { parseToolCommandLine } from '../../gateway/tools/args.ts'
import { formatAge } from '../../gateway/tools/mirror.ts'
import { runTool, type ToolIO } from '../../gateway/tools/run.ts'
import { UsageError } from '../../gateway/tools/usage-error.ts'
import { startNativeBroker, type NativeBroker } from '../helpers/native-broker.ts'
import { stubMirror, stubNowMs } from '../helpers/stub-mirror.ts'

interface RunResult {
  code: number
  stdout: string
  stderr: string
}

function sink(): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = []
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(Buffer.from(chunk))
      callback()
    },
  })
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') }
}

let broker: NativeBroker
let bare: NativeBroker

/** Parses argv as `cairn` does for client commands and runs the tool in-process; the clock stands at stubNowMs. */
async function cairn(argv: string[], on: NativeBroker = broker): Promise<RunResult> {
  let commandLine
  try {
    commandLine = parseToolCommandLine([...argv, '--broker', `127.0.0.1:${on.port}`])
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    return { code: 2, stdout: '', stderr: `cairn: ${error.message}\n` }
  }
  if (commandLine === 'help') throw new Error('help')
  const stdout = sink()
  const stderr = sink()
  const io: ToolIO = {
    stdin: Readable.from([]),
    stdout: stdout.stream,
    stderr: stderr.stream,
    stdinIsTTY: false,
    stderrIsTTY: false,
    env: {},
    signal: new AbortController().signal,
    now: () => stubNowMs,
    confirm: () => Promise.reject(new Error('no terminal in tests')),
  }
  const code = await runTool(commandLine, io)
  return { code, stdout: stdout.text(), stderr: stderr.text() }
}

beforeAll(async () => {
  broker = await startNativeBroker({ mirror: stubMirror() })
  bare = await startNativeBroker()
})

afterAll(async () => {
  await broker.close()
  await bare.close()
})

describe('cli - mirror status', () => {
  test('cli mirror - status: the link, its last error, and a row per partition with cursor, lag, age and gaps', async () => {
    const { code, stdout, stderr } = await cairn(['mirror', 'status'])
    expect(stderr).toBe('')
    expect(code).toBe(0)
    expect(stdout).toBe(
      [
        'link         central',
        'state        backoff',
        'last error   CAIRN_UPSTREAM_UNAVAILABLE: kafka:9092 refused (12s ago)',
        'redelivered  3 records',
        '',
        'STREAM   PARTITION  STATE   CURSOR  UPSTREAM       UPSTREAM OFFSET  LAG  OLDEST UNMIRRORED  GAPS',
        'sensors          0  active      40  gw1.sensors/0              139    2  1m30s                 0',
        'sensors          1  active       0  gw1.sensors/1                -    0  -                     5',
        '',
      ].join('\n'),
    )
  })

  test('cli mirror - status --json: the links as the broker reports them, offsets as numbers', async () => {
    const { code, stdout } = await cairn(['mirror', 'status', '--json'])
    expect(code).toBe(0)
    const parsed = JSON.parse(stdout) as { links: Array<{ link: string; partitions: Array<Record<string, unknown>> }> }
    expect(parsed.links.map((l) => l.link)).toEqual(['central'])
    expect(parsed.links[0]?.partitions).toContainEqual({
      stream: 'sensors',
      partition: 1,
      upstreamTopic: 'gw1.sensors',
      upstreamPartition: 1,
      state: 'active',
      nextLocal: 0,
      lastUpstream: -1,
      lagRecords: 0,
      oldestUnmirroredMs: null,
      confirmedRecords: 0,
      gapRecords: 5,
    })
  })

  test('cli mirror - a broker without a mirror: exit 1 and the reason', async () => {
    expect(await cairn(['mirror', 'status'], bare)).toEqual({
      code: 1,
      stdout: '',
      stderr: 'cairn: CAIRN_REQUEST_INVALID: no mirror is configured (cairn serve --mirror-to ...)\n',
    })
  })
})

describe('cli - mirror translate', () => {
  test('cli mirror - translate a record to upstream, back to local, and a consumer position', async () => {
    expect(await cairn(['mirror', 'translate', 'sensors', '0', '12'])).toEqual({
      code: 0,
      stdout: 'sensors/0@12 → gw1.sensors/0@112  (record, link central)\n',
      stderr: '',
    })
    expect(
      (await cairn(['mirror', 'translate', 'sensors', '0', '112', '--to-local', '--link', 'central'])).stdout,
    ).toBe('gw1.sensors/0@112 → sensors/0@12  (record, link central)\n')
    expect((await cairn(['mirror', 'translate', 'sensors', '0', '45', '--position'])).stdout).toBe(
      'sensors/0@45 → gw1.sensors/0@140  (position, link central; beyond the mirror frontier: the frontier)\n',
    )
  })

  test('cli mirror - translate --json', async () => {
    const { code, stdout } = await cairn([
      'mirror',
      'translate',
      'sensors',
      '0',
      '120',
      '--to-local',
      '--position',
      '--json',
    ])
    expect(code).toBe(0)
    expect(JSON.parse(stdout)).toEqual({
      link: 'central',
      stream: 'sensors',
      partition: 0,
      upstreamTopic: 'gw1.sensors',
      upstreamPartition: 0,
      kind: 'position',
      direction: 'to-local',
      from: 120,
      to: 20,
      clamped: false,
    })
  })

  test('cli mirror - no image: exit 1 with CAIRN_OFFSET_NOT_MIRRORED', async () => {
    expect(await cairn(['mirror', 'translate', 'sensors', '0', '40'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'cairn: CAIRN_OFFSET_NOT_MIRRORED: local offset 40 has no upstream copy\n',
    })
    expect((await cairn(['mirror', 'translate', 'other', '0', '1'])).stderr).toBe(
      'cairn: CAIRN_OFFSET_NOT_MIRRORED: other/0 is not mirrored by link central\n',
    )
  })
})

describe('cli - mirror resolve', () => {
  test('cli mirror - resolve a stopped partition; an action that does not apply is exit 1 with the choices', async () => {
    expect(await cairn(['mirror', 'resolve', 'sensors', '0', 'skip'])).toEqual({
      code: 0,
      stdout: 'central: sensors/0 blocked-poison -> active (skip); next local offset 41, map epoch 0\n',
      stderr: '',
    })
    const wrong = await cairn(['mirror', 'resolve', 'sensors', '0', 'rebase', '--link', 'central'])
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toMatch(/CAIRN_REQUEST_INVALID: .*rebase does not apply \(use retry or skip\)/)
    const usage = await cairn(['mirror', 'resolve', 'sensors', '0', 'undo'])
    expect(usage.code).toBe(2)
    expect(usage.stderr).toMatch(/ACTION must be retry, skip, remirror, continue, rebase \(got "undo"\)/)
  })
})

describe('cli - mirror usage', () => {
  test('cli mirror - bad arguments are usage errors (exit 2) naming the culprit', async () => {
    const cases: Array<[string[], string]> = [
      [['mirror'], 'mirror: missing command (status, translate, resolve)'],
      [['mirror', 'lag'], 'mirror: unknown command "lag" (status, translate, resolve)'],
      [['mirror', 'translate', 'sensors', '0'], 'mirror translate: missing OFFSET'],
      [['mirror', 'translate', 'sensors', 'x', '1'], 'PARTITION must be a non-negative integer (got "x")'],
      [['mirror', 'translate', 'sensors', '0', '-1'], "Unknown option '-1'"],
      [['mirror', 'translate', 'sensors', '0', 'latest'], 'OFFSET must be a non-negative offset (got "latest")'],
      [['mirror', 'translate', 'sensors', '0', '1', '2'], 'mirror translate: unexpected argument "2"'],
      [['mirror', 'translate', 'sensors', '0', '1', '--link', ''], '--link must not be empty'],
      [['mirror', 'status', '--to-local'], 'mirror status: --to-local does not apply'],
      [['mirror', 'status', 'x'], 'mirror status: unexpected argument "x"'],
    ]
    for (const [argv, message] of cases) {
      const result = await cairn(argv)
      expect({ argv, code: result.code }).toEqual({ argv, code: 2 })
      expect(result.stderr).toContain(message)
    }
  })

  test('cli mirror - `cairn mirror` is a client command, listed in the usage', () => {
    expect(parseCommandLine(['mirror', 'status', '--broker', 'gw:7883'])).toMatchObject({
      command: 'tool',
      tool: { globals: { broker: 'gw:7883' }, command: { name: 'mirror status' } },
    })
    expect(parseCommandLine(['mirror', 'translate', 'sensors', '0', '5', '--help'])).toEqual({
      command: 'help',
      flags: {},
    })
    for (const fragment of [
      'mirror   status of the upstream mirror',
      'cairn mirror status',
      'cairn mirror translate STREAM PARTITION OFFSET [--to-local] [--position] [--link LINK]',
    ]) {
      expect(usage).toContain(fragment)
    }
  })

  test('cli mirror - ages are shown to the second in at most two units', () => {
    expect([0, 250, 12_000, 90_000, 3_600_000 + 65_000, 3 * 86_400_000 + 4 * 3_600_000 + 5_000].map(formatAge)).toEqual(
      ['0s', '250ms', '12s', '1m30s', '1h1m', '3d4h'],
    )
  })
})
