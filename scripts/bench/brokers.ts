// The brokers compared side by side, each started in its own process and stopped by the harness:
//   cairn-fsync / cairn-os: `cairn serve` from the sources, the session stream `mqtt` at that durability;
//   mosquitto: Debian's 2.0, in memory, with the per-client queue unbounded so a slow subscriber loses nothing;
//   aedes: the npm broker, in memory (aedes-server.ts).
// Every broker listens on 127.0.0.1 only, on a port the OS picks, with a fresh data dir.

import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

export type BrokerName = 'cairn-fsync' | 'cairn-os' | 'mosquitto' | 'aedes'
export const allBrokers: readonly BrokerName[] = ['cairn-fsync', 'cairn-os', 'mosquitto', 'aedes']

export interface Broker {
  name: BrokerName
  child: ChildProcess
  pid: number
  port: number
  /** The native protocol port (Cairn only; 0 otherwise). */
  nativePort: number
  dir: string
}

export interface StartOptions {
  parentDir: string
  /** Extra node flags for Cairn, e.g. --cpu-prof. */
  nodeFlags?: readonly string[]
  /** Cairn's mqtt.maxInflightOut and mosquitto's max_inflight_messages. */
  inflightOut?: number
  /** Cairn only: runs on the empty data dir before the broker starts (e.g. to pre-fill the log). */
  prepare?: (dataDir: string) => Promise<void>
}

// CAIRN_BENCH_ROOT points at another copy of the sources (e.g. a snapshot of a commit); default: this tree.
export const cairnRoot = process.env.CAIRN_BENCH_ROOT ?? fileURLToPath(new URL('../..', import.meta.url))
const cli = join(cairnRoot, 'gateway', 'cli.ts')
const aedesServer = fileURLToPath(new URL('./aedes-server.ts', import.meta.url))
export const mosquittoBin = '/usr/sbin/mosquitto'

export function isCairn(name: BrokerName): boolean {
  return name.startsWith('cairn')
}

async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Resolves with the first stdout line `match` accepts; rejects if the process exits first. */
function awaitLine<T>(child: ChildProcess, what: string, match: (line: string) => T | undefined): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onExit = (code: number | null): void => reject(new Error(`${what} exited with ${code} before it was ready`))
    child.once('exit', onExit)
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
    lines.on('line', (line) => {
      const found = match(line)
      if (found === undefined) return
      child.off('exit', onExit)
      resolve(found)
    })
  })
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (child.exitCode !== null) throw new Error(`broker exited with ${child.exitCode}`)
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1')
      socket.once('connect', () => {
        socket.destroy()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`broker did not listen on ${port} within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

export async function startBroker(name: BrokerName, options: StartOptions): Promise<Broker> {
  const dir = mkdtempSync(join(options.parentDir, `cairn-bench-${name}-`))
  const inflight = options.inflightOut ?? 100
  if (isCairn(name)) {
    await options.prepare?.(join(dir, 'data'))
    const config = join(dir, 'cairn.yaml')
    writeFileSync(
      config,
      [
        `mqtt:`,
        `  maxInflightOut: ${inflight}`,
        `  sysIntervalMs: 0`,
        `streams:`,
        `  mqtt:`,
        `    durability: ${name === 'cairn-fsync' ? 'fsync' : 'os'}`,
        `    subjects: ['#']`,
        ``,
      ].join('\n'),
    )
    const child = spawn(
      process.execPath,
      [
        ...(options.nodeFlags ?? []),
        cli,
        'serve',
        '--config',
        config,
        '--data-dir',
        join(dir, 'data'),
        '--mqtt',
        '127.0.0.1:0',
        '--native',
        '127.0.0.1:0',
        '--http',
        'off',
        '--log-level',
        'info',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'], cwd: dir },
    )
    const served = await awaitLine(child, name, (line) => {
      const parsed = JSON.parse(line) as { msg?: string; served?: { mqtt?: string; native?: string } }
      return parsed.msg === 'listening' ? parsed.served : undefined
    })
    const portOf = (address: string | undefined): number => Number(/:(\d+)$/.exec(address ?? '')?.[1] ?? 0)
    return {
      name,
      child,
      pid: child.pid ?? 0,
      port: portOf(served.mqtt),
      nativePort: portOf(served.native),
      dir,
    }
  }
  if (name === 'mosquitto') {
    const port = await freePort()
    const config = join(dir, 'mosquitto.conf')
    writeFileSync(
      config,
      [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence false',
        // The default (1000) drops QoS 1 messages to a subscriber that falls behind; unbounded keeps every one.
        'max_queued_messages 0',
        'max_queued_bytes 0',
        `max_inflight_messages ${inflight}`,
        'log_dest none',
        '',
      ].join('\n'),
    )
    const child = spawn(mosquittoBin, ['-c', config], { stdio: ['ignore', 'ignore', 'inherit'] })
    await waitForPort(port, child, 5000)
    return { name, child, pid: child.pid ?? 0, port, nativePort: 0, dir }
  }
  const child = spawn(process.execPath, [aedesServer], { stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await awaitLine(child, name, (line) => {
    const found = /^listening (\d+)$/.exec(line)
    return found === null ? undefined : Number(found[1])
  })
  return { name, child, pid: child.pid ?? 0, port, nativePort: 0, dir }
}

export async function stopBroker(broker: Broker): Promise<void> {
  if (broker.child.exitCode === null && broker.child.signalCode === null) {
    const exited = new Promise((resolve) => broker.child.once('exit', resolve))
    broker.child.kill('SIGTERM')
    const timer = setTimeout(() => broker.child.kill('SIGKILL'), 20_000)
    await exited
    clearTimeout(timer)
  }
  rmSync(broker.dir, { recursive: true, force: true })
}

/** Resident set size of a process in bytes, from /proc. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) * 1024
}

const clockTicksPerSec = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100

/** User + system CPU time of a process in seconds, from /proc. */
export function cpuSec(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // The command name may hold spaces; the fields that follow it are fixed.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / clockTicksPerSec
}

export function versions(): Array<[string, string]> {
  // `mosquitto -h` exits with status 3, so its output is read without checking the status.
  const mosquitto = /mosquitto version (\S+)/.exec(spawnSync(mosquittoBin, ['-h'], { encoding: 'utf8' }).stdout)
  const aedesPkg = JSON.parse(
    readFileSync(fileURLToPath(new URL('../../node_modules/aedes/package.json', import.meta.url)), 'utf8'),
  ) as { version: string }
  const cairnPkg = JSON.parse(readFileSync(join(cairnRoot, 'package.json'), 'utf8')) as { version: string }
  return [
    ['cairn', `${cairnPkg.version} (sources in ${cairnRoot}, node ${process.version})`],
    ['mosquitto', mosquitto?.[1] ?? 'unknown'],
    ['aedes', `${aedesPkg.version} (in memory, node ${process.version})`],
  ]
}
