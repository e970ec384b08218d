// The single executable as a child process, with the same interface as test/gateway/cairn-process.ts's
// startCairn (so servedPorts, byMsg and stopCairn work on it), but any command, working directory and a
// clean environment: nothing from the developer's shell or from this repository may help the binary run.

import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { onTestFinished } from 'vitest'
import type { Cairn, LogLine } from '../gateway/cairn-process.ts'

const waitMs = 30_000

export function startBinary(binary: string, args: string[], cwd: string, env: Record<string, string> = {}): Cairn {
  // PATH only: no NODE_PATH, NODE_OPTIONS or CAIRN_* from the shell.
  const child = spawn(binary, args, { cwd, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } })
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  const lines: LogLine[] = []
  const waiters = new Set<() => void>()
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  createInterface({ input: child.stdout }).on('line', (text) => {
    try {
      lines.push(JSON.parse(text) as LogLine)
    } catch {
      lines.push({ raw: text })
    }
    for (const wake of waiters) wake()
  })
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
          done(() => reject(new Error(`binary exited before the expected line; stderr: ${stderr}; got ${dump()}`)))
        }
      }
      const timer = setTimeout(
        () => done(() => reject(new Error(`no matching line within ${waitMs} ms; got ${dump()}`))),
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
  const dump = () => JSON.stringify(lines)
  return { child, lines, stderr: () => stderr, waitForLine, exited }
}
