// The broker driven by Eclipse Mosquitto's command-line clients (Debian package mosquitto-clients):
// a client library nobody here wrote, in C, for 3.1.1 (its default and -V mqttv311) and -V mqttv5.
//
// Subscribers run with -d under `stdbuf -oL` so that "received SUBACK" reaches us the moment it is
// printed: publishing starts only once the subscription is in place, never after a sleep.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeEach, describe, expect, it, onTestFinished } from 'vitest'
import { startMqttBroker, type MqttBroker } from '../../../helpers/mqtt-broker.ts'
import { FakeClock } from '../../../helpers/fake-clock.ts'
import {
  findOnPath,
  recordsFor,
  runClient,
  startClient,
  toolCheck,
  utf8,
  type ClientExit,
  type ClientProcess,
} from './client-process.ts'

const mosquittoSub = findOnPath('mosquitto_sub')
const mosquittoPub = findOnPath('mosquitto_pub')
const stdbuf = findOnPath('stdbuf')
const tools = toolCheck(
  mosquittoSub !== undefined && mosquittoPub !== undefined && stdbuf !== undefined,
  'mosquitto_sub, mosquitto_pub or stdbuf not found: install the Debian packages mosquitto-clients and coreutils (.ci/run installs them)',
)

type Version = 'default' | 'mqttv311' | 'mqttv5'
const versions: Array<{ version: Version }> = [{ version: 'default' }, { version: 'mqttv311' }, { version: 'mqttv5' }]

/** One line per message; the payload comes last so that it may contain the separator. */
const messageFormat = 'MSG|%t|%q|%r|%E|%C|%R|%D|%F|%S|%P|%p'

interface Message {
  topic: string
  qos: string
  retain: string
  expiry: string
  contentType: string
  responseTopic: string
  correlationData: string
  payloadFormat: string
  subscriptionId: string
  userProperties: string
  payload: string
}

function versionArgs(version: Version): string[] {
  return version === 'default' ? [] : ['-V', version]
}

function connectArgs(broker: MqttBroker, version: Version): string[] {
  return ['-h', '127.0.0.1', '-p', String(broker.port), ...versionArgs(version)]
}

/** The messages a subscriber printed with messageFormat, in order. */
function messagesOf(output: string): Message[] {
  const messages: Message[] = []
  for (const line of output.split('\n')) {
    if (!line.startsWith('MSG|')) continue
    const fields = line.split('|')
    const [, topic = '', qos = '', retain = '', expiry = '', contentType = '', responseTopic = ''] = fields
    const [correlationData = '', payloadFormat = '', subscriptionId = '', userProperties = ''] = fields.slice(7)
    messages.push({
      topic,
      qos,
      retain,
      expiry,
      contentType,
      responseTopic,
      correlationData,
      payloadFormat,
      subscriptionId,
      userProperties,
      payload: fields.slice(11).join('|'),
    })
  }
  return messages
}

interface SubscribeOptions {
  version: Version
  topics: string[]
  /** More mosquitto_sub arguments: -q, -C, -c -i, -D subscribe ... */
  args?: string[]
  format?: string
  /**
   * Wait for SUBACK (default). Not for a resumed session: its backlog may come first, and with -C
   * the client may be done and gone before SUBACK arrives.
   */
  awaitSuback?: boolean
}

/** Starts mosquitto_sub and resolves once the broker has acknowledged its subscriptions. */
async function subscriber(broker: MqttBroker, o: SubscribeOptions): Promise<ClientProcess> {
  const args = [
    '-oL',
    mosquittoSub as string,
    '-d',
    ...connectArgs(broker, o.version),
    ...o.topics.flatMap((t) => ['-t', t]),
    '-F',
    o.format ?? messageFormat,
    '-W',
    '20',
    ...(o.args ?? []),
  ]
  const client = startClient(stdbuf as string, args)
  if (o.awaitSuback !== false) await client.waitForOutput(/received SUBACK/)
  return client
}

/** Waits for a subscriber started with -C to exit normally; returns what it printed. */
async function received(client: ClientProcess): Promise<Message[]> {
  const exit: ClientExit = await client.succeeded()
  return messagesOf(exit.stdout)
}

function publish(broker: MqttBroker, version: Version, args: string[], input?: string | Buffer): Promise<ClientExit> {
  return runClient(mosquittoPub as string, [...connectArgs(broker, version), ...args], input)
}

/** The fields most checks compare. */
function brief(m: Message): Pick<Message, 'topic' | 'qos' | 'payload'> {
  return { topic: m.topic, qos: m.qos, payload: m.payload }
}

describe.skipIf(tools.skip).each(versions)('mosquitto clients ($version)', ({ version }) => {
  beforeEach(tools.require)
  const v5 = version === 'mqttv5'

  it('mosquitto - QoS 0, 1 and 2 publishes reach subscribers at the lower of the two QoS, and are kept in the log', async () => {
    const broker = await startMqttBroker()
    const atQos2 = await subscriber(broker, { version, topics: ['clients/qos/+'], args: ['-q', '2', '-C', '3'] })
    const atQos1 = await subscriber(broker, { version, topics: ['clients/qos/+'], args: ['-q', '1', '-C', '3'] })
    for (const qos of [0, 1, 2]) {
      await publish(broker, version, [
        '-i',
        `pub-qos-${qos}`,
        '-t',
        `clients/qos/${qos}`,
        '-m',
        `payload ${qos}`,
        '-q',
        String(qos),
      ])
    }
    const byTopic = (messages: Message[]) => messages.map(brief).sort((a, b) => a.topic.localeCompare(b.topic))
    expect(byTopic(await received(atQos2))).toEqual([
      { topic: 'clients/qos/0', qos: '0', payload: 'payload 0' },
      { topic: 'clients/qos/1', qos: '1', payload: 'payload 1' },
      { topic: 'clients/qos/2', qos: '2', payload: 'payload 2' },
    ])
    expect(byTopic(await received(atQos1))).toEqual([
      { topic: 'clients/qos/0', qos: '0', payload: 'payload 0' },
      { topic: 'clients/qos/1', qos: '1', payload: 'payload 1' },
      { topic: 'clients/qos/2', qos: '1', payload: 'payload 2' },
    ])
    for (const qos of [0, 1, 2]) {
      const records = recordsFor(broker.store, `clients/qos/${qos}`)
      expect(records).toHaveLength(1)
      expect(utf8(records[0]?.value ?? null)).toBe(`payload ${qos}`)
      expect(records[0]?.meta).toMatchObject({ q: qos, c: `pub-qos-${qos}` })
    }
  })

  it('mosquitto - 300 lines published at QoS 1 over one connection (-l) arrive complete and in order', async () => {
    const broker = await startMqttBroker()
    const count = 300
    const sub = await subscriber(broker, { version, topics: ['clients/lines'], args: ['-q', '1', '-C', String(count)] })
    const lines = Array.from({ length: count }, (_, i) => `line ${i}`)
    await publish(broker, version, ['-t', 'clients/lines', '-q', '1', '-l'], lines.join('\n') + '\n')
    expect((await received(sub)).map((m) => m.payload)).toEqual(lines)
    expect(recordsFor(broker.store, 'clients/lines').map((r) => utf8(r.value))).toEqual(lines)
  })

  it('mosquitto - a 100 KiB binary payload arrives byte for byte', async () => {
    const broker = await startMqttBroker()
    const payload = Buffer.alloc(100 * 1024)
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + (i >> 8)) & 0xff
    const dir = mkdtempSync(join(tmpdir(), 'cairn-mosquitto-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    const file = join(dir, 'payload.bin')
    writeFileSync(file, payload)
    const sub = await subscriber(broker, {
      version,
      topics: ['clients/binary'],
      args: ['-q', '1', '-C', '1'],
      format: 'MSG|%t|%l|%x',
    })
    await publish(broker, version, ['-t', 'clients/binary', '-q', '1', '-f', file])
    const exit = await sub.succeeded()
    const line = exit.stdout.split('\n').find((l) => l.startsWith('MSG|'))
    expect(line?.split('|').slice(1, 3)).toEqual(['clients/binary', String(payload.length)])
    expect(line?.split('|')[3] === payload.toString('hex')).toBe(true)
    expect(Buffer.from(recordsFor(broker.store, 'clients/binary')[0]?.value ?? []).equals(payload)).toBe(true)
  })

  it('mosquitto - a retained message reaches a later subscriber, and an empty retained publish clears it', async () => {
    const broker = await startMqttBroker()
    await publish(broker, version, ['-t', 'clients/retained/a', '-m', 'kept', '-q', '1', '-r'])
    const later = await subscriber(broker, { version, topics: ['clients/retained/#'], args: ['-C', '1'] })
    expect((await received(later)).map((m) => ({ ...brief(m), retain: m.retain }))).toEqual([
      { topic: 'clients/retained/a', qos: '0', payload: 'kept', retain: '1' },
    ])

    await publish(broker, version, ['-t', 'clients/retained/a', '-n', '-q', '1', '-r'])
    // Had the retained copy survived, it would come before the marker published after SUBACK.
    const afterClear = await subscriber(broker, { version, topics: ['clients/retained/#'], args: ['-C', '1'] })
    await publish(broker, version, ['-t', 'clients/retained/marker', '-m', 'after', '-q', '1'])
    expect((await received(afterClear)).map((m) => ({ ...brief(m), retain: m.retain }))).toEqual([
      { topic: 'clients/retained/marker', qos: '0', payload: 'after', retain: '0' },
    ])
  })

  it('mosquitto - a persistent session receives what was published while it was away, once', async () => {
    const broker = await startMqttBroker()
    const topic = 'clients/persistent'
    // -c: clean session 0 (v5: clean start 0 with an infinite session expiry, here capped to 300 s by -x).
    const persistent = ['-c', '-i', `persistent-${version}`, '-q', '1', ...(v5 ? ['-x', '300'] : [])]
    await runClient(mosquittoSub as string, [...connectArgs(broker, version), ...persistent, '-t', topic, '-E'])
    await publish(broker, version, ['-t', topic, '-m', 'away 1', '-q', '1'])
    await publish(broker, version, ['-t', topic, '-m', 'away 2', '-q', '0'])
    await publish(broker, version, ['-t', topic, '-m', 'away 3', '-q', '2'])
    const resumed = await subscriber(broker, {
      version,
      topics: [topic],
      args: [...persistent, '-C', '3'],
      awaitSuback: false,
    })
    expect((await received(resumed)).map(brief)).toEqual([
      { topic, qos: '1', payload: 'away 1' },
      { topic, qos: '0', payload: 'away 2' },
      { topic, qos: '1', payload: 'away 3' },
    ])
    expect(broker.frontEnd.sessions.has(`persistent-${version}`)).toBe(true)

    // Acknowledged messages are not delivered again: the next session start sees only what is new.
    await publish(broker, version, ['-t', topic, '-m', 'away 4', '-q', '1'])
    const again = await subscriber(broker, {
      version,
      topics: [topic],
      args: [...persistent, '-C', '1'],
      awaitSuback: false,
    })
    expect((await received(again)).map((m) => m.payload)).toEqual(['away 4'])
  })

  it('mosquitto - a resumed session that subscribes again gets a backlog larger than the in-flight window', async () => {
    // mosquitto_sub subscribes on every connect; replacing a subscription must not interrupt its
    // flow [MQTT-3.8.4-3], so messages beyond the first window (100 here, 20 for a v5 mosquitto_sub)
    // must still come.
    const broker = await startMqttBroker()
    const topic = 'clients/backlog'
    const persistent = ['-c', '-i', `backlog-${version}`, '-q', '1', ...(v5 ? ['-x', '300'] : [])]
    await runClient(mosquittoSub as string, [...connectArgs(broker, version), ...persistent, '-t', topic, '-E'])
    const lines = Array.from({ length: 300 }, (_, i) => `queued ${i}`)
    await publish(broker, version, ['-t', topic, '-q', '1', '-l'], lines.join('\n') + '\n')
    const resumed = await subscriber(broker, {
      version,
      topics: [topic],
      args: [...persistent, '-C', '300'],
      awaitSuback: false,
    })
    expect((await received(resumed)).map((m) => m.payload)).toEqual(lines)
  })

  it('mosquitto - QoS 1 messages a killed persistent subscriber never acknowledged are sent again, in order', async () => {
    const broker = await startMqttBroker()
    const topic = 'clients/redeliver'
    const clientId = `redeliver-${version}`
    const persistent = ['-c', '-i', clientId, '-q', '1', ...(v5 ? ['-x', '300'] : [])]
    const first = await subscriber(broker, { version, topics: [topic], args: persistent })
    // Stopped, it reads nothing and acknowledges nothing: the deliveries stay in flight.
    first.kill('SIGSTOP')
    await publish(broker, version, ['-t', topic, '-q', '1', '-l'], 'one\ntwo\nthree\n')
    await expect.poll(() => broker.frontEnd.sessions.get(clientId)?.inflight.size).toBe(3)
    first.kill('SIGKILL')
    await first.finished()
    await expect.poll(() => broker.frontEnd.connectedCount()).toBe(0)
    const resumed = await subscriber(broker, {
      version,
      topics: [topic],
      args: [...persistent, '-C', '3'],
      awaitSuback: false,
    })
    const exit = await resumed.succeeded()
    expect(messagesOf(exit.stdout).map((m) => m.payload)).toEqual(['one', 'two', 'three'])
    // -d prints each PUBLISH header: the resent ones carry DUP [MQTT-3.3.1-1].
    expect(exit.stdout.match(/received PUBLISH \(d1, q1/g)).toHaveLength(3)
  })

  it('mosquitto - a persistent session and a retained message survive a broker restart', async () => {
    const broker = await startMqttBroker()
    const topic = 'clients/restart'
    const persistent = ['-c', '-i', `restart-${version}`, '-q', '1', ...(v5 ? ['-x', '300'] : [])]
    await runClient(mosquittoSub as string, [...connectArgs(broker, version), ...persistent, '-t', topic, '-E'])
    await publish(broker, version, ['-t', topic, '-m', 'before restart', '-q', '1'])
    await publish(broker, version, ['-t', 'clients/restart-retained', '-m', 'still here', '-q', '1', '-r'])
    await broker.restart()
    await publish(broker, version, ['-t', topic, '-m', 'after restart', '-q', '1'])
    const resumed = await subscriber(broker, {
      version,
      topics: [topic],
      args: [...persistent, '-C', '2'],
      awaitSuback: false,
    })
    expect((await received(resumed)).map((m) => m.payload)).toEqual(['before restart', 'after restart'])
    const later = await subscriber(broker, { version, topics: ['clients/restart-retained'], args: ['-C', '1'] })
    expect((await received(later)).map((m) => [m.payload, m.retain])).toEqual([['still here', '1']])
  })

  it('mosquitto - an unsubscribed filter of a persistent session gets nothing more', async () => {
    const broker = await startMqttBroker()
    const persistent = ['-c', '-i', `unsub-${version}`, '-q', '1', ...(v5 ? ['-x', '300'] : [])]
    const [kept, dropped] = ['clients/unsub/kept', 'clients/unsub/dropped']
    await runClient(mosquittoSub as string, [
      ...connectArgs(broker, version),
      ...persistent,
      ...['-t', kept, '-t', dropped, '-E'],
    ])
    // Subscribes to `kept` again and unsubscribes `dropped`, both before its DISCONNECT.
    await runClient(mosquittoSub as string, [
      ...connectArgs(broker, version),
      ...persistent,
      '-t',
      kept,
      '-U',
      dropped,
      '-E',
    ])
    await publish(broker, version, ['-t', dropped, '-m', 'not for you', '-q', '1'])
    await publish(broker, version, ['-t', kept, '-m', 'for you', '-q', '1'])
    const resumed = await subscriber(broker, {
      version,
      topics: [kept],
      args: [...persistent, '-C', '1'],
      awaitSuback: false,
    })
    expect((await received(resumed)).map(brief)).toEqual([{ topic: kept, qos: '1', payload: 'for you' }])
  })

  it('mosquitto - members of a shared subscription each get their turn, a plain subscriber gets everything', async () => {
    const broker = await startMqttBroker()
    const topic = 'clients/shared'
    const group = `$share/workers/${topic}`
    const members = [
      await subscriber(broker, { version, topics: [group], args: ['-q', '1', '-C', '5'] }),
      await subscriber(broker, { version, topics: [group], args: ['-q', '1', '-C', '5'] }),
    ]
    const everything = await subscriber(broker, { version, topics: [topic], args: ['-q', '1', '-C', '10'] })
    const jobs = Array.from({ length: 10 }, (_, i) => `job ${i}`)
    await publish(broker, version, ['-t', topic, '-q', '1', '-l'], jobs.join('\n') + '\n')
    const [a = [], b = []] = await Promise.all(members.map(async (m) => (await received(m)).map((x) => x.payload)))
    expect(a).toHaveLength(5)
    expect([...a, ...b].sort()).toEqual([...jobs].sort())
    expect((await received(everything)).map((m) => m.payload)).toEqual(jobs)
  })

  it('mosquitto - wildcard filters + and # match exactly their topics, overlapping ones deliver once', async () => {
    const broker = await startMqttBroker()
    const sub = await subscriber(broker, {
      version,
      topics: ['clients/wild/+/temp', 'clients/wild/x/#'],
      args: ['-q', '1', '-C', '4'],
    })
    const topics = [
      'clients/wild/a/b/temp', // + is one level: no match
      'clients/wild/a/temp',
      'clients/wild/b/humidity', // no match
      'clients/wild/x', // # includes the parent level
      'clients/wild/x/temp', // both filters: one delivery
      'clients/wild/y/z', // no match
      'clients/wild/x/y/z',
    ]
    for (const topic of topics) await publish(broker, version, ['-t', topic, '-m', topic, '-q', '1'])
    expect((await received(sub)).map((m) => m.topic)).toEqual([
      'clients/wild/a/temp',
      'clients/wild/x',
      'clients/wild/x/temp',
      'clients/wild/x/y/z',
    ])
  })

  it('mosquitto - the will of a killed client reaches a subscriber, that of a client that disconnects does not', async () => {
    const broker = await startMqttBroker()
    const watcher = await subscriber(broker, { version, topics: ['clients/will/#'], args: ['-q', '1', '-C', '2'] })
    const will = (name: string) => [
      '--will-topic',
      `clients/will/${name}`,
      '--will-payload',
      `${name} is gone`,
      '--will-qos',
      '1',
      ...(v5 ? ['-D', 'will', 'user-property', 'cause', name] : []),
    ]
    // A normal DISCONNECT discards the will.
    await runClient(mosquittoSub as string, [
      ...connectArgs(broker, version),
      '-t',
      'clients/alive',
      '-E',
      ...will('polite'),
    ])
    const killed = await subscriber(broker, {
      version,
      topics: ['clients/alive'],
      args: ['-i', 'killed', ...will('killed')],
    })
    killed.kill('SIGKILL')
    expect((await killed.finished()).signal).toBe('SIGKILL')
    await expect.poll(() => broker.frontEnd.connectedCount()).toBe(1)
    await publish(broker, version, ['-t', 'clients/will/marker', '-m', 'marker', '-q', '1'])
    const messages = await received(watcher)
    expect(messages.map(brief)).toEqual([
      { topic: 'clients/will/killed', qos: '1', payload: 'killed is gone' },
      { topic: 'clients/will/marker', qos: '1', payload: 'marker' },
    ])
    if (v5) expect(messages[0]?.userProperties).toBe('cause:killed')
    expect(recordsFor(broker.store, 'clients/will/killed')[0]?.meta).toMatchObject({ q: 1, c: 'killed' })
  })
})

describe.skipIf(tools.skip)('mosquitto clients (mqttv5 properties)', () => {
  beforeEach(tools.require)

  it('mosquitto - v5 publish properties reach a v5 subscriber and the log; a 3.1.1 subscriber gets the message', async () => {
    const broker = await startMqttBroker()
    const topics = ['clients/props/#']
    const v5Sub = await subscriber(broker, {
      version: 'mqttv5',
      topics,
      args: ['-q', '1', '-C', '1', '-D', 'subscribe', 'subscription-identifier', '7'],
    })
    const v311Sub = await subscriber(broker, { version: 'mqttv311', topics, args: ['-q', '1', '-C', '1'] })
    await publish(broker, 'mqttv5', [
      ...['-i', 'props-pub', '-t', 'clients/props/a', '-m', 'hello', '-q', '1'],
      ...['-D', 'publish', 'user-property', 'site', 'edge-1'],
      ...['-D', 'publish', 'user-property', 'unit', 'celsius'],
      ...['-D', 'publish', 'message-expiry-interval', '60'],
      ...['-D', 'publish', 'content-type', 'text/plain'],
      ...['-D', 'publish', 'response-topic', 'clients/reply'],
      ...['-D', 'publish', 'correlation-data', 'req-42'],
      ...['-D', 'publish', 'payload-format-indicator', '1'],
    ])
    const [v5Message] = await received(v5Sub)
    expect(v5Message).toMatchObject({
      topic: 'clients/props/a',
      qos: '1',
      payload: 'hello',
      userProperties: 'site:edge-1 unit:celsius',
      contentType: 'text/plain',
      responseTopic: 'clients/reply',
      correlationData: 'req-42',
      payloadFormat: '1',
      subscriptionId: '7',
    })
    // What is left of the expiry: 60 s, or 59 if a second boundary passed on the way.
    expect(['59', '60']).toContain(v5Message?.expiry)
    expect(await received(v311Sub)).toMatchObject([
      { topic: 'clients/props/a', payload: 'hello', userProperties: '', expiry: '', contentType: '' },
    ])

    const [record] = recordsFor(broker.store, 'clients/props/a')
    expect(record?.headers.map((h) => [h.key, utf8(h.value)])).toEqual([
      ['site', 'edge-1'],
      ['unit', 'celsius'],
    ])
    expect(record?.meta).toMatchObject({ q: 1, c: 'props-pub', e: 60, ct: 'text/plain', rt: 'clients/reply', u: true })
    expect(utf8((record?.meta as { cd?: Uint8Array }).cd ?? null)).toBe('req-42')
  })

  it('mosquitto - v5 user properties with a repeated key arrive in their original order', async () => {
    const broker = await startMqttBroker()
    const sub = await subscriber(broker, {
      version: 'mqttv5',
      topics: ['clients/repeat'],
      args: ['-q', '1', '-C', '1'],
    })
    await publish(broker, 'mqttv5', [
      ...['-t', 'clients/repeat', '-m', 'x', '-q', '1'],
      ...['-D', 'publish', 'user-property', 'tag', 'one'],
      ...['-D', 'publish', 'user-property', 'zone', 'z1'],
      ...['-D', 'publish', 'user-property', 'tag', 'two'],
    ])
    const [message] = await received(sub)
    // [MQTT-3.3.2-18] forwarded in the order sent, not grouped by key; and kept in that order in the log.
    expect(message?.userProperties.split(' ')).toEqual(['tag:one', 'zone:z1', 'tag:two'])
    const [record] = broker.store.read('mqtt', 0, 0n).records
    expect(record?.headers.map((h) => `${h.key}:${Buffer.from(h.value).toString()}`)).toEqual([
      'tag:one',
      'zone:z1',
      'tag:two',
    ])
  })

  it('mosquitto - a v5 will with a will delay is published only once the delay has passed', async () => {
    const clock = new FakeClock()
    const broker = await startMqttBroker({ clock })
    const watcher = await subscriber(broker, {
      version: 'mqttv5',
      topics: ['clients/delay/#'],
      args: ['-q', '1', '-C', '2'],
    })
    // The will waits for the delay or the end of the session, whichever comes first: the session must outlast it.
    const killed = await subscriber(broker, {
      version: 'mqttv5',
      topics: ['clients/alive'],
      args: [
        ...['-c', '-i', 'delayed-will', '-x', '60'],
        ...['--will-topic', 'clients/delay/will', '--will-payload', 'late', '--will-qos', '1'],
        ...['-D', 'will', 'will-delay-interval', '5'],
      ],
    })
    killed.kill('SIGKILL')
    await killed.finished()
    await expect.poll(() => broker.frontEnd.connectedCount()).toBe(1)
    await publish(broker, 'mqttv5', ['-t', 'clients/delay/marker', '-m', 'marker', '-q', '1'])
    await watcher.waitForOutput(/^MSG\|clients\/delay\/marker\|/m)
    expect(watcher.stdout).not.toContain('clients/delay/will')
    clock.advance(5_000)
    expect((await received(watcher)).map((m) => m.payload)).toEqual(['marker', 'late'])
  })

  it('mosquitto - a message that expired while its v5 subscriber was away is dropped, others carry the time left', async () => {
    const clock = new FakeClock()
    const broker = await startMqttBroker({ clock })
    const topic = 'clients/expiry'
    const persistent = ['-c', '-i', 'expiry-sub', '-x', '300', '-q', '1']
    await runClient(mosquittoSub as string, [...connectArgs(broker, 'mqttv5'), ...persistent, '-t', topic, '-E'])
    for (const [payload, expiry] of [
      ['short-lived', '5'],
      ['long-lived', '60'],
    ] as const) {
      await publish(broker, 'mqttv5', [
        '-t',
        topic,
        '-m',
        payload,
        '-q',
        '1',
        '-D',
        'publish',
        'message-expiry-interval',
        expiry,
      ])
    }
    clock.advance(10_000)
    const resumed = await subscriber(broker, {
      version: 'mqttv5',
      topics: [topic],
      args: [...persistent, '-C', '1'],
      awaitSuback: false,
    })
    expect(await received(resumed)).toMatchObject([{ topic, payload: 'long-lived', expiry: '50' }])
  })

  it('mosquitto - a v5 session past its session expiry interval is gone when the client returns', async () => {
    const clock = new FakeClock()
    const broker = await startMqttBroker({ clock })
    const topic = 'clients/session-expiry'
    const persistent = ['-c', '-i', 'expiring', '-x', '30', '-q', '1']
    await runClient(mosquittoSub as string, [...connectArgs(broker, 'mqttv5'), ...persistent, '-t', topic, '-E'])
    await publish(broker, 'mqttv5', ['-t', topic, '-m', 'while away', '-q', '1'])
    clock.advance(31_000)
    expect(broker.frontEnd.sessions.has('expiring')).toBe(false)
    // A new session: nothing queued, so the first message is one published after it subscribed.
    const back = await subscriber(broker, { version: 'mqttv5', topics: [topic], args: [...persistent, '-C', '1'] })
    await publish(broker, 'mqttv5', ['-t', topic, '-m', 'after return', '-q', '1'])
    expect((await received(back)).map((m) => m.payload)).toEqual(['after return'])
  })

  it('mosquitto - retain as published keeps the retain flag on live messages, other subscribers see it cleared', async () => {
    const broker = await startMqttBroker()
    const topic = 'clients/rap'
    const asPublished = await subscriber(broker, {
      version: 'mqttv5',
      topics: [topic],
      args: ['-q', '1', '-C', '1', '--retain-as-published'],
    })
    const plainV5 = await subscriber(broker, { version: 'mqttv5', topics: [topic], args: ['-q', '1', '-C', '1'] })
    const plainV311 = await subscriber(broker, { version: 'mqttv311', topics: [topic], args: ['-q', '1', '-C', '1'] })
    await publish(broker, 'mqttv5', ['-t', topic, '-m', 'retained and live', '-q', '1', '-r'])
    // [MQTT-3.3.1-12] [MQTT-3.3.1-13] (v5) and [MQTT-3.3.1-9] (3.1.1).
    expect((await received(asPublished)).map((m) => m.retain)).toEqual(['1'])
    expect((await received(plainV5)).map((m) => m.retain)).toEqual(['0'])
    expect((await received(plainV311)).map((m) => m.retain)).toEqual(['0'])
  })

  it('mosquitto - a v5 subscriber with a receive maximum of 2 gets 100 QoS 1 and 2 messages, in order', async () => {
    // libmosquitto ends the connection with a protocol error if the broker goes over its Receive Maximum.
    // (Topic aliases towards the client are not tried here: libmosquitto 2.0.11 cannot resolve them.)
    const broker = await startMqttBroker()
    const topic = 'clients/receive-maximum'
    const sub = await subscriber(broker, {
      version: 'mqttv5',
      topics: [topic],
      args: ['-q', '2', '-C', '100', '-D', 'connect', 'receive-maximum', '2'],
    })
    const batches = [1, 2].map((qos) => Array.from({ length: 50 }, (_, i) => `q${qos}-${i}`))
    for (const [i, lines] of batches.entries()) {
      await publish(broker, 'mqttv5', ['-t', topic, '-q', String(i + 1), '-l'], lines.join('\n') + '\n')
    }
    const messages = await received(sub)
    expect(messages.map((m) => m.payload)).toEqual(batches.flat())
    expect(messages.map((m) => m.qos)).toEqual([...Array<string>(50).fill('1'), ...Array<string>(50).fill('2')])
  })

  it('mosquitto - a message larger than the maximum packet size of a v5 subscriber is not sent to it', async () => {
    const broker = await startMqttBroker()
    const topic = 'clients/max-packet'
    const small = await subscriber(broker, {
      version: 'mqttv5',
      topics: [topic],
      args: ['-q', '1', '-C', '1', '-D', 'connect', 'maximum-packet-size', '256'],
    })
    const large = await subscriber(broker, { version: 'mqttv5', topics: [topic], args: ['-q', '1', '-C', '2'] })
    const big = 'x'.repeat(1000)
    await publish(broker, 'mqttv5', ['-t', topic, '-m', big, '-q', '1'])
    await publish(broker, 'mqttv5', ['-t', topic, '-m', 'fits', '-q', '1'])
    // [MQTT-3.1.2-25] dropped as if sent, and the connection goes on.
    expect((await received(small)).map((m) => m.payload)).toEqual(['fits'])
    expect((await received(large)).map((m) => m.payload)).toEqual([big, 'fits'])
  })
})
