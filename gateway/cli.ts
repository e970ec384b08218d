#!/usr/bin/env node
// cairn: the gateway's command line (`cairn serve`, `cairn --version`, `cairn --help`).
//
// Exit codes, which supervisors and scripts rely on:
//   0  clean shutdown after SIGINT/SIGTERM (store closed and checkpointed), or --version / --help
//   1  runtime failure: the log store cannot open, an uncaught error, a second signal during shutdown
//   2  bad usage or configuration: nothing was started; stderr names every problem

import { ConfigErrors } from '../src/errors.ts'
import { loadConfig, parseCommandLine, usage, UsageError } from './config.ts'
import { serve, version } from './main.ts'

async function main(argv: readonly string[]): Promise<number> {
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
      return await serve(config)
    }
  }
}

// Exit explicitly rather than waiting for the event loop to drain: a handle leaked by any component must not
// keep a stopped broker alive under a supervisor.
process.exit(await main(process.argv.slice(2)))
