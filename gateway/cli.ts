#!/usr/bin/env node
// cairn: the gateway's command line (`cairn serve`, `cairn --version`, `cairn --help`) and the client tools
// (`cairn produce|consume|streams|groups`, in tools/) that talk to a running broker.
//
// Exit codes, which supervisors and scripts rely on:
//   0  clean shutdown after SIGINT/SIGTERM (store closed and checkpointed), --version / --help, a tool's success
//   1  runtime failure: the log store cannot open, an uncaught error, a second signal during shutdown; a tool's
//      broker error (`cairn: CAIRN_CODE: message`) or an unreachable broker
//   2  bad usage or configuration: nothing was started; stderr names every problem

import { createInterface } from 'node:readline/promises'
import { ConfigErrors } from '../src/errors.ts'
import { loadConfig, parseCommandLine, usage, UsageError } from './config.ts'
import { serve, version } from './main.ts'
import type { ToolCommandLine } from './tools/args.ts'
import type { ToolIO } from './tools/run.ts'

async function main(argv: readonly string[]): Promise<number> {
  // Works on a file, not a broker: not one of the client tools.
  if (argv[0] === 'users') {
    const io = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr }
    // The tools (and the client library under them) are imported when run: `cairn serve` never needs them.
    const { runUsers } = await import('./tools/users.ts')
    return await runUsers(argv.slice(1), { ...io, stdinIsTTY: process.stdin.isTTY === true })
  }
  let commandLine
  try {
    commandLine = parseCommandLine(argv)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    process.stderr.write(`cairn: ${err.message}\nRun "cairn --help" for usage.\n`)
    return 2
  }

  switch (commandLine.command) {
    case 'version':
      process.stdout.write(`cairn ${version}\n`)
      return 0
    case 'help':
      process.stdout.write(usage)
      return 0
    case 'serve': {
      let config
      try {
        config = loadConfig(commandLine.flags)
      } catch (err) {
        if (!(err instanceof ConfigErrors)) throw err
        process.stderr.write(`cairn: ${err.message}\n`)
        return 2
      }
      return await serve(config, () => loadConfig(commandLine.flags))
    }
    case 'tool': {
      const { runTool } = await import('./tools/run.ts')
      return await runTool(commandLine.tool, processIO(commandLine.tool))
    }
  }
}

/** The real terminal, environment and signals for a client tool. */
function processIO(tool: ToolCommandLine): ToolIO {
  const controller = new AbortController()
  // consume stops on the first SIGINT/SIGTERM (commits, exits 0); a second one exits at once. Other tools keep
  // the default: a signal ends them.
  if (tool.command.name === 'consume') {
    const onSignal = () => {
      if (controller.signal.aborted) process.exit(1)
      controller.abort()
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  }
  return {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    stdinIsTTY: process.stdin.isTTY === true,
    stderrIsTTY: process.stderr.isTTY === true,
    env: process.env,
    signal: controller.signal,
    now: () => Date.now(),
    confirm: async (question) => {
      const terminal = createInterface({ input: process.stdin, output: process.stderr })
      try {
        return /^y(es)?$/i.test((await terminal.question(question)).trim())
      } finally {
        terminal.close()
      }
    },
  }
}

// Exit explicitly rather than waiting for the event loop to drain: a handle leaked by any component must not
// keep a stopped broker alive under a supervisor. No top-level await: the single binary runs this file bundled
// as CommonJS (scripts/build-binary.ts); a rejection is an uncaught error either way (exit code 1).
void main(process.argv.slice(2)).then((code) => process.exit(code))
