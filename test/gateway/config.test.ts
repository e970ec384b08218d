import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import YAML from 'yaml'
import { ConfigErrors } from '../../src/errors.ts'
import {
  defaults,
  parseCommandLine,
  resolveConfig,
  usage,
  UsageError,
  type ConfigSources,
  type Flags,
} from '../../gateway/config.ts'

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
      native: { host: null, port: 2002 },
      http: { host: null, port: 3000 },
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
      native: { host: '::1', port: 7884 },
      http: { host: 'gateway.local', port: 0 },
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
      },
      audit: defaults.streams.mqtt,
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
      'listeners.mqqt: unknown key; did you mean "mqtt"? (known: mqtt, native, http); from cairn.yaml (got 1883)',
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
      'streams.s.partitions: must be at most 1024; from cairn.yaml (got 100000)',
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
    expect(parseCommandLine([...argv, '--log-level', 'debug'])).toEqual({
      command: 'serve',
      flags: { config: 'c.yaml', dataDir: 'd', mqtt: '1', native: 'h:2', http: '3', logLevel: 'debug' },
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
    for (const fragment of ['--config FILE', '--data-dir DIR', 'CAIRN_DATA_DIR', '(default 1883)', 'CAIRN_LOG_LEVEL']) {
      expect(usage).toContain(fragment)
    }
    expect(Math.max(...usage.split('\n').map((line) => line.length))).toBeLessThanOrEqual(120)
  })
})
