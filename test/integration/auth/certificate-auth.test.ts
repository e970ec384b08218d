// Certificate identities (what a TLS listener passes for a verified client certificate) as users and in ACLs, on
// every protocol. The TLS handshake itself is the listeners' (gateway/listeners.ts); here the identity is handed
// to the front ends as a listener hands it.

import { describe, expect, it } from 'vitest'
import { CairnClient } from '../../../src/client/index.ts'
import { connectClient, connectRefused } from '../mqtt/mqttjs/clients.ts'
import { recordsFor } from '../mqtt/clients/client-process.ts'
import { startSecureBroker } from './secure-broker.ts'

const acl = `
cert device-17
topic write devices/17/#
stream produce telemetry
pattern write by-user/%u/#
`

describe('certificate identity', () => {
  it('cert auth - with useIdentityAsUsername a client without credentials is its certificate identity', async () => {
    const b = await startSecureBroker({
      users: { alice: 'a' },
      acl,
      certificateIdentity: 'device-17',
      policy: { useIdentityAsUsername: true },
    })
    b.store.createStream('telemetry', { partitions: 1 })
    const url = `mqtt://127.0.0.1:${b.mqttPort}`
    const device = await connectClient(url, { protocolVersion: 5 })
    await device.client.publishAsync('devices/17/temp', '20', { qos: 1 })
    await device.client.publishAsync('by-user/device-17/x', '1', { qos: 1 }) // %u is the identity
    await expect(device.client.publishAsync('devices/18/temp', '20', { qos: 1 })).rejects.toMatchObject({ code: 0x87 })
    expect(recordsFor(b.store, 'devices/17/temp')).toHaveLength(1)

    const native = new CairnClient({ host: '127.0.0.1', port: b.nativePort })
    try {
      await native.request('produce', {
        acks: 1,
        batches: [{ stream: 'telemetry', records: [{ value: Buffer.from('x') }] }],
      })
      await expect(
        native.request('produce', { acks: 1, batches: [{ stream: 'mqtt', records: [{ value: Buffer.from('x') }] }] }),
      ).rejects.toMatchObject({ code: 'CAIRN_NOT_AUTHORIZED' })
    } finally {
      await native.close()
    }
    const http = `http://127.0.0.1:${b.httpPort}`
    expect((await fetch(`${http}/api/v1/topics/telemetry/messages`, { method: 'POST', body: 'x' })).status).toBe(200)
    expect((await fetch(`${http}/api/v1/topics/mqtt/messages`, { method: 'POST', body: 'x' })).status).toBe(403)
  })

  it('cert auth - a logged-in user on a connection with a certificate gets its own rules and the certificate rules', async () => {
    const b = await startSecureBroker({ users: { alice: 'a' }, acl, certificateIdentity: 'device-17' })
    const url = `mqtt://127.0.0.1:${b.mqttPort}`
    // Without useIdentityAsUsername a certificate alone does not log in.
    expect(await connectRefused(url, { protocolVersion: 4 })).toBe(5)
    const alice = await connectClient(url, { protocolVersion: 5, username: 'alice', password: 'a' })
    await alice.client.publishAsync('devices/17/temp', '20', { qos: 1 })
    await alice.client.publishAsync('by-user/alice/x', '1', { qos: 1 })
    await expect(alice.client.publishAsync('by-user/device-17/x', '1', { qos: 1 })).rejects.toMatchObject({
      code: 0x87,
    })
  })
})
