// What the soak runs against: the librdkafka mock (hosted by kcat), a fault proxy in front of it, and the
// real gateway process (`gateway/cli.ts serve`) on a fresh data dir, mirroring to the mock only through
// the proxy: the bootstrap is the proxy and the address the mock advertises is mapped to it, so a flap
// of the proxy is a flap of every connection the mirror has.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { startFaultProxy, type FaultProxy } from '../../test/helpers/fault-proxy.ts'
import { startKafkaMock, type KafkaMock } from '../../test/helpers/kafka-mock.ts'

const repoRoot = fileURLToPath(new URL('../..', import.meta.url))
const startTimeoutMs = 30_000
const stopTimeoutMs = 60_000

export interface GatewayProcess {
  readonly pid: number
  readonly mqttUrl: string
  readonly httpBase: string
  /** Log lines at warn (40) or above, counted by message. */
  readonly warnings: Map<string, number>
  /** The last lines of its stdout and stderr, for failure messages. */
  tail(): string
  /** SIGTERM and the exit code (null when killed by a signal). SIGKILL after a minute. */
  stop(): Promise<number | null>
}

export interface Stack {
  readonly mock: KafkaMock
  readonly proxy: FaultProxy
  readonly gateway: GatewayProcess
  readonly dataDir: string
  readonly configFile: string
  readonly gatewayId: string
  /** Stops what is still running and removes the data dir unless `keepData`. Idempotent. */
  close(keepData: boolean): Promise<void>
}

export interface StackOptions {
  gatewayId: string
  /** Mirror request timeout: short, so a blackholed link turns into uncertain sends and reconciliation. */
  requestTimeoutMs: number
  recoveryGraceMs: number
}

export async function startStack(o: StackOptions): Promise<Stack> {
  const mock = await startKafkaMock()
  const [host, port] = mock.bootstrap.split(',')[0]?.split(':') ?? []
  const proxy = await startFaultProxy({ host: host ?? '127.0.0.1', port: Number(port) })
  const dataDir = mkdtempSync(join(tmpdir(), 'cairn-soak-'))
  const configFile = join(dataDir, 'soak.yaml')
  // JSON is YAML: no quoting rules to get wrong for the addresses.
  const config = {
    mirror: {
      gatewayId: o.gatewayId,
      links: {
        upstream: {
          bootstrap: [proxy.address],
          brokerAddressMap: { [mock.bootstrap]: proxy.address },
          requestTimeoutMs: o.requestTimeoutMs,
          connectionTimeoutMs: 2000,
          recoveryGraceMs: o.recoveryGraceMs,
        },
      },
    },
  }
  writeFileSync(configFile, JSON.stringify(config, null, 2))
  let gateway: GatewayProcess
  try {
    gateway = await startGateway(join(dataDir, 'data'), configFile)
  } catch (error) {
    await proxy.close()
    await mock.stop()
    rmSync(dataDir, { recursive: true, force: true })
    throw error
  }
  let closed = false
  return {
    mock,
    proxy,
    gateway,
    dataDir,
    configFile,
    gatewayId: o.gatewayId,
    close: async (keepData) => {
      if (closed) return
      closed = true
      await gateway.stop()
      await proxy.close()
      await mock.stop()
      if (!keepData) rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

async function startGateway(dataDir: string, configFile: string): Promise<GatewayProcess> {
  // A CAIRN_* variable in the operator's shell must not change what the soak measures.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('CAIRN_')))
  const args = [
    ...[join(repoRoot, 'gateway', 'cli.ts'), 'serve', '--config', configFile, '--data-dir', dataDir],
    ...['--mqtt', '127.0.0.1:0', '--native', '127.0.0.1:0', '--http', '127.0.0.1:0'],
  ]
  const child: ChildProcess = spawn(process.execPath, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] })
  const tail: string[] = []
  const keep = (line: string): void => {
    tail.push(line)
    if (tail.length > 100) tail.shift()
  }
  const warnings = new Map<string, number>()
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)))
  let exitCode: number | null | undefined
  void exited.then((code) => (exitCode = code))
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => keep(chunk.trimEnd()))

  const served = await new Promise<Record<string, string>>((resolve, reject) => {
    let settled = false
    const timer = setTimeout(() => fail(`no "listening" line within ${startTimeoutMs} ms`), startTimeoutMs)
    const fail = (why: string): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      child.kill('SIGKILL')
      reject(new Error(`gateway: ${why}\n${tail.join('\n')}`))
    }
    void exited.then((code) => fail(`exited with ${code} before listening`))
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (text) => {
      let line: Record<string, unknown>
      try {
        line = JSON.parse(text) as Record<string, unknown>
      } catch {
        keep(text)
        return
      }
      if (typeof line['level'] === 'number' && line['level'] >= 40) {
        keep(text)
        const msg = String(line['msg'])
        warnings.set(msg, (warnings.get(msg) ?? 0) + 1)
      }
      if (line['msg'] === 'listening' && !settled) {
        settled = true
        clearTimeout(timer)
        resolve(line['served'] as Record<string, string>)
      }
    })
  })
  const portOf = (name: string): number => {
    const port = Number(/:(\d+)$/.exec(served[name] ?? '')?.[1])
    if (!(port > 0)) throw new Error(`gateway: no ${name} listener in ${JSON.stringify(served)}`)
    return port
  }
  return {
    pid: child.pid ?? -1,
    mqttUrl: `mqtt://127.0.0.1:${portOf('mqtt')}`,
    httpBase: `http://127.0.0.1:${portOf('http')}`,
    warnings,
    tail: () => tail.join('\n'),
    stop: async () => {
      if (exitCode !== undefined) return exitCode
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs)
      const code = await exited
      clearTimeout(timer)
      return code
    },
  }
}
