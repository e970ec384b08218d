// What a client tool touches of the outside world, injected so tests run tools in-process.

import type { Readable, Writable } from 'node:stream'
import type { CairnClient } from '../../src/client/index.ts'

export interface ToolIO {
  stdin: Readable
  stdout: Writable
  stderr: Writable
  stdinIsTTY: boolean
  /** A progress bar is drawn only on a terminal. */
  stderrIsTTY: boolean
  /** The environment (CAIRN_BROKER). */
  env: Readonly<Record<string, string | undefined>>
  /** Aborted on SIGINT or SIGTERM: `consume --follow` then commits and exits 0. */
  signal: AbortSignal
  now: () => number
  /** Asks a yes/no question on the terminal (only called when stdinIsTTY). */
  confirm: (question: string) => Promise<boolean>
}

export interface ToolContext {
  client: CairnClient
  io: ToolIO
  json: boolean
}

/** Writes and waits when the stream asks for it (a slow pipe or file must not buffer without bound). */
export async function write(out: Writable, chunk: string | Uint8Array): Promise<void> {
  if (out.write(chunk)) return
  await new Promise<void>((resolve, reject) => {
    const done = (error?: Error) => {
      out.off('drain', onDrain)
      out.off('error', done)
      out.off('close', onClose)
      if (error === undefined) resolve()
      else reject(error)
    }
    const onDrain = () => done()
    const onClose = () => done(new Error('the output was closed'))
    out.once('drain', onDrain)
    out.once('error', done)
    out.once('close', onClose)
  })
}

/**
 * The user the tools log in as: CAIRN_USERNAME and CAIRN_PASSWORD (environment only: a password on the
 * command line would show in `ps` and shell history). None: anonymous.
 */
export function toolCredentials(env: ToolIO['env']): { username?: string; password?: string } {
  const username = env.CAIRN_USERNAME
  if (username === undefined || username === '') return {}
  return { username, password: env.CAIRN_PASSWORD ?? '' }
}
