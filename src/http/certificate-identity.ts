import type { IncomingMessage } from 'node:http'

// The gateway's HTTPS listener verifies client certificates (src/ owns no socket, so it cannot); it records the
// identity per connection here, and whatever authenticates a request reads it back. Keyed by the socket, so the
// requests of one keep-alive connection share it, and it goes away with the connection.
const identities = new WeakMap<object, string>()

/** Records the verified client certificate identity (CN or SAN) of an HTTPS connection. */
export function setCertificateIdentity(socket: object, identity: string): void {
  identities.set(socket, identity)
}

/** The verified client certificate identity of the connection a request came on; undefined: none. */
export function certificateIdentityOf(req: IncomingMessage): string | undefined {
  return identities.get(req.socket)
}
