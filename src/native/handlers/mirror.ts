import { noMirror, type MirrorApi, type ResolveRequest, type TranslateRequest } from '../mirror-api.ts'
import type { NativeFrontEnd } from '../native-front-end.ts'
import type { Handler } from './index.ts'

// The upstream mirror's status and offset translation (mirror.md B9, B11). Both answer
// CAIRN_REQUEST_INVALID on a broker that runs without a mirror.

function mirrorOf(frontEnd: NativeFrontEnd): MirrorApi {
  if (frontEnd.mirror === undefined) throw noMirror()
  return frontEnd.mirror
}

/** Every link: its state and last error, and per mirrored partition its cursor, lag and gaps. */
export const handleMirrorStatus: Handler<'mirrorStatus'> = ({ frontEnd }) => ({ links: mirrorOf(frontEnd).status() })

/** One offset or consumer position, local → upstream or back; CAIRN_OFFSET_NOT_MIRRORED when there is no image. */
export const handleMirrorTranslate: Handler<'mirrorTranslate'> = ({ frontEnd }, body) => {
  const request: TranslateRequest = {
    stream: body.stream,
    partition: body.partition,
    kind: body.kind,
    direction: body.direction,
    offset: body.offset,
  }
  if (body.link !== undefined) request.link = body.link
  return mirrorOf(frontEnd).translate(request)
}

/** An operator's answer to a partition the mirror stopped; CAIRN_REQUEST_INVALID when the action does not apply. */
export const handleMirrorResolve: Handler<'mirrorResolve'> = async ({ frontEnd }, body) => {
  const request: ResolveRequest = { stream: body.stream, partition: body.partition, action: body.action }
  if (body.link !== undefined) request.link = body.link
  return await mirrorOf(frontEnd).resolve(request)
}
