import type { Authenticator } from '../mqtt/mqtt-front-end.ts'
import type { SecurityPolicy } from './security-policy.ts'

/** The MQTT front end's CONNECT hook, answered by a security policy. */
export function mqttAuthenticator(policy: SecurityPolicy): Authenticator {
  return async (request) => {
    const result = await policy.authenticate(
      {
        username: request.username,
        password: request.password,
        clientId: request.clientId,
        certificateIdentity: request.certificateIdentity,
      },
      { protocol: 'mqtt', remoteAddress: request.remoteAddress },
    )
    return result.ok ? { ok: true, principal: result.principal } : result
  }
}
