import { isBrokerError } from '../../src/client/index.ts'
import type { ToolIO } from './io.ts'

/** `cairn: CAIRN_CODE: message` for a broker (or client) error, `cairn: message` for anything else. */
export function errorLine(error: unknown): string {
  if (isBrokerError(error)) return `cairn: ${error.code}: ${error.message}\n`
  return `cairn: ${error instanceof Error ? error.message : String(error)}\n`
}

export function reportError(io: ToolIO, error: unknown): void {
  io.stderr.write(errorLine(error))
}
