import type { IncomingMessage } from 'node:http'
import { BrokerError } from '../errors.ts'
import type { AclResource } from './acl.ts'
import type { AuthFailureReason, Principal, SecurityPolicy } from './security-policy.ts'

/** Paths answered without credentials: supervisors and load balancers probe them. */
export const openHttpPaths: ReadonlySet<string> = new Set(['/healthz', '/readyz'])

export const basicChallenge = 'Basic realm="cairn", charset="UTF-8"'

interface ConnectionLogin {
  readonly authorization: string | undefined
  readonly certificateIdentity: string | undefined
  readonly generation: number
  readonly principal: Principal
}

// A keep-alive connection sends the same Authorization header with every request: its login (and the rules
// compiled for it) is kept per socket until the header changes or the users and ACLs are reloaded.
const logins = new WeakMap<object, ConnectionLogin>()

/**
 * Authenticates an HTTP request (Basic auth) and checks what its route needs. Returns the
 * principal (undefined for an open path); throws CAIRN_NOT_AUTHORIZED with HTTP status 401 when
 * credentials are missing or wrong, 403 when they are fine but the ACL denies, 429 when the source
 * is rate limited. Stream creation names its stream in the body: that handler checks it itself.
 */
export async function authorizeHttpRequest(
  policy: SecurityPolicy,
  req: IncomingMessage,
  route: { path: string; method: string; params: Readonly<Record<string, string>>; query: URLSearchParams },
  certificateIdentity: string | undefined,
): Promise<Principal | undefined> {
  if (openHttpPaths.has(route.path)) return undefined
  const authorization = req.headers.authorization
  const known = logins.get(req.socket)
  let principal: Principal
  if (
    known !== undefined &&
    known.authorization === authorization &&
    known.certificateIdentity === certificateIdentity &&
    known.generation === policy.generation
  ) {
    principal = known.principal
  } else {
    const credentials = parseBasic(authorization)
    const result = await policy.authenticate(
      { ...credentials, certificateIdentity },
      { protocol: 'http', remoteAddress: req.socket.remoteAddress },
    )
    if (!result.ok) throw httpAuthError(result.reason, credentials.username !== undefined)
    principal = result.principal
    logins.set(req.socket, { authorization, certificateIdentity, generation: policy.generation, principal })
  }
  for (const resource of httpRouteResources(route.path, route.method, route.params, route.query, req)) {
    principal.check(resource)
  }
  return principal
}

function httpAuthError(reason: AuthFailureReason, sentCredentials: boolean): BrokerError {
  switch (reason) {
    case 'rate-limited':
      return new BrokerError('CAIRN_AUTH_RATE_LIMITED', 'too many failed attempts from this address; try later')
    case 'bad-credentials':
      return new BrokerError('CAIRN_AUTH_FAILED', 'bad user name or password')
    case 'not-authorized':
      // No credentials where some are needed: 401 with a challenge, so a client knows to send them.
      return sentCredentials
        ? new BrokerError('CAIRN_NOT_AUTHORIZED', 'not authorized')
        : new BrokerError('CAIRN_NOT_AUTHORIZED', 'credentials are required (HTTP Basic)', {
            details: { httpStatus: 401 },
          })
  }
}

/** Credentials of an `Authorization: Basic` header; none when absent; a malformed one is wrong credentials. */
function parseBasic(header: string | undefined): { username?: string; password?: Buffer } {
  if (header === undefined) return {}
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header)
  const decoded = m === null ? undefined : Buffer.from(m[1] ?? '', 'base64')
  const colon = decoded === undefined ? -1 : decoded.indexOf(0x3a)
  if (decoded === undefined || colon < 0) return { username: '', password: Buffer.alloc(0) }
  return { username: decoded.subarray(0, colon).toString('utf8'), password: decoded.subarray(colon + 1) }
}

/**
 * What each route needs beyond authentication. Reads not named here (lists, status, metrics) need nothing
 * more; a write not named here fails closed: it needs `admin` on every stream (a rule `stream admin *`).
 * The mirror's resolve is such a write: it names its stream in the body and changes what goes upstream.
 */
export function httpRouteResources(
  path: string,
  method: string,
  params: Readonly<Record<string, string>>,
  query: URLSearchParams,
  req: IncomingMessage,
): AclResource[] {
  const stream = (name: string | undefined, action: 'produce' | 'consume' | 'admin'): AclResource[] =>
    name === undefined ? [] : [{ kind: 'stream', name, action }]
  const group = (name: string | undefined, action: 'consume' | 'admin'): AclResource[] =>
    name === undefined ? [] : [{ kind: 'group', name, action }]
  const m = method === 'HEAD' ? 'GET' : method
  switch (path) {
    case '/api/v1/topics/:topic/messages':
      return stream(params['topic'], 'produce')
    case '/api/v1/topics/:topic/partitions/:partition/messages': {
      const consumerGroup = req.headers['x-consumer-group']
      return [
        ...stream(params['topic'], 'consume'),
        ...group(typeof consumerGroup === 'string' ? consumerGroup : undefined, 'consume'),
      ]
    }
    case '/api/v1/streams/:name':
      return stream(params['name'], m === 'GET' ? 'consume' : 'admin')
    case '/api/v1/consumer-groups/:group':
      return group(params['group'], m === 'GET' ? 'consume' : 'admin')
    case '/api/v1/consumer-groups/:group/offsets':
      return group(params['group'], 'consume')
    case '/api/v1/consumer-groups/:group/reset-offsets':
      return group(params['group'], 'admin')
    case '/api/v1/mirror/translate':
      return stream(query.get('stream') ?? undefined, 'consume')
    case '/api/v1/streams':
      return [] // POST names its stream in the body: the handler checks `admin` on it
    default:
      return m === 'GET' ? [] : stream('*', 'admin')
  }
}
