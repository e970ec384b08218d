// Runs one client command against a broker: resolves the address, connects (with a short timeout), runs
// the tool, and turns every failure into a message on stderr and an exit code:
//   0  done;  1  broker or runtime error (`cairn: CAIRN_CODE: message`), broker unreachable;  2  bad usage.

import { open } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import { CairnClient, isBrokerError } from '../../src/client/index.ts'
import { defaultBroker, parseBroker, type ToolCommandLine } from './args.ts'
import { consume } from './consume.ts'
import { groups } from './groups.ts'
import { toolCredentials, type ToolContext, type ToolIO } from './io.ts'
import { mirror } from './mirror.ts'
import { produce } from './produce.ts'
import { reportError } from './report.ts'
import { status } from './status.ts'
import { streams } from './streams.ts'
import { UsageError } from './usage-error.ts'

export type { ToolIO } from './io.ts'

export function usageLine(message: string): string {
  return `cairn: ${message}\nRun "cairn --help" for usage.\n`
}

/** The broker to talk to: --broker, else CAIRN_BROKER, else 127.0.0.1:7883. Throws UsageError. */
export function resolveBroker(flag: string | undefined, env: ToolIO['env']): { host: string; port: number } {
  if (flag !== undefined) return parseBroker(flag, '--broker')
  const fromEnv = env.CAIRN_BROKER
  if (fromEnv !== undefined && fromEnv !== '') return parseBroker(fromEnv, 'CAIRN_BROKER')
  return parseBroker(defaultBroker, 'the default broker')
}

const formatHostPort = ({ host, port }: { host: string; port: number }) =>
  host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`

export async function runTool({ globals, command }: ToolCommandLine, io: ToolIO): Promise<number> {
  // The one tool that speaks HTTP rather than the native protocol.
  if (command.name === 'status') return await status(command, io, globals.timeoutMs, globals.json)
  let address
  try {
    address = resolveBroker(globals.broker, io.env)
    if (command.name === 'streams delete' && !command.yes && !io.stdinIsTTY) {
      throw new UsageError(
        `streams delete: not asking on a terminal, so --yes is required to delete "${command.stream}"`,
      )
    }
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    io.stderr.write(usageLine(error.message))
    return 2
  }

  let input: Readable = io.stdin
  let closeInput = async () => {}
  if (command.name === 'produce' && command.file !== undefined) {
    try {
      const handle = await open(command.file, 'r')
      input = handle.createReadStream()
      closeInput = () => handle.close().catch(() => {})
    } catch (error) {
      io.stderr.write(`cairn: cannot read ${command.file}: ${error instanceof Error ? error.message : String(error)}\n`)
      return 1
    }
  }

  const broker = formatHostPort(address)
  const client = new CairnClient({
    host: address.host,
    port: address.port,
    clientId: `cairn-cli-${command.name.split(' ')[0] ?? 'tool'}`,
    connectTimeoutMs: globals.timeoutMs,
    ...toolCredentials(io.env),
  })
  try {
    try {
      await client.connect()
    } catch (error) {
      const reason =
        error instanceof Error && error.cause instanceof Error ? error.cause.message : (error as Error).message
      const code = isBrokerError(error) ? error.code : 'CAIRN_CONNECTION_CLOSED'
      io.stderr.write(
        `cairn: ${code}: cannot reach the broker at ${broker} (${reason}); set --broker or CAIRN_BROKER\n`,
      )
      return 1
    }
    const context: ToolContext = { client, io, json: globals.json }
    switch (command.name) {
      case 'produce':
        return await produce(context, command, input)
      case 'consume':
        return await consume(context, command)
      case 'streams list':
      case 'streams create':
      case 'streams describe':
      case 'streams delete':
        return await streams(context, command)
      case 'groups list':
      case 'groups describe':
      case 'groups reset-offsets':
        return await groups(context, command)
      case 'mirror status':
      case 'mirror translate':
      case 'mirror resolve':
        return await mirror(context, command)
    }
  } catch (error) {
    reportError(io, error)
    return 1
  } finally {
    await closeInput()
    await client.close()
  }
}
