// Runs the real `cairn` entry point as a child process and follows its JSON log lines.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { expect, onTestFinished } from 'vitest'

// These tests run the real entry point with the Node that runs vitest (Node 24 under `npx vitest`).
export const repoRoot = fileURLToPath(new URL('../..', import.meta.url))
const cli = join(repoRoot, 'gateway', 'cli.ts')
const waitMs = 30_000

export type LogLine = Record<string, unknown> & { msg?: string; level?: number; raw?: string }

export interface Cairn {
  child: ChildProcess
  lines: LogLine[]
  stderr: () => string
  /** Resolves with the first log line (already seen or still to come) that matches. */
  waitForLine: (predicate: (line: LogLine) => boolean) => Promise<LogLine>
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

export function startCairn(args: string[], env: Record<string, string> = {}): Cairn {
  // A CAIRN_* variable in the developer's shell must not change what the test sees.
  const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('CAIRN_')))
  return watchCairn(spawn(process.execPath, [cli, ...args], { cwd: repoRoot, env: { ...baseEnv, ...env } }))
}

/** Follows a spawned broker (from the sources or the single binary): its JSON log lines, stderr and exit. */
export function watchCairn(child: ChildProcess): Cairn {
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  const lines: LogLine[] = []
  const waiters = new Set<() => void>()
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  if (child.stdout !== null) {
    createInterface({ input: child.stdout }).on('line', (text) => {
      // Anything that is not a JSON line is kept as `raw` so an assertion shows it instead of a parse crash.
      try {
        lines.push(JSON.parse(text) as LogLine)
      } catch {
        lines.push({ raw: text })
      }
      for (const wake of waiters) wake()
    })
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => {
      for (const wake of waiters) wake()
      resolve({ code, signal })
    })
  })

  const waitForLine = (predicate: (line: LogLine) => boolean) =>
    new Promise<LogLine>((resolve, reject) => {
      const check = () => {
        const found = lines.find(predicate)
        if (found !== undefined) return done(() => resolve(found))
        if (child.exitCode !== null || child.signalCode !== null) {
          done(() =>
            reject(new Error(`cairn exited before the expected line; stderr: ${stderr}; got ${JSON.stringify(lines)}`)),
          )
        }
      }
      const timer = setTimeout(
        () => done(() => reject(new Error(`no matching line within ${waitMs} ms; got ${JSON.stringify(lines)}`))),
        waitMs,
      )
      const done = (settle: () => void) => {
        clearTimeout(timer)
        waiters.delete(check)
        settle()
      }
      waiters.add(check)
      check()
    })

  return { child, lines, stderr: () => stderr, waitForLine, exited }
}

/** Runs a command that is expected to exit by itself. */
export async function runToExit(args: string[], env: Record<string, string> = {}) {
  const cairn = startCairn(args, env)
  const { code, signal } = await cairn.exited
  return { code, signal, stderr: cairn.stderr(), stdout: cairn.lines.map((line) => line.raw ?? JSON.stringify(line)) }
}

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-cli-'))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export const byMsg = (msg: string) => (line: LogLine) => line.msg === msg

/** Waits for the readiness line and returns each served listener's bound port. */
export async function servedPorts(cairn: Cairn): Promise<Record<string, number>> {
  const listening = await cairn.waitForLine(byMsg('listening'))
  const served = listening.served as Record<string, string>
  return Object.fromEntries(
    Object.entries(served).map(([name, address]) => {
      const port = Number(/:(\d+)$/.exec(address)?.[1])
      expect(port, `${name} is bound to a real port (${address})`).toBeGreaterThan(0)
      return [name, port]
    }),
  )
}

/** SIGTERM, then the exit status. */
export async function stopCairn(cairn: Cairn) {
  cairn.child.kill('SIGTERM')
  return await cairn.exited
}

export interface Certificate {
  certFile: string
  keyFile: string
  cert: Buffer
}

/** A self-signed certificate for localhost and 127.0.0.1, made with the machine's openssl. */
export function selfSignedCertificate(dir: string, name = 'server'): Certificate {
  const certFile = join(dir, `${name}.crt`)
  const keyFile = join(dir, `${name}.key`)
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1'],
      ...['-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', keyFile, '-out', certFile],
    ],
    { stdio: 'pipe' },
  )
  return { certFile, keyFile, cert: readFileSync(certFile) }
}
