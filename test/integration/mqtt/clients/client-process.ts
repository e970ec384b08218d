// Runs third-party MQTT client programs (mosquitto_pub/mosquitto_sub, python3 + paho-mqtt) as child
// processes: waits on their output and exit, with timeouts, and kills whatever is left when the test ends.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'
import { onTestFinished } from 'vitest'
import type { LogStore } from '../../../../src/log/log-store.ts'
import type { LogRecord } from '../../../../src/log/types.ts'

/** In CI (.ci/run installs the Debian packages) a missing client fails the tests instead of skipping them. */
export const inCi = (process.env.CI ?? '') !== ''

/** The absolute path of an executable found on PATH, or undefined. */
export function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not here
    }
  }
  return undefined
}

/**
 * A python3 that can import paho.mqtt: the Debian one first (python3-paho-mqtt installs for it, and
 * a python3 earlier on PATH, e.g. pyenv, may not see it), then whatever python3 is on PATH.
 */
export function findPythonWithPaho(): string | undefined {
  for (const python of ['/usr/bin/python3', findOnPath('python3')]) {
    if (python === undefined) continue
    const probe = spawnSync(python, ['-c', 'import paho.mqtt.client'], { stdio: 'ignore', timeout: 20_000 })
    if (probe.error === undefined && probe.status === 0) return python
  }
  return undefined
}

/**
 * What a describe block needs to decide: skip when a tool is missing outside CI; in CI run anyway and
 * fail each test with `missingMessage` (so a broken .ci/run is loud).
 */
export function toolCheck(available: boolean, missingMessage: string): { skip: boolean; require: () => void } {
  return {
    skip: !available && !inCi,
    require: () => {
      if (!available) throw new Error(missingMessage)
    },
  }
}

export interface ClientExit {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

interface OutputWaiter {
  pattern: RegExp
  resolve: (match: RegExpMatchArray) => void
}

/** A running client program. Its stdout and stderr are collected as they arrive. */
export class ClientProcess {
  readonly child: ChildProcess
  readonly command: string
  stdout = ''
  stderr = ''
  #exit: ClientExit | undefined
  readonly #exited: Promise<ClientExit>
  #waiters: OutputWaiter[] = []

  constructor(command: string, args: readonly string[], input?: string | Buffer) {
    this.command = [command, ...args].join(' ')
    this.child = spawn(command, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] })
    if (input !== undefined) this.child.stdin?.end(input)
    this.child.stdout?.setEncoding('utf8')
    this.child.stderr?.setEncoding('utf8')
    this.child.stdout?.on('data', (chunk: string) => {
      this.stdout += chunk
      this.#checkWaiters()
    })
    this.child.stderr?.on('data', (chunk: string) => (this.stderr += chunk))
    this.#exited = new Promise((resolve, reject) => {
      this.child.once('error', reject)
      // 'close', not 'exit': all output has been read by then.
      this.child.once('close', (code, signal) => {
        this.#exit = { code, signal, stdout: this.stdout, stderr: this.stderr }
        resolve(this.#exit)
      })
    })
    // Observed here so that a spawn failure awaited later is not reported as unhandled first.
    this.#exited.catch(() => undefined)
  }

  get exited(): boolean {
    return this.#exit !== undefined
  }

  /** Resolves with the first match of `pattern` in stdout (already there, or when it arrives). */
  waitForOutput(pattern: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
    const found = pattern.exec(this.stdout)
    if (found !== null) return Promise.resolve(found)
    return new Promise((resolve, reject) => {
      const waiter: OutputWaiter = {
        pattern,
        resolve: (match) => {
          clearTimeout(timer)
          resolve(match)
        },
      }
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter)
        reject(new Error(`${this.describe()}: no output matching ${String(pattern)} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.#waiters.push(waiter)
      // A process that ends without printing it fails the wait at once.
      this.#exited.then(
        () => {
          if (!this.#waiters.includes(waiter)) return
          this.#waiters = this.#waiters.filter((w) => w !== waiter)
          clearTimeout(timer)
          reject(new Error(`${this.describe()}: exited without output matching ${String(pattern)}`))
        },
        (error: unknown) => {
          clearTimeout(timer)
          reject(error instanceof Error ? error : new Error(String(error)))
        },
      )
    })
  }

  /** Resolves when the process has exited; past `timeoutMs` it is killed and the wait fails. */
  async finished(timeoutMs = 30_000): Promise<ClientExit> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.kill('SIGKILL')
        reject(new Error(`${this.describe()}: still running after ${timeoutMs} ms`))
      }, timeoutMs)
    })
    try {
      return await Promise.race([this.#exited, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Like finished(), and fails unless the exit status is 0. */
  async succeeded(timeoutMs = 30_000): Promise<ClientExit> {
    const exit = await this.finished(timeoutMs)
    if (exit.code !== 0) {
      throw new Error(
        `${this.describe()}: exit ${exit.code ?? exit.signal}\nstderr: ${exit.stderr}\nstdout: ${exit.stdout}`,
      )
    }
    return exit
  }

  kill(signal: NodeJS.Signals): void {
    if (this.#exit === undefined) this.child.kill(signal)
  }

  describe(): string {
    return `\`${this.command}\``
  }

  #checkWaiters(): void {
    for (const waiter of [...this.#waiters]) {
      const match = waiter.pattern.exec(this.stdout)
      if (match === null) continue
      this.#waiters = this.#waiters.filter((w) => w !== waiter)
      waiter.resolve(match)
    }
  }
}

/** Starts a client program; it is killed (SIGKILL) if still running when the test finishes. */
export function startClient(command: string, args: readonly string[], input?: string | Buffer): ClientProcess {
  const client = new ClientProcess(command, args, input)
  onTestFinished(async () => {
    if (client.exited) return
    client.kill('SIGKILL')
    await client.finished(5_000).catch(() => undefined)
  })
  return client
}

/** Runs a client program to completion and fails unless it exits with status 0. */
export function runClient(
  command: string,
  args: readonly string[],
  input?: string | Buffer,
  timeoutMs = 30_000,
): Promise<ClientExit> {
  return startClient(command, args, input).succeeded(timeoutMs)
}

/** Every record of `stream`, all partitions, in offset order within each partition. */
export function readAll(store: LogStore, stream = 'mqtt'): LogRecord[] {
  const records: LogRecord[] = []
  for (let partition = 0; partition < store.partitionCount(stream); partition++) {
    let offset = store.earliestOffset(stream, partition)
    for (;;) {
      const result = store.read(stream, partition, offset)
      records.push(...result.records)
      if (result.nextOffset >= result.logEndOffset || result.records.length === 0) break
      offset = result.nextOffset
    }
  }
  return records
}

const decoder = new TextDecoder()

/** The records kept for MQTT topic `topic` (the record key). */
export function recordsFor(store: LogStore, topic: string): LogRecord[] {
  return readAll(store).filter((r) => r.key !== null && decoder.decode(r.key) === topic)
}

export function utf8(bytes: Uint8Array | null): string | null {
  return bytes === null ? null : decoder.decode(bytes)
}
