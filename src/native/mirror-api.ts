import { BrokerError } from '../errors.ts'
import type { LinkStatus } from '../mirror/mirror-link.ts'
import type { ResolveRequest, ResolveResult, TranslateRequest, TranslateResult } from '../mirror/mirror.ts'

export type { LinkStatus, ResolveRequest, ResolveResult, TranslateRequest, TranslateResult }

/**
 * What the native protocol and the HTTP API need of the upstream mirror (src/mirror/mirror.ts):
 * its status per link, exact offset translation, and the operator's answers to stopped partitions. Mirror satisfies it; tests hand in a stand-in.
 * Without one (no `--mirror-to`), the mirror operations answer CAIRN_REQUEST_INVALID (noMirror()).
 */
export interface MirrorApi {
  status(): LinkStatus[]
  /** Throws CAIRN_OFFSET_NOT_MIRRORED when the record or partition has no image on the other side. */
  translate(request: TranslateRequest): TranslateResult
  /** Ends a stopped partition's state by an operator's action; CAIRN_REQUEST_INVALID when it does not apply. */
  resolve(request: ResolveRequest): Promise<ResolveResult>
}

/** The answer of a mirror operation on a broker without a mirror. */
export function noMirror(): BrokerError {
  return new BrokerError('CAIRN_REQUEST_INVALID', 'no mirror is configured (cairn serve --mirror-to ...)')
}
