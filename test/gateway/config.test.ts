import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, test } from 'vitest'
import YAML from 'yaml'
import { ConfigErrors } from '../../src/errors.ts'
import {
  defaults,
  parseCommandLine,
  readTlsMaterial,
  resolveConfig,
  usage,
  UsageError,
  type ConfigSources,
  type Flags,
} from '../../gateway/config.ts'
import { defaultMqttOptions } from '../../src/mqtt/options.ts'
import { selfSignedCertificate, type Certificate } from './cairn-process.ts'

const resolve = (sources: Partial<ConfigSources> = {}) => resolveConfig({ env: {}, flags: {}, ...sources })
const file = (text: string) => ({ name: 'cairn.yaml', text })

/** Resolves expecting failure; returns the problems as `path: message` lines for matching. */
function problemsOf(sources: Partial<ConfigSources>): { paths: string[]; messages: string[] } {
  try {
    resolve(sources)
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigErrors)
    const problems = (err as ConfigErrors).problems
    expect(problems.every((p) => p.code === 'CAIRN_CONFIG_INVALID')).toBe(true)
    return { paths: problems.map((p) => p.path), messages: problems.map((p) => p.message) }
  }
  throw new Error('expected ConfigErrors')
}

describe('config - resolution', () => {
  test('config - no sources gives the defaults', () => {
    expect(resolve()).toEqual({ options: defaults, warnings: [] })
  })

  test('config - the example file states every option at its default', () => {
    const text = readFileSync(new URL('../../gateway/cairn.example.yaml', import.meta.url), 'utf8')
    expect(resolve({ file: { name: 'cairn.example.yaml', text } }).options).toEqual(defaults)
    // Equal options could hide an option the example leaves out, so compare the key trees too.
    const keyTree = (value: unknown): unknown =>
      typeof value === 'object' && value !== null && !('port' in value)
        ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, keyTree(v)]))
        : true
    expect(keyTree(YAML.parse(text))).toEqual(keyTree(defaults))
  })

  test('config - an empty or comment-only file means the defaults', () => {
    expect(resolve({ file: file('') }).options).toEqual(defaults)
    expect(resolve({ file: file('# nothing here\n') }).options).toEqual(defaults)
  })

  test('config - JSON is accepted as YAML', () => {
    const { options } = resolve({ file: file('{"dataDir": "/var/lib/cairn", "listeners": {"http": 9000}}') })
    expect(options.dataDir).toBe('/var/lib/cairn')
    expect(options.listeners.http).toEqual({ host: null, port: 9000 })
    expect(options.listeners.mqtt).toEqual(defaults.listeners.mqtt)
  })

  test('config - precedence is defaults < file < environment < flags', () => {
    const text = 'dataDir: /from/file\nlogLevel: warn\nlisteners:\n  mqtt: 1000\n  native: 2000\n  http: 3000\n'
    const env = { CAIRN_DATA_DIR: '/from/env', CAIRN_LOG_LEVEL: 'debug', CAIRN_NATIVE: '2001' }
    const flags: Flags = { logLevel: 'trace', native: '2002' }
    const { options } = resolve({ file: file(text), env, flags })
    expect(options.dataDir).toBe('/from/env')
    expect(options.logLevel).toBe('trace')
    expect(options.listeners).toEqual({
      mqtt: { host: null, port: 1000 },
      mqttTls: null,
      mqttWs: null,
      native: { host: null, port: 2002 },
      http: { host: null, port: 3000 },
      mqttWss: null,
      nativeTls: null,
      https: null,
    })
  })

  test('config - empty environment variables count as unset', () => {
    expect(resolve({ env: { CAIRN_DATA_DIR: '', CAIRN_MQTT: '' } }).options).toEqual(defaults)
  })

  test('config - unrelated environment variables are ignored, unknown CAIRN_ ones warned about', () => {
    const { options, warnings } = resolve({ env: { PATH: '/bin', HOME: '/root', CAIRN_DATADIR: '/x' } })
    expect(options).toEqual(defaults)
    expect(warnings).toEqual(['ignoring unknown environment variable CAIRN_DATADIR; did you mean CAIRN_DATA_DIR?'])
  })

  test('config - listener addresses take port, host:port and [ipv6]:port', () => {
    const flags: Flags = { mqtt: '127.0.0.1:1884', native: '[::1]:7884', http: 'gateway.local:0' }
    const { options } = resolve({ flags, file: file('listeners:\n  mqtt: "9999"\n') })
    expect(options.listeners).toEqual({
      mqtt: { host: '127.0.0.1', port: 1884 },
      mqttTls: null,
      mqttWs: null,
      native: { host: '::1', port: 7884 },
      http: { host: 'gateway.local', port: 0 },
      mqttWss: null,
      nativeTls: null,
      https: null,
    })
  })

  test('config - declared streams merge with the default stream and stream defaults', () => {
    const text = [
      'storage:',
      '  maxDiskBytes: 1000000000',
      'streams:',
      '  mqtt:',
      '    retentionMs: 3600000',
      '  sensors:',
      '    partitions: 4',
      '    cleanupPolicy: compact',
      '    retentionMs: null',
      '  audit:',
    ].join('\n')
    const { options } = resolve({ file: file(text) })
    expect(options.storage.maxDiskBytes).toBe(1_000_000_000)
    expect(options.streams).toEqual({
      mqtt: { ...defaults.streams.mqtt, retentionMs: 3_600_000 },
      sensors: {
        partitions: 4,
        retentionMs: null,
        retentionBytes: null,
        cleanupPolicy: 'compact',
        durability: 'fsync',
        subjects: [],
      },
      audit: { ...defaults.streams.mqtt, subjects: [] },
    })
  })

  test('config - resolving does not mutate the defaults', () => {
    const before = structuredClone(defaults)
    resolve({ file: file('streams:\n  mqtt:\n    partitions: 3\n'), flags: { mqtt: '1' } })
    expect(defaults).toEqual(before)
  })
})

describe('config - validation', () => {
  test('config - an unknown key is rejected with its path and a suggestion', () => {
    const { paths, messages } = problemsOf({ file: file('listeners:\n  mqqt: 1883\n') })
    expect(paths).toEqual(['listeners.mqqt'])
    expect(messages[0]).toBe(
      'listeners.mqqt: unknown key; did you mean "mqtt"? (known: mqtt, mqttTls, mqttWs, native, http, mqttWss, nativeTls, https); ' +
        'from cairn.yaml (got 1883)',
    )
  })

  test('config - unknown keys are rejected at every level', () => {
    const text = 'logLevels: info\nstorage:\n  maxDisk: 5\nstreams:\n  mqtt:\n    partition: 2\n'
    expect(problemsOf({ file: file(text) }).paths).toEqual(['logLevels', 'storage.maxDisk', 'streams.mqtt.partition'])
  })

  test('config - a bad port names its field, value and source', () => {
    for (const [sources, path, source] of [
      [{ flags: { mqtt: '65536' } }, 'listeners.mqtt', '--mqtt'],
      [{ env: { CAIRN_NATIVE: 'localhost:' } }, 'listeners.native', 'CAIRN_NATIVE'],
      [{ file: file('listeners:\n  http: -1\n') }, 'listeners.http', 'cairn.yaml'],
      [{ file: file('listeners:\n  http: 80.5\n') }, 'listeners.http', 'cairn.yaml'],
      [{ flags: { http: '::1:8080' } }, 'listeners.http', '--http'],
      [{ flags: { http: 'host:port' } }, 'listeners.http', '--http'],
    ] as const) {
      const { paths, messages } = problemsOf(sources)
      expect(paths).toEqual([path])
      expect(messages[0]).toMatch(new RegExp(`^${path}: must be \\[HOST:\\]PORT .*; from ${source} \\(got `))
    }
  })

  test('config - a bad log level names its field and the allowed values', () => {
    const { messages } = problemsOf({ flags: { logLevel: 'loud' } })
    expect(messages).toEqual([
      'logLevel: must be one of trace, debug, info, warn, error, fatal, silent; from --log-level (got "loud")',
    ])
    expect(problemsOf({ env: { CAIRN_LOG_LEVEL: 'INFO' } }).paths).toEqual(['logLevel'])
    expect(problemsOf({ file: file('logLevel: 3\n') }).paths).toEqual(['logLevel'])
  })

  test('config - several problems from several sources are reported together', () => {
    const text = [
      'dataDir: ""',
      'listeners: [1883]',
      'storage:',
      '  maxDiskBytes: -5',
      'streams:',
      '  "bad name":',
      '    partitions: 1',
      '  sensors:',
      '    partitions: 0',
      '    retentionBytes: "1GB"',
      '    cleanupPolicy: keep',
      '    durability: never',
      '  other: 7',
    ].join('\n')
    const err = (() => {
      try {
        resolve({ file: file(text), env: { CAIRN_LOG_LEVEL: 'chatty' }, flags: { http: 'x' } })
      } catch (e) {
        return e as ConfigErrors
      }
      throw new Error('expected ConfigErrors')
    })()
    expect(err.problems.map((p) => p.path)).toEqual([
      'dataDir',
      'listeners',
      'storage.maxDiskBytes',
      'streams.bad name',
      'streams.sensors.partitions',
      'streams.sensors.retentionBytes',
      'streams.sensors.cleanupPolicy',
      'streams.sensors.durability',
      'streams.other',
      'logLevel',
      'listeners.http',
    ])
    expect(err.problems.map((p) => p.value)).toEqual([
      '',
      [1883],
      -5,
      'bad name',
      0,
      '1GB',
      'keep',
      'never',
      7,
      'chatty',
      'x',
    ])
    // The aggregate message lists every problem, one per line, for stderr.
    expect(err.message.split('\n')).toHaveLength(1 + err.problems.length)
    expect(err.message).toContain(
      '  - streams.sensors.durability: must be one of fsync, os; from cairn.yaml (got "never")',
    )
  })

  test('config - partitions are bounded', () => {
    expect(problemsOf({ file: file('streams:\n  s:\n    partitions: 100000\n') }).messages).toEqual([
      'streams.s.partitions: must be an integer from 1 to 1024; from cairn.yaml (got 100000)',
    ])
  })

  test('config - two listeners on one port are rejected', () => {
    expect(problemsOf({ flags: { native: '1883' } }).messages).toEqual([
      'listeners.native: same port as listeners.mqtt (*:1883) (got "*:1883")',
    ])
    expect(problemsOf({ flags: { mqtt: '127.0.0.1:9000', http: '9000' } }).paths).toEqual(['listeners.http'])
    // Different explicit hosts, or port 0 (OS-assigned), do not clash.
    expect(resolve({ flags: { mqtt: '127.0.0.1:9000', http: '127.0.0.2:9000' } }).warnings).toEqual([])
    expect(resolve({ flags: { mqtt: '0', native: '0', http: '0' } }).warnings).toEqual([])
  })

  test('config - YAML syntax errors name the line', () => {
    const { paths, messages } = problemsOf({ file: file('dataDir: a\ndataDir: b\n') })
    expect(paths).toEqual(['(line 2)'])
    expect(messages[0]).toMatch(
      /^\(line 2\): Map keys must be unique at line 2, column 1; from cairn.yaml \(got "dataDir: b"\)$/,
    )
  })

  test('config - the top level must be a mapping', () => {
    expect(problemsOf({ file: file('- 1\n- 2\n') }).paths).toEqual(['(root)'])
  })
})

describe('config - command line', () => {
  test('command line - serve with every flag', () => {
    const argv = ['serve', '-c', 'c.yaml', '--data-dir', 'd', '--mqtt', '1', '--native', 'h:2', '--http', '3']
    const more = [
      '--mqtt-tls',
      '4',
      '--mqtt-ws',
      'off',
      '--tls-cert',
      'c.pem',
      '--tls-key',
      'k.pem',
      '--tls-ca',
      'ca.pem',
    ]
    expect(parseCommandLine([...argv, ...more, '--log-level', 'debug'])).toEqual({
      command: 'serve',
      flags: {
        config: 'c.yaml',
        dataDir: 'd',
        mqtt: '1',
        native: 'h:2',
        http: '3',
        mqttTls: '4',
        mqttWs: 'off',
        tlsCert: 'c.pem',
        tlsKey: 'k.pem',
        tlsCa: 'ca.pem',
        logLevel: 'debug',
      },
    })
    expect(parseCommandLine(['serve', '--data-dir=x']).flags).toEqual({ dataDir: 'x' })
  })

  test('command line - --help and --version win wherever they appear', () => {
    expect(parseCommandLine(['--version']).command).toBe('version')
    expect(parseCommandLine(['-v']).command).toBe('version')
    expect(parseCommandLine(['serve', '--help']).command).toBe('help')
    expect(parseCommandLine(['version']).command).toBe('version')
    expect(parseCommandLine(['help']).command).toBe('help')
  })

  test('command line - bad usage is a UsageError naming the culprit', () => {
    for (const [argv, fragment] of [
      [['serve', '--bogus'], '--bogus'],
      [['serve', '--data-dir'], '--data-dir'],
      [['serve', '--help=yes'], '--help'],
      [['launch'], 'launch'],
      [['serve', 'extra'], 'extra'],
      [[], 'missing command'],
    ] as const) {
      expect(() => parseCommandLine(argv)).toThrow(UsageError)
      expect(() => parseCommandLine(argv)).toThrow(fragment)
    }
  })

  test('command line - usage lists every flag, its default and its variable, within 120 columns', () => {
    for (const fragment of [
      '--config FILE',
      '--data-dir DIR',
      'CAIRN_DATA_DIR',
      '(default 1883)',
      'CAIRN_LOG_LEVEL',
      '--mqtt-tls [HOST:]PORT',
      'CAIRN_MQTT_TLS',
      '--mqtt-ws [HOST:]PORT',
      'path /mqtt (default off)',
      '--tls-cert FILE',
      'CAIRN_TLS_KEY',
      '--tls-ca FILE',
    ]) {
      expect(usage).toContain(fragment)
    }
    expect(Math.max(...usage.split('\n').map((line) => line.length))).toBeLessThanOrEqual(120)
  })
})

describe('config - listeners and TLS', () => {
  test('listeners - null, false and "off" turn a listener off, from every source', () => {
    const text = 'listeners:\n  mqtt: null\n  native: false\n  http: off\n  mqttWs: 8083\n'
    expect(resolve({ file: file(text) }).options.listeners).toEqual({
      mqtt: null,
      mqttTls: null,
      mqttWs: { host: null, port: 8083 },
      native: null,
      http: null,
      mqttWss: null,
      nativeTls: null,
      https: null,
    })
    const { options } = resolve({ file: file(text), env: { CAIRN_MQTT_WS: 'off' }, flags: { mqtt: '1884' } })
    expect(options.listeners.mqttWs).toBeNull()
    expect(options.listeners.mqtt).toEqual({ host: null, port: 1884 })
  })

  test('listeners - the MQTT TLS and WebSocket listeners take addresses and clash like the others', () => {
    const tls = { tlsCert: 'c.pem', tlsKey: 'k.pem' }
    const { options } = resolve({ flags: { mqttTls: '127.0.0.1:8883', mqttWs: '[::1]:8083', ...tls } })
    expect(options.listeners.mqttTls).toEqual({ host: '127.0.0.1', port: 8883 })
    expect(options.listeners.mqttWs).toEqual({ host: '::1', port: 8083 })
    expect(problemsOf({ flags: { mqttWs: '1883' } }).messages).toEqual([
      'listeners.mqttWs: same port as listeners.mqtt (*:1883) (got "*:1883")',
    ])
    // A listener that is off clashes with nothing.
    expect(resolve({ flags: { mqtt: 'off', mqttWs: '1883' } }).options.listeners.mqttWs?.port).toBe(1883)
    expect(problemsOf({ env: { CAIRN_MQTT_WS: 'on' } }).messages[0]).toMatch(
      /^listeners.mqttWs: must be \[HOST:\]PORT .*, or off; from CAIRN_MQTT_WS \(got "on"\)$/,
    )
  })

  test('tls - the TLS listener needs a certificate and a key', () => {
    expect(problemsOf({ flags: { mqttTls: '8883' } }).messages).toEqual([
      'tls.certFile: required when listeners.mqttTls is on (got null)',
      'tls.keyFile: required when listeners.mqttTls is on (got null)',
    ])
    // Without a TLS listener the files are not needed, and not checked.
    expect(resolve({ file: file('tls:\n  certFile: /nowhere.pem\n') }).options.tls.certFile).toBe('/nowhere.pem')
  })

  test('tls - files come from the file, the environment and flags, in that order of precedence', () => {
    const text = 'tls:\n  certFile: file.crt\n  keyFile: file.key\n  caFile: file.ca\n  minVersion: TLSv1.3\n'
    const env = { CAIRN_TLS_KEY: 'env.key', CAIRN_TLS_CA: 'env.ca', CAIRN_MQTT_TLS: '8883' }
    const { options } = resolve({ file: file(text), env, flags: { tlsCa: 'flag.ca' } })
    expect(options.tls).toEqual({
      ...defaults.tls,
      certFile: 'file.crt',
      keyFile: 'env.key',
      caFile: 'flag.ca',
      minVersion: 'TLSv1.3',
    })
    expect(options.listeners.mqttTls).toEqual({ host: null, port: 8883 })
  })

  test('tls - bad settings name their field', () => {
    const text = 'tls:\n  certFile: ""\n  keyFile: 5\n  minVersion: TLSv1.1\n  cafile: x\n'
    expect(problemsOf({ file: file(text), flags: { tlsCa: ' ' } }).messages).toEqual([
      'tls.cafile: unknown key; did you mean "caFile"? (known: certFile, keyFile, caFile, minVersion, ' +
        'ciphers, clientAuth, clientCaFile, identityFrom, handshakeTimeoutMs); from cairn.yaml (got "x")',
      'tls.certFile: must be a non-empty path, or null; from cairn.yaml (got "")',
      'tls.keyFile: must be a non-empty path, or null; from cairn.yaml (got 5)',
      'tls.minVersion: must be one of TLSv1.2, TLSv1.3; from cairn.yaml (got "TLSv1.1")',
      'tls.caFile: must be a non-empty path; from --tls-ca (got " ")',
    ])
  })
})

describe('config - TLS files', () => {
  let dir: string
  let server: Certificate
  let other: Certificate
  const files = new Map<string, Buffer>()
  const readFile = (path: string): Buffer => {
    const content = files.get(path)
    if (content === undefined)
      throw Object.assign(new Error(`ENOENT: no such file, open '${path}'`), { code: 'ENOENT' })
    return content
  }
  const settings = { ...defaults.tls, certFile: 'server.crt', keyFile: 'server.key' }

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cairn-tls-'))
    server = selfSignedCertificate(dir, 'server')
    other = selfSignedCertificate(dir, 'other')
    files.set('server.crt', server.cert)
    files.set('server.key', readFileSync(server.keyFile))
    files.set('other.key', readFileSync(other.keyFile))
    files.set('ca.crt', other.cert)
    files.set('junk', Buffer.from('not PEM at all'))
    return () => rmSync(dir, { recursive: true, force: true })
  })

  const tlsProblems = (tls: Parameters<typeof readTlsMaterial>[0]): string[] => {
    try {
      readTlsMaterial(tls, readFile)
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigErrors)
      return (err as ConfigErrors).problems.map((p) => p.message)
    }
    throw new Error('expected ConfigErrors')
  }

  test('tls files - a certificate, its key and a CA are read', () => {
    const material = readTlsMaterial({ ...settings, caFile: 'ca.crt', minVersion: 'TLSv1.3' }, readFile)
    expect(material).toEqual({
      cert: server.cert,
      key: files.get('server.key'),
      ca: other.cert,
      minVersion: 'TLSv1.3',
      ciphers: defaults.tls.ciphers,
      clientAuth: 'none',
      identityFrom: 'cn',
    })
    expect(readTlsMaterial(settings, readFile)).not.toHaveProperty('ca')
  })

  test('tls files - unreadable files name their field', () => {
    expect(tlsProblems({ ...settings, certFile: 'missing.crt', caFile: 'missing.ca' })).toEqual([
      `tls.certFile: cannot read the file: ENOENT: no such file, open 'missing.crt' (got "missing.crt")`,
      `tls.caFile: cannot read the file: ENOENT: no such file, open 'missing.ca' (got "missing.ca")`,
    ])
  })

  test('tls files - content that is not PEM names its field', () => {
    const messages = tlsProblems({ ...settings, certFile: 'junk', keyFile: 'junk', caFile: 'server.key' })
    expect(messages).toHaveLength(3)
    expect(messages[0]).toMatch(/^tls.certFile: not a PEM certificate: .* \(got "junk"\)$/)
    expect(messages[1]).toMatch(/^tls.keyFile: not an unencrypted PEM private key: .* \(got "junk"\)$/)
    expect(messages[2]).toMatch(/^tls.caFile: not a PEM CA certificate: /)
  })

  test('tls files - a key that does not belong to the certificate is named', () => {
    expect(tlsProblems({ ...settings, keyFile: 'other.key' })).toEqual([
      expect.stringMatching(/^tls.keyFile: does not fit the certificate in tls.certFile: .*(mismatch|key values)/),
    ])
  })
})

describe('config - MQTT', () => {
  test('mqtt - the front end gets every option, defaulting to its own defaults', () => {
    expect(defaults.mqtt).toEqual(defaultMqttOptions)
    const text = 'mqtt:\n  receiveMaximum: 10\n  sysIntervalMs: 0\n  sessionStream: events\n  maxSessionExpirySec: 0\n'
    expect(resolve({ file: file(text) }).options.mqtt).toEqual({
      ...defaultMqttOptions,
      receiveMaximum: 10,
      sysIntervalMs: 0,
      sessionStream: 'events',
      maxSessionExpirySec: 0,
    })
  })

  test('mqtt - unknown keys and out-of-range values name their path', () => {
    const text = [
      'mqtt:',
      '  receiveMaximum: 0',
      '  maxInflightOut: 65536',
      '  topicAliasMaximum: -1',
      '  maxPacketBytes: 268435456',
      '  maxKeepaliveSec: 1.5',
      '  maxSessionExpirySec: 4294967296',
      '  connectTimeoutMs: "10s"',
      '  sysIntervalMs: 10',
      '  sessionStream: "no spaces"',
      '  maxTopicLength: 65536',
      '  maxTopicLevel: 3',
    ].join('\n')
    const { paths, messages } = problemsOf({ file: file(text) })
    expect(paths).toEqual([
      'mqtt.maxTopicLevel',
      'mqtt.sessionStream',
      'mqtt.maxPacketBytes',
      'mqtt.receiveMaximum',
      'mqtt.maxInflightOut',
      'mqtt.topicAliasMaximum',
      'mqtt.maxKeepaliveSec',
      'mqtt.maxSessionExpirySec',
      'mqtt.connectTimeoutMs',
      'mqtt.maxTopicLength',
      'mqtt.sysIntervalMs',
    ])
    expect(messages).toContain(
      'mqtt.maxTopicLevel: unknown key; did you mean "maxTopicLevels"? (known: sessionStream, maxPacketBytes, ' +
        'receiveMaximum, maxInflightOut, topicAliasMaximum, maxKeepaliveSec, maxSessionExpirySec, maxOfflineRecords, ' +
        'maxPendingAppendsPerConnection, connectTimeoutMs, maxTopicLength, maxTopicLevels, maxSessions, ' +
        'maxSubscriptionsPerClient, maxPublishesPerSec, sysIntervalMs); ' +
        'from cairn.yaml (got 3)',
    )
    expect(messages).toContain('mqtt.receiveMaximum: must be an integer from 1 to 65535; from cairn.yaml (got 0)')
    expect(messages).toContain(
      'mqtt.maxSessionExpirySec: must be an integer from 0 to 4294967295; from cairn.yaml (got 4294967296)',
    )
    expect(messages).toContain(
      'mqtt.sysIntervalMs: must be 0 (off) or an integer from 1000 to 2147483647; from cairn.yaml (got 10)',
    )
  })

  test('mqtt - the section must be a mapping', () => {
    expect(problemsOf({ file: file('mqtt: 5\n') }).paths).toEqual(['mqtt'])
  })
})

describe('config - stream subjects', () => {
  test('subjects - the default stream takes every topic, declared streams none unless they say', () => {
    expect(defaults.streams.mqtt?.subjects).toEqual(['#'])
    const text = 'streams:\n  sensors:\n    subjects: [sensors/#, "+/temperature"]\n  audit:\n'
    const { options } = resolve({ file: file(text) })
    expect(options.streams.sensors?.subjects).toEqual(['sensors/#', '+/temperature'])
    expect(options.streams.audit?.subjects).toEqual([])
    expect(options.streams.mqtt?.subjects).toEqual(['#'])
  })

  test('subjects - must be a list of topic filters, without shared subscriptions', () => {
    const text = [
      'streams:',
      '  a:',
      '    subjects: "#"',
      '  b:',
      '    subjects: [ok/#, "a/#/b", "", 7, "$share/g/x"]',
    ].join('\n')
    expect(problemsOf({ file: file(text) }).messages).toEqual([
      'streams.a.subjects: must be a list of MQTT topic filters; from cairn.yaml (got "#")',
      'streams.b.subjects: must be a list of MQTT topic filters: [1] "a/#/b" is not a topic filter ' +
        '(multi-level-wildcard-misplaced), [2] "" is not a topic filter (empty), [3] is not a string, ' +
        '[4] "$share/g/x" is a shared subscription, not a topic filter; from cairn.yaml (got ["ok/#","a/#/b","",7,"$share/g/x"])',
    ])
  })

  test('subjects - a session stream without subjects is warned about', () => {
    const { warnings } = resolve({ file: file('streams:\n  mqtt:\n    subjects: []\n') })
    expect(warnings).toEqual([expect.stringContaining('stream "mqtt" is the MQTT session stream')])
    const other = resolve({ file: file('mqtt:\n  sessionStream: events\nstreams:\n  events:\n') })
    expect(other.warnings).toEqual([expect.stringContaining('stream "events" is the MQTT session stream')])
    expect(resolve({ file: file('mqtt:\n  sessionStream: events\n') }).warnings).toEqual([])
  })
})
