import type { OpName, OpRequest } from '../native/wire/ops.ts'
import type { AclResource } from './acl.ts'

/**
 * What a native operation needs, read from its validated body. A request is allowed only if every
 * resource it names is; a denied request fails whole with CAIRN_NOT_AUTHORIZED. Operations that
 * only list or describe the broker (metadata, listGroups, mirrorStatus, initProducer, txnBegin,
 * txnEnd) need an authenticated connection and nothing more: transactional records were checked
 * when they were produced.
 */
export function nativeOpResources(op: OpName, body: unknown): AclResource[] {
  switch (op) {
    case 'createStream':
    case 'alterStream':
    case 'deleteStream':
      return [stream((body as OpRequest<'createStream'>).name, 'admin')]
    case 'produce':
      return unique((body as OpRequest<'produce'>).batches.map((b) => stream(b.stream, 'produce')))
    case 'fetch':
    case 'listOffsets':
      return unique((body as OpRequest<'fetch'>).partitions.map((p) => stream(p.stream, 'consume')))
    case 'mirrorTranslate':
      return [stream((body as OpRequest<'mirrorTranslate'>).stream, 'consume')]
    case 'mirrorResolve':
      return [stream((body as OpRequest<'mirrorResolve'>).stream, 'admin')]
    case 'groupHeartbeat': {
      const b = body as OpRequest<'groupHeartbeat'>
      return [group(b.group, 'consume'), ...(b.streams ?? []).map((s) => stream(s, 'consume'))]
    }
    case 'offsetCommit':
    case 'txnAddOffsets':
    case 'offsetFetch':
    case 'describeGroup':
      return [group((body as { group: string }).group, 'consume')]
    case 'resetOffsets':
    case 'deleteGroup':
      return [group((body as { group: string }).group, 'admin')]
    case 'metadata':
    case 'listGroups':
    case 'mirrorStatus':
    case 'initProducer':
    case 'txnBegin':
    case 'txnEnd':
      return []
  }
}

function stream(name: string, action: 'produce' | 'consume' | 'admin'): AclResource {
  return { kind: 'stream', name, action }
}

function group(name: string, action: 'consume' | 'admin'): AclResource {
  return { kind: 'group', name, action }
}

function unique(resources: AclResource[]): AclResource[] {
  if (resources.length < 2) return resources
  const seen = new Set<string>()
  return resources.filter((r) => {
    const key = `${r.kind}\0${r.action}\0${r.name}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}
