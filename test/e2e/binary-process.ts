// The single executable as a child process, followed like test/gateway/cairn-process.ts's startCairn (so
// servedPorts, byMsg and stopCairn work on it), but any command, working directory and a clean environment:
// nothing from the developer's shell or from this repository may help the binary run.

import { spawn } from 'node:child_process'
import { watchCairn, type Cairn } from '../gateway/cairn-process.ts'

export function startBinary(binary: string, args: string[], cwd: string, env: Record<string, string> = {}): Cairn {
  // PATH only: no NODE_PATH, NODE_OPTIONS or CAIRN_* from the shell.
  return watchCairn(spawn(binary, args, { cwd, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } }))
}
