// The upstream Kafka of the mirror tests: librdkafka's mock cluster, hosted by Debian's `kcat`
// (architecture.md decision 8; its limits are in mirror.md §A5). kcat is also the independent reader
// the tests use as their oracle for what arrived upstream: a client nobody here wrote.
import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'

/** In CI (.ci/run installs kcat) a missing kcat fails the tests instead of skipping them. */
const inCi = (process.env.CI ?? '') !== ''

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue
    try {
      accessSync(join(dir, name), constants.X_OK)
      return join(dir, name)
    } catch {
      // not here
    }
  }
  return undefined
}

export const kcatPath = findOnPath('kcat')

/**
 * For `describe.skipIf(kcat.skip)(…)`: skip when kcat is missing outside CI (the reason is in
 * `kcat.reason`); in CI run anyway, and `kcat.require()` (called by startKafkaMock) fails loudly.
 */
export const kcat = {
  skip: kcatPath === undefined && !inCi,
  reason: kcatPath === undefined ? 'kcat not found on PATH: apt-get install kcat (.ci/run installs it)' : '',
  require(): string {
    if (kcatPath === undefined) throw new Error('kcat not found on PATH: apt-get install kcat (.ci/run installs it)')
    return kcatPath
  },
}

export interface KafkaMock {
  /** `127.0.0.1:PORT[,…]`: the mock's brokers (they advertise these same addresses in Metadata). */
  readonly bootstrap: string
  /** The kcat process hosting the cluster. */
  readonly pid: number
  /** The last lines kcat printed (its `-d mock` debug log): for failure messages. */
  log(): string
  /** Kills kcat (SIGTERM, then SIGKILL) and waits for it: all data is gone. Idempotent. */
  stop(): Promise<void>
}

export interface KafkaMockOptions {
  /** `test.mock.num.brokers`; default 1. */
  brokers?: number
  /** `test.mock.broker.rtt` in ms (simulated latency); default none. */
  rttMs?: number
}

/**
 * Starts a mock cluster: `kcat -C -t boot -X test.mock.num.brokers=N -d mock -b localhost:1`. kcat
 * prints `Mock cluster … bootstrap.servers=127.0.0.1:PORT` on stderr and serves while it runs. Unknown
 * topics are auto-created with 4 partitions on a Metadata request; there is no DeleteTopics, so tests
 * use unique topic names.
 */
export async function startKafkaMock(options: KafkaMockOptions = {}): Promise<KafkaMock> {
  const command = kcat.require()
  const args = [
    '-C',
    '-t',
    'boot',
    '-X',
    `test.mock.num.brokers=${options.brokers ?? 1}`,
    '-d',
    'mock',
    '-b',
    'localhost:1',
  ]
  if (options.rttMs !== undefined) args.push('-X', `test.mock.broker.rtt=${options.rttMs}`)
  // stdout is ignored (nothing is produced to "boot"); stderr must be drained for as long as kcat runs,
  // or its debug log fills the pipe and the mock stalls.
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  const lines: string[] = []
  let partial = ''
  let exited = false
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true
      resolve()
    })
  })
  const bootstrap = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error('kcat printed no mock bootstrap line within 10 s')), 10_000)
    const fail = (error: Error): void => {
      clearTimeout(timer)
      child.kill('SIGKILL')
      reject(new Error(`${error.message}\n${lines.join('\n')}`))
    }
    const early = (code: number | null, signal: NodeJS.Signals | null): void =>
      fail(new Error(`kcat exited early (code ${code}, signal ${signal})`))
    child.once('error', fail)
    child.once('exit', early)
    child.stderr?.setEncoding('utf8')
    child.stderr?.on('data', (chunk: string) => {
      const text = partial + chunk
      const complete = text.split('\n')
      partial = complete.pop() ?? ''
      for (const line of complete) {
        lines.push(line)
        if (lines.length > 300) lines.shift()
        const match = /bootstrap\.servers=(\S+)/.exec(line) ?? /replaced with (\S+)/.exec(line)
        if (match?.[1] !== undefined) {
          clearTimeout(timer)
          child.off('exit', early)
          child.off('error', fail)
          resolve(match[1])
        }
      }
    })
  })
  child.on('error', () => undefined) // after start-up (kill of an exited process); exit is what counts
  const pid = child.pid ?? -1
  return {
    bootstrap,
    pid,
    log: () => lines.join('\n'),
    stop: async () => {
      if (exited) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
      await exit
      clearTimeout(timer)
    },
  }
}

export interface KcatRecord {
  offset: bigint
  /** CreateTime (ms). */
  timestamp: number
  key: Uint8Array | null
  value: Uint8Array | null
  /** In wire order; a null value is a header without value. */
  headers: Array<[string, Uint8Array | null]>
}

/**
 * Reads `topic[partition]` from `fromOffset` to the end (or `count` records) with kcat:
 * `kcat -C -b B -t T -p P -o O -e -J -q [-c count]`. kcat 1.7.1's JSON carries headers as a flat
 * `["name", "value", …]` array; it escapes only `"`, `\` and bytes below 0x20 and writes every other
 * byte raw (not valid UTF-8 in general), so the output is parsed as bytes: keys, values and header
 * values come back exactly.
 */
export async function kcatRead(
  bootstrap: string,
  topic: string,
  partition: number,
  fromOffset: bigint | number,
  count?: number,
): Promise<KcatRecord[]> {
  const args = ['-C', '-b', bootstrap, '-t', topic, '-p', String(partition), '-o', String(fromOffset), '-e', '-J', '-q']
  if (count !== undefined) args.push('-c', String(count))
  const { stdout, stderr, code } = await run(kcat.require(), args, 20_000)
  if (code !== 0) throw new Error(`kcat ${args.join(' ')} exited with ${code}: ${stderr}`)
  const records: KcatRecord[] = []
  let start = 0
  for (let i = 0; i <= stdout.length; i++) {
    if (i < stdout.length && stdout[i] !== 0x0a) continue
    if (i > start) records.push(toRecord(parseJsonBytes(stdout.subarray(start, i))))
    start = i + 1
  }
  return records
}

function toRecord(json: JsonValue): KcatRecord {
  if (!(json instanceof Map)) throw new Error('kcat -J line is not an object')
  const field = (name: string): JsonValue | undefined => json.get(name)
  const bytesOrNull = (value: JsonValue | undefined): Uint8Array | null => {
    if (value === null || value === undefined) return null
    if (value instanceof Uint8Array) return value
    throw new Error(`kcat -J: expected a string, got ${typeof value}`)
  }
  const offset = field('offset')
  const ts = field('ts')
  if (!(offset instanceof JsonNumber) || !(ts instanceof JsonNumber)) throw new Error('kcat -J line without offset/ts')
  const headers: Array<[string, Uint8Array | null]> = []
  const flat = field('headers')
  if (Array.isArray(flat)) {
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const name = bytesOrNull(flat[i])
      if (name === null) throw new Error('kcat -J: header without name')
      headers.push([Buffer.from(name).toString('utf8'), bytesOrNull(flat[i + 1])])
    }
  }
  return {
    offset: BigInt(offset.text),
    timestamp: Number(ts.text),
    key: bytesOrNull(field('key')),
    value: bytesOrNull(field('payload')),
    headers,
  }
}

function run(
  command: string,
  args: string[],
  timeoutMs: number,
): Promise<{ stdout: Buffer; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    let stderr = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${command} ${args.join(' ')} timed out after ${timeoutMs} ms: ${stderr}`))
    }, timeoutMs)
    child.stdout?.on('data', (chunk: Buffer) => out.push(chunk))
    child.stderr?.setEncoding('utf8')
    child.stderr?.on('data', (chunk: string) => (stderr += chunk))
    child.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ stdout: Buffer.concat(out), stderr, code })
    })
  })
}

// -------------------------------------------------------------------------------------------------
// A JSON parser over bytes: strings become the raw bytes they denote (escapes decoded, other bytes
// kept as they are), numbers keep their text (offsets are int64), objects become Maps.

class JsonNumber {
  readonly text: string
  constructor(text: string) {
    this.text = text
  }
}

type JsonValue = null | boolean | JsonNumber | Uint8Array | JsonValue[] | Map<string, JsonValue>

export function parseJsonBytes(input: Uint8Array): JsonValue {
  let at = 0
  const fail = (what: string): never => {
    throw new SyntaxError(`kcat JSON: ${what} at byte ${at}`)
  }
  const skipSpace = (): void => {
    while (at < input.length && (input[at] === 0x20 || input[at] === 0x09 || input[at] === 0x0a || input[at] === 0x0d))
      at++
  }
  const literal = (text: string, value: JsonValue): JsonValue => {
    for (let i = 0; i < text.length; i++) if (input[at + i] !== text.charCodeAt(i)) fail(`expected ${text}`)
    at += text.length
    return value
  }
  const string = (): Uint8Array => {
    at++ // opening quote
    const bytes: number[] = []
    for (;;) {
      if (at >= input.length) fail('unterminated string')
      const byte = input[at++] ?? fail('unterminated string')
      if (byte === 0x22) return Uint8Array.from(bytes)
      if (byte !== 0x5c) {
        bytes.push(byte)
        continue
      }
      const escape = String.fromCharCode(input[at++] ?? fail('unterminated escape'))
      const simple: Record<string, number> = {
        '"': 0x22,
        '\\': 0x5c,
        '/': 0x2f,
        b: 0x08,
        f: 0x0c,
        n: 0x0a,
        r: 0x0d,
        t: 0x09,
      }
      if (escape in simple) {
        bytes.push(simple[escape] ?? 0)
        continue
      }
      if (escape !== 'u') fail(`bad escape \\${escape}`)
      const code = Number.parseInt(Buffer.from(input.subarray(at, at + 4)).toString('latin1'), 16)
      if (Number.isNaN(code)) fail('bad \\u escape')
      at += 4
      // kcat escapes single bytes (< 0x20); anything larger would be a code point: write it as UTF-8.
      if (code < 0x80) bytes.push(code)
      else bytes.push(...Buffer.from(String.fromCharCode(code), 'utf8'))
    }
  }
  const value = (): JsonValue => {
    skipSpace()
    const byte = input[at]
    if (byte === 0x22) return string()
    if (byte === 0x7b) {
      at++
      const object = new Map<string, JsonValue>()
      skipSpace()
      if (input[at] === 0x7d) {
        at++
        return object
      }
      for (;;) {
        skipSpace()
        if (input[at] !== 0x22) fail('expected a key')
        const key = Buffer.from(string()).toString('utf8')
        skipSpace()
        if (input[at++] !== 0x3a) fail('expected :')
        object.set(key, value())
        skipSpace()
        const next = input[at++]
        if (next === 0x7d) return object
        if (next !== 0x2c) fail('expected , or }')
      }
    }
    if (byte === 0x5b) {
      at++
      const array: JsonValue[] = []
      skipSpace()
      if (input[at] === 0x5d) {
        at++
        return array
      }
      for (;;) {
        array.push(value())
        skipSpace()
        const next = input[at++]
        if (next === 0x5d) return array
        if (next !== 0x2c) fail('expected , or ]')
      }
    }
    if (byte === 0x6e) return literal('null', null)
    if (byte === 0x74) return literal('true', true)
    if (byte === 0x66) return literal('false', false)
    const start = at
    while (at < input.length && /[-+0-9.eE]/.test(String.fromCharCode(input[at] ?? 0))) at++
    if (at === start) fail('unexpected byte')
    return new JsonNumber(Buffer.from(input.subarray(start, at)).toString('latin1'))
  }
  const result = value()
  skipSpace()
  if (at !== input.length) fail('trailing bytes')
  return result
}
