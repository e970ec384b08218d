import { describe, expect, it } from 'vitest'
import { connectClient, connectRefused, uniqueId, versions } from '../mqtt/mqttjs/clients.ts'
import { findOnPath, findPythonWithPaho, recordsFor, startClient, toolCheck } from '../mqtt/clients/client-process.ts'
import { startSecureBroker } from './secure-broker.ts'

const acl = `
user alice
topic readwrite sensors/alice/#
topic read alerts/#
pattern write devices/%u/#
pattern read inbox/%c/#
`

async function broker(policy = {}) {
  const b = await startSecureBroker({ users: { alice: 'alice-pw', bob: 'bob-pw' }, acl, policy })
  return { ...b, url: `mqtt://127.0.0.1:${b.mqttPort}` }
}

describe.each(versions)('mqtt auth - MQTT.js v$v', ({ v }) => {
  const badCredentials = v === 5 ? 0x86 : 4
  const notAuthorized = v === 5 ? 0x87 : 5

  it('mqtt auth - right credentials connect; wrong ones and none are refused with their codes', async () => {
    const b = await broker()
    const ok = await connectClient(b.url, { protocolVersion: v, username: 'alice', password: 'alice-pw' })
    expect(v === 5 ? ok.connack.reasonCode : ok.connack.returnCode).toBe(0)
    expect(await connectRefused(b.url, { protocolVersion: v, username: 'alice', password: 'wrong' })).toBe(
      badCredentials,
    )
    expect(await connectRefused(b.url, { protocolVersion: v, username: 'nobody', password: 'alice-pw' })).toBe(
      badCredentials,
    )
    // Anonymous access is off because users exist.
    expect(await connectRefused(b.url, { protocolVersion: v })).toBe(notAuthorized)
  })

  it('mqtt auth - a denied publish is dropped and counted; v5 gets PUBACK 0x87, 3.1.1 a plain PUBACK', async () => {
    const b = await broker()
    const c = await connectClient(b.url, { protocolVersion: v, username: 'alice', password: 'alice-pw' })
    const denied = c.client.publishAsync('sensors/bob/t', 'x', { qos: 1 })
    if (v === 5) await expect(denied).rejects.toMatchObject({ code: 0x87 })
    else await denied
    await c.client.publishAsync('sensors/alice/t', 'kept', { qos: 1 })
    await c.client.publishAsync(`devices/alice/x`, 'pattern', { qos: 1 })
    expect(recordsFor(b.store, 'sensors/bob/t')).toHaveLength(0)
    expect(recordsFor(b.store, 'sensors/alice/t')).toHaveLength(1)
    expect(recordsFor(b.store, 'devices/alice/x')).toHaveLength(1)
    expect(b.mqtt.counters.publishesDenied).toBe(1)
    expect(c.closed).toBe(false)
  })

  it('mqtt auth - a denied subscription gets 0x87 (v5) / 0x80 (3.1.1); the allowed ones in the same SUBSCRIBE are granted', async () => {
    const b = await broker()
    const clientId = uniqueId('sub')
    const c = await connectClient(b.url, { protocolVersion: v, username: 'alice', password: 'alice-pw', clientId })
    // MQTT.js rejects a SUBACK with any failure code; the packet it carries has every code, in order.
    const suback = await c.client
      .subscribeAsync(
        {
          'sensors/alice/#': { qos: 1 },
          'sensors/#': { qos: 1 },
          [`inbox/${clientId}/+`]: { qos: 0 },
          '#': { qos: 0 },
        },
        {},
      )
      .then(
        () => undefined,
        (error: { packet?: { granted?: number[] } }) => error.packet,
      )
    expect(suback?.granted).toEqual([1, v === 5 ? 0x87 : 0x80, 0, v === 5 ? 0x87 : 0x80])
    expect(b.mqtt.counters.subscriptionsDenied).toBe(2)
    // The shared-subscription form is checked on its filter.
    const shared = await c.client.subscribeAsync('$share/g/alerts/+', { qos: 0 })
    expect(shared[0]?.qos).toBe(0)
  })

  it('mqtt auth - a will on a topic the client may not publish to is refused at CONNECT', async () => {
    const b = await broker()
    const will = { topic: 'sensors/bob/will', payload: Buffer.from('gone'), qos: 0 as const, retain: false }
    expect(await connectRefused(b.url, { protocolVersion: v, username: 'alice', password: 'alice-pw', will })).toBe(
      notAuthorized,
    )
  })
})

describe('mqtt auth - failed attempts', () => {
  it('mqtt auth - a source that keeps failing is refused for a while (v5 0x9F, 3.1.1 3), even with the right password', async () => {
    const b = await broker({ failedAttempts: { maxFailures: 3, windowMs: 60_000, blockMs: 60_000 } })
    for (let i = 0; i < 3; i++) {
      expect(await connectRefused(b.url, { protocolVersion: 5, username: 'alice', password: `guess-${i}` })).toBe(0x86)
    }
    expect(await connectRefused(b.url, { protocolVersion: 5, username: 'alice', password: 'alice-pw' })).toBe(0x9f)
    expect(await connectRefused(b.url, { protocolVersion: 4, username: 'alice', password: 'alice-pw' })).toBe(3)
  })
})

const mosquittoPub = findOnPath('mosquitto_pub')
const mosquittoSub = findOnPath('mosquitto_sub')
const mosquitto = toolCheck(
  mosquittoPub !== undefined && mosquittoSub !== undefined,
  'mosquitto_pub/mosquitto_sub not found (Debian package mosquitto-clients)',
)

describe.skipIf(mosquitto.skip)('mqtt auth - mosquitto clients', () => {
  const connect = (port: number, version: string, user?: string, password?: string) => [
    '-h',
    '127.0.0.1',
    '-p',
    String(port),
    '-V',
    version,
    ...(user === undefined ? [] : ['-u', user]),
    ...(password === undefined ? [] : ['-P', password]),
  ]

  it.each(['mqttv311', 'mqttv5'])(
    'mqtt auth - mosquitto_pub %s: wrong password and no user are refused',
    async (version) => {
      mosquitto.require()
      const b = await broker()
      const pub = (user?: string, password?: string) =>
        startClient(mosquittoPub as string, [
          ...connect(b.mqttPort, version, user, password),
          '-t',
          'sensors/alice/m',
          '-m',
          'x',
          '-q',
          '1',
        ]).finished()
      const wrong = await pub('alice', 'nope')
      expect(wrong.code).not.toBe(0)
      expect(wrong.stderr).toMatch(/bad user ?name or password/i)
      const anonymous = await pub()
      expect(anonymous.code).not.toBe(0)
      expect(anonymous.stderr).toMatch(/not authori[sz]ed/i)
      expect((await pub('alice', 'alice-pw')).code).toBe(0)
      expect(recordsFor(b.store, 'sensors/alice/m')).toHaveLength(1)
    },
  )

  it('mqtt auth - mosquitto_sub receives what its ACL allows and is told when a subscription is denied', async () => {
    mosquitto.require()
    const b = await broker()
    const denied = await startClient(mosquittoSub as string, [
      ...connect(b.mqttPort, 'mqttv5', 'alice', 'alice-pw'),
      '-t',
      'sensors/bob/#',
      '-C',
      '1',
      '-W',
      '5',
    ]).finished()
    // mosquitto_sub reads the SUBACK's failure codes, says so and exits.
    expect(denied.stderr).toContain('All subscription requests were denied.')
    expect(denied.stdout).toBe('')
    const sub = startClient(mosquittoSub as string, [
      ...connect(b.mqttPort, 'mqttv311', 'alice', 'alice-pw'),
      '-t',
      'alerts/#',
      '-C',
      '1',
      '-v',
    ])
    // Until SUBACK the publish could miss the subscription: wait for it in the broker's own view.
    await expect.poll(() => b.mqtt.sessions.size).toBe(1)
    await expect.poll(() => [...b.mqtt.sessions.values()][0]?.subscriptions.size ?? 0).toBe(1)
    const pub = await startClient(mosquittoPub as string, [
      ...connect(b.mqttPort, 'mqttv311', 'bob', 'bob-pw'),
      '-t',
      'alerts/fire',
      '-m',
      'hot',
      '-q',
      '1',
    ]).finished()
    // bob has no rules: publishing is silently dropped in 3.1.1, so nothing arrives...
    expect(pub.code).toBe(0)
    expect(recordsFor(b.store, 'alerts/fire')).toHaveLength(0)
    // ...until a rule lets him (reloaded live).
    const { writeFileSync } = await import('node:fs')
    writeFileSync(b.aclFile, `${acl}\nuser bob\ntopic write alerts/#\n`)
    await b.policy.reload()
    await startClient(mosquittoPub as string, [
      ...connect(b.mqttPort, 'mqttv311', 'bob', 'bob-pw'),
      '-t',
      'alerts/fire',
      '-m',
      'hot',
      '-q',
      '1',
    ]).succeeded()
    expect((await sub.succeeded()).stdout.trim()).toBe('alerts/fire hot')
  })
})

const python = findPythonWithPaho()
const paho = toolCheck(python !== undefined, 'python3 with paho-mqtt not found (Debian package python3-paho-mqtt)')

describe.skipIf(paho.skip)('mqtt auth - paho', () => {
  it('mqtt auth - paho sees return code 4 for a wrong password and 5 without credentials (3.1.1)', async () => {
    paho.require()
    const b = await broker()
    const script = `
import sys, threading
import paho.mqtt.client as mqtt
def attempt(user, password):
    done = threading.Event()
    result = {}
    try:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION1, client_id="paho-auth", protocol=mqtt.MQTTv311)
    except AttributeError:
        c = mqtt.Client(client_id="paho-auth", protocol=mqtt.MQTTv311)
    if user is not None:
        c.username_pw_set(user, password)
    def on_connect(client, userdata, flags, rc):
        result["rc"] = rc
        done.set()
    c.on_connect = on_connect
    c.connect("127.0.0.1", int(sys.argv[1]))
    c.loop_start()
    done.wait(10)
    c.loop_stop()
    return result.get("rc", -1)
print(attempt("alice", "wrong"), attempt(None, None), attempt("alice", "alice-pw"))
`
    const exit = await startClient(python as string, ['-c', script, String(b.mqttPort)]).succeeded()
    expect(exit.stdout.trim()).toBe('4 5 0')
  })
})
