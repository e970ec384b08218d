import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import {
  defaults,
  mirrorLinkConfigs,
  mirrorLinkDefaults,
  parseCommandLine,
  readMirrorTlsMaterial,
  resolveConfig,
  usage,
  type ConfigSources,
  type MirrorLinkOptions,
  type MirrorOptions,
} from '../../gateway/config.ts'
import { ConfigErrors } from '../../src/errors.ts'
import { defaultLinkSettings } from '../../src/mirror/mirror.ts'
import { byMsg, selfSignedCertificate, startCairn, tempDir } from './cairn-process.ts'

const resolve = (sources: Partial<ConfigSources> = {}) => resolveConfig({ env: {}, flags: {}, ...sources })
const file = (text: string) => ({ name: 'cairn.yaml', text })

/** Resolves expecting failure; returns the problems' paths and messages. */
function problemsOf(sources: Partial<ConfigSources>): { paths: string[]; messages: string[] } {
  try {
    resolve(sources)
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigErrors)
    const problems = (err as ConfigErrors).problems
    return { paths: problems.map((p) => p.path), messages: problems.map((p) => p.message) }
  }
  throw new Error('expected ConfigErrors')
}

/** A link with every default, as the short form makes it. */
const defaultLink = (bootstrap: string[], gatewayAlias: string): MirrorLinkOptions => ({
  ...mirrorLinkDefaults,
  bootstrap,
  gatewayAlias,
  clientId: `cairn-${gatewayAlias}`,
})

describe('mirror config - short form', () => {
  test('mirror config - off by default', () => {
    expect(resolve().options.mirror).toEqual({ gatewayId: null, links: {} })
  })

  test('mirror config - --mirror-to and --gateway-id make link "upstream" with every default', () => {
    const flags = { mirrorTo: 'kafka://k1:9092,k2:9093', gatewayId: 'gw-1' }
    const { options, warnings } = resolve({ flags })
    expect(warnings).toEqual([])
    expect(options.mirror).toEqual({
      gatewayId: 'gw-1',
      links: { upstream: defaultLink(['k1:9092', 'k2:9093'], 'gw-1') },
    })
    // The defaults are the mirror's own, spelt out.
    expect(mirrorLinkConfigs(options.mirror)).toEqual([
      {
        name: 'upstream',
        gatewayAlias: 'gw-1',
        ...defaultLinkSettings,
        naming: { policy: 'prefix', separator: '.' },
        backoff: { baseMs: 1000, capMs: 300_000, authCapMs: 1_800_000, stableAfterMs: 60_000 },
      },
    ])
  })

  test('mirror config - the command line takes both flags', () => {
    const argv = ['serve', '--mirror-to', 'kafka://127.0.0.1:9092', '--gateway-id', 'gw-1']
    expect(parseCommandLine(argv)).toEqual({
      command: 'serve',
      flags: { mirrorTo: 'kafka://127.0.0.1:9092', gatewayId: 'gw-1' },
    })
  })

  test('mirror config - CAIRN_MIRROR_TO and CAIRN_GATEWAY_ID do the same; flags beat them', () => {
    const env = { CAIRN_MIRROR_TO: 'kafka://env-kafka:9092', CAIRN_GATEWAY_ID: 'gw-env' }
    expect(resolve({ env }).options.mirror).toEqual({
      gatewayId: 'gw-env',
      links: { upstream: defaultLink(['env-kafka:9092'], 'gw-env') },
    })
    const flags = { mirrorTo: 'kafka://flag-kafka:9092/', gatewayId: 'gw-flag' }
    expect(resolve({ env, flags }).options.mirror).toEqual({
      gatewayId: 'gw-flag',
      links: { upstream: defaultLink(['flag-kafka:9092'], 'gw-flag') },
    })
  })

  test('mirror config - --mirror-to replaces the bootstrap of a configured "upstream" and keeps the rest', () => {
    const text = [
      'mirror:',
      '  gatewayId: gw-file',
      '  links:',
      '    upstream: { bootstrap: ["old:9092"], timestampMode: send, tls: true }',
      '    archive: { bootstrap: ["archive:9092"], gatewayAlias: site7 }',
    ].join('\n')
    const { options } = resolve({ file: file(text), flags: { mirrorTo: 'kafka://[::1]:19092' } })
    expect(options.mirror.links).toEqual({
      upstream: {
        ...defaultLink(['[::1]:19092'], 'gw-file'),
        timestampMode: 'send',
        tls: { caFile: null, certFile: null, keyFile: null, rejectUnauthorized: true },
      },
      archive: defaultLink(['archive:9092'], 'site7'),
    })
  })

  test('mirror config - a link without a gateway id or alias names mirror.gatewayId, once', () => {
    const text = 'mirror:\n  links:\n    a: { bootstrap: ["a:1"] }\n    b: { bootstrap: ["b:1"] }\n'
    for (const sources of [{ flags: { mirrorTo: 'kafka://k:9092' } }, { file: file(text) }]) {
      const { paths, messages } = problemsOf(sources)
      expect(paths).toEqual(['mirror.gatewayId'])
      expect(messages[0]).toContain('required to mirror: the upstream topic prefix and provenance identity')
    }
    // Every link with its own alias needs no gateway id; a gateway id alone starts no mirror.
    const aliased = 'mirror:\n  links:\n    a: { bootstrap: ["a:1"], gatewayAlias: gw-a }\n'
    expect(resolve({ file: file(aliased) }).options.mirror.links.a?.gatewayAlias).toBe('gw-a')
    expect(resolve({ flags: { gatewayId: 'gw-1' } }).options.mirror).toEqual({ gatewayId: 'gw-1', links: {} })
  })

  test('mirror config - a bad --mirror-to or CAIRN_MIRROR_TO names where it came from', () => {
    const scheme = problemsOf({ flags: { mirrorTo: 'http://k:9092', gatewayId: 'gw' } })
    expect(scheme.paths).toEqual(['mirror.links.upstream.bootstrap'])
    expect(scheme.messages[0]).toContain('unsupported scheme "http://": must be kafka://HOST:PORT[,HOST:PORT...]')
    expect(scheme.messages[0]).toContain('from --mirror-to')

    for (const bad of ['k:9092', 'kafka://', 'kafka://k', 'kafka://k:0', 'kafka://k:9092,', 'kafka://a b:1']) {
      const { paths, messages } = problemsOf({ env: { CAIRN_MIRROR_TO: bad, CAIRN_GATEWAY_ID: 'gw' } })
      expect(paths, bad).toEqual(['mirror.links.upstream.bootstrap'])
      expect(messages[0], bad).toContain('from CAIRN_MIRROR_TO')
    }
  })

  test('mirror config - a bad gateway id names mirror.gatewayId and its source', () => {
    for (const id of ['gw.1', '', 'x'.repeat(65), 'gw/1']) {
      const sources = { flags: { gatewayId: id, mirrorTo: 'kafka://k:9092' } }
      if (id === '') {
        // Empty counts as unset only in the environment; a flag given empty is a bad id.
        expect(problemsOf(sources).paths).toEqual(['mirror.gatewayId'])
        continue
      }
      const { paths, messages } = problemsOf(sources)
      expect(paths, id).toEqual(['mirror.gatewayId'])
      expect(messages[0]).toContain('must be 1 to 64 of A-Z a-z 0-9 _ -; from --gateway-id')
    }
  })

  test('mirror config - usage lists both flags with their variables', () => {
    expect(usage).toContain('--mirror-to URL')
    expect(usage).toContain('kafka://HOST:PORT[,HOST:PORT]')
    expect(usage).toContain('CAIRN_MIRROR_TO')
    expect(usage).toContain('--gateway-id ID')
    expect(usage).toContain('CAIRN_GATEWAY_ID')
  })
})

describe('mirror config - file', () => {
  test('mirror config - the full form sets every field', () => {
    const text = `
mirror:
  gatewayId: gw-0042
  links:
    central:
      bootstrap: [kafka-1:9093, "10.0.0.7:9093"]
      clientId: edge-0042
      gatewayAlias: plant1
      naming: { policy: prefix, separator: _ }
      streams:
        - { match: alarms, policy: block, priority: 10 }
        - { match: "telemetry.*", policy: { holdThenEvict: 604800000 }, priority: 5 }
        - { match: "debug*", policy: evict }
      exclude: ["tmp.*", scratch]
      timestampMode: send
      batchMaxRecords: 1000
      batchMaxBytes: 1048576
      maxBytesPerSec: 65536
      checkpointIntervalMs: 30000
      heartbeatIntervalMs: 0
      checkpointGroups: [billing, "app-*"]
      connectionTimeoutMs: 5000
      requestTimeoutMs: 10000
      brokerAddressMap: { "kafka-1:9093": "127.0.0.1:19093" }
      tls: { caFile: /etc/cairn/ca.pem, certFile: /etc/cairn/client.pem, keyFile: /etc/cairn/client.key, rejectUnauthorized: false }
      sasl: { mechanism: scram-sha-512, username: edge, password: s3cret }
      backoff: { baseMs: 500, capMs: 60000 }
    aggregate:
      bootstrap: [agg:9092]
      naming: { policy: identity }
    mapped:
      bootstrap: [map:9092]
      naming: { policy: map, topics: { sensors: plant1.sensors, alarms: all-alarms } }
`
    const { options, warnings } = resolve({ file: file(text) })
    expect(warnings).toEqual([])
    const expected: MirrorOptions = {
      gatewayId: 'gw-0042',
      links: {
        central: {
          bootstrap: ['kafka-1:9093', '10.0.0.7:9093'],
          clientId: 'edge-0042',
          gatewayAlias: 'plant1',
          naming: { policy: 'prefix', separator: '_' },
          streams: [
            { match: 'alarms', policy: { kind: 'block' }, priority: 10 },
            { match: 'telemetry.*', policy: { kind: 'hold-then-evict', maxAgeMs: 604_800_000 }, priority: 5 },
            { match: 'debug*', policy: { kind: 'evict' }, priority: 0 },
          ],
          exclude: ['tmp.*', 'scratch'],
          timestampMode: 'send',
          batchMaxRecords: 1000,
          batchMaxBytes: 1_048_576,
          recoveryGraceMs: 30_000,
          maxBytesPerSec: 65_536,
          checkpointIntervalMs: 30_000,
          heartbeatIntervalMs: 0,
          checkpointGroups: ['billing', 'app-*'],
          connectionTimeoutMs: 5000,
          requestTimeoutMs: 10_000,
          brokerAddressMap: { 'kafka-1:9093': '127.0.0.1:19093' },
          tls: {
            caFile: '/etc/cairn/ca.pem',
            certFile: '/etc/cairn/client.pem',
            keyFile: '/etc/cairn/client.key',
            rejectUnauthorized: false,
          },
          sasl: { mechanism: 'scram-sha-512', username: 'edge', password: 's3cret' },
          backoff: { baseMs: 500, capMs: 60_000, authCapMs: 1_800_000, stableAfterMs: 60_000 },
        },
        aggregate: { ...defaultLink(['agg:9092'], 'gw-0042'), naming: { policy: 'identity' } },
        mapped: {
          ...defaultLink(['map:9092'], 'gw-0042'),
          naming: { policy: 'map', topics: { sensors: 'plant1.sensors', alarms: 'all-alarms' } },
        },
      },
    }
    expect(options.mirror).toEqual(expected)
    expect(mirrorLinkConfigs(options.mirror).map((link) => [link.name, link.gatewayAlias])).toEqual([
      ['central', 'plant1'],
      ['aggregate', 'gw-0042'],
      ['mapped', 'gw-0042'],
    ])
  })

  test('mirror config - the example file states every link option at its default', () => {
    const text = readFileSync(new URL('../../gateway/cairn.example.yaml', import.meta.url), 'utf8')
    const lines = text.split('\n')
    const start = lines.indexOf('  # links:')
    expect(start).toBeGreaterThan(0)
    // Uncomment the sample link (the comment marker right after the section's indentation), in place of `links: {}`.
    const uncommented = lines
      .slice(start)
      .map((line) => line.replace(/^ {2}# ?/, '  '))
      .join('\n')
    const example = [...lines.slice(0, start).filter((line) => line !== '  links: {}'), uncommented].join('\n')
    const { options } = resolve({ file: file(example), flags: { gatewayId: 'gw-1' } })
    expect(options.mirror.links).toEqual({ upstream: defaultLink(['kafka-1:9092', 'kafka-2:9092'], 'gw-1') })
    // Every field of a link appears in the example.
    const shown = new Set([...uncommented.matchAll(/^ {6}(\w+):/gm)].map((m) => m[1]))
    expect([...shown].sort()).toEqual(Object.keys(defaultLink([], 'x')).sort())
  })

  test('mirror config - every invalid field names its dotted path', () => {
    const text = `
mirror:
  gatewayId: 42
  gatewayIdd: x
  links:
    "bad name": { bootstrap: [k:1] }
    a:
      bootstrap: [k:1, "nohost", "k:70000"]
      clientId: "has space"
      gatewayAlias: ""
      naming: { policy: prefix, separator: "" }
      streams:
        - { match: "bad/name", policy: block }
        - { match: ok, policy: keep }
        - { match: ok, policy: { holdThenEvict: -1 } }
        - { match: ok, policy: block, priority: 1.5 }
        - { policy: block, extra: 1 }
        - just-a-string
      exclude: ["no spaces"]
      timestampMode: local
      batchMaxRecords: 0
      batchMaxBytes: 1e12
      maxBytesPerSec: -1
      connectionTimeoutMs: 10
      requestTimeoutMs: "30s"
      brokerAddressMap: { "k:1": "nope" }
      tls: { caFile: "", rejectUnauthorized: "no", verify: true }
      sasl: { mechanism: gssapi, username: "" }
      backoff: { baseMs: 0, jitter: 1 }
      colour: blue
    b:
      bootstrap: []
      naming: { policy: identity, separator: "." }
    c:
      bootstrap: [k:1]
      naming: { policy: map }
    d:
      bootstrap: [k:1]
      naming: { policy: map, topics: { "s/1": t, s2: 5 } }
    e:
      bootstrap: [k:1]
      naming: { policy: modulo }
      tls: { certFile: /c.pem }
      sasl: nope
      streams: alarms
    f: {}
`
    const { paths } = problemsOf({ file: file(text) })
    expect(paths.sort()).toEqual(
      [
        'mirror.gatewayIdd',
        'mirror.gatewayId',
        'mirror.links.bad name',
        'mirror.links.a.colour',
        'mirror.links.a.bootstrap',
        'mirror.links.a.clientId',
        'mirror.links.a.gatewayAlias',
        'mirror.links.a.naming.separator',
        'mirror.links.a.streams[0].match',
        'mirror.links.a.streams[1].policy',
        'mirror.links.a.streams[2].policy',
        'mirror.links.a.streams[3].priority',
        'mirror.links.a.streams[4].extra',
        'mirror.links.a.streams[4].match',
        'mirror.links.a.streams[5]',
        'mirror.links.a.exclude',
        'mirror.links.a.timestampMode',
        'mirror.links.a.batchMaxRecords',
        'mirror.links.a.batchMaxBytes',
        'mirror.links.a.maxBytesPerSec',
        'mirror.links.a.connectionTimeoutMs',
        'mirror.links.a.requestTimeoutMs',
        'mirror.links.a.brokerAddressMap',
        'mirror.links.a.tls.verify',
        'mirror.links.a.tls.caFile',
        'mirror.links.a.tls.rejectUnauthorized',
        'mirror.links.a.sasl.mechanism',
        'mirror.links.a.sasl.username',
        'mirror.links.a.sasl.password',
        'mirror.links.a.backoff.jitter',
        'mirror.links.a.backoff.baseMs',
        'mirror.links.b.bootstrap',
        'mirror.links.b.naming.separator',
        'mirror.links.c.naming.topics',
        'mirror.links.d.naming.topics.s/1',
        'mirror.links.d.naming.topics.s2',
        'mirror.links.e.naming.policy',
        'mirror.links.e.tls.keyFile',
        'mirror.links.e.sasl',
        'mirror.links.e.streams',
        'mirror.links.f.bootstrap',
      ].sort(),
    )
  })

  test('mirror config - the mirror section and its links must be mappings', () => {
    expect(problemsOf({ file: file('mirror: [1]\n') }).paths).toEqual(['mirror'])
    expect(problemsOf({ file: file('mirror:\n  links: [a]\n') }).paths).toEqual(['mirror.links'])
    expect(problemsOf({ file: file('mirror:\n  links:\n    a: 5\n') }).paths).toEqual(['mirror.links.a'])
    // Empty sections are the defaults.
    expect(resolve({ file: file('mirror:\n') }).options).toEqual(defaults)
    expect(resolve({ file: file('mirror:\n  links:\n') }).options).toEqual(defaults)
  })

  test('mirror config - the replication policy checks alias and naming at start, at their paths', () => {
    const text = `
mirror:
  gatewayId: gw-1
  links:
    dashed: { bootstrap: [k:1], naming: { policy: prefix, separator: "-" } }
    badsep: { bootstrap: [k:1], naming: { policy: prefix, separator: "/" } }
    alias: { bootstrap: [k:1], gatewayAlias: "gw.1" }
    map:
      bootstrap: [k:1]
      naming: { policy: map, topics: { a: same, b: same, c: "bad topic" } }
`
    const { paths, messages } = problemsOf({ file: file(text) })
    expect(paths).toEqual([
      'mirror.gatewayId',
      'mirror.links.badsep.naming.separator',
      'mirror.links.alias.gatewayAlias',
      'mirror.links.map.naming.topics.c',
      'mirror.links.map.naming.topics',
    ])
    // The inherited alias is reported at the setting to change, saying which link it broke.
    expect(messages[0]).toBe(
      'mirror.gatewayId: must not contain the separator "-" (it is the gateway alias of mirror.links.dashed) (got "gw-1")',
    )
    expect(messages[4]).toContain('streams "a" and "b" map to upstream topic "same"')
  })

  test('mirror config - backoff caps below the base name their path', () => {
    const text =
      'mirror:\n  gatewayId: gw\n  links:\n    a: { bootstrap: [k:1], backoff: { baseMs: 5000, capMs: 1000 } }\n'
    const { paths, messages } = problemsOf({ file: file(text) })
    expect(paths).toEqual(['mirror.links.a.backoff.capMs'])
    expect(messages[0]).toContain('must be >= baseMs (5000)')
  })

  test('mirror config - SASL errors never echo a value that may be the password', () => {
    const text = [
      'mirror:',
      '  gatewayId: gw',
      '  links:',
      '    a: { bootstrap: [k:1], sasl: { mechanism: plain, username: u, pasword: hunter2, password: 7 } }',
    ].join('\n')
    const { paths, messages } = problemsOf({ file: file(text) })
    expect(paths).toEqual(['mirror.links.a.sasl.pasword', 'mirror.links.a.sasl.password'])
    expect(messages[0]).toContain('did you mean "password"?')
    expect(messages.join('\n')).not.toContain('hunter2')
    expect(messages[1]).toContain('(redacted)')
  })

  test('mirror config - SASL PLAIN without TLS is warned about', () => {
    const sasl = 'sasl: { mechanism: plain, username: u, password: p }'
    const plain = `mirror:\n  gatewayId: gw\n  links:\n    a: { bootstrap: [k:1], ${sasl} }\n`
    expect(resolve({ file: file(plain) }).warnings).toEqual([
      'mirror.links.a.sasl: mechanism plain without tls sends the password in clear text',
    ])
    const withTls = `mirror:\n  gatewayId: gw\n  links:\n    a: { bootstrap: [k:1], tls: true, ${sasl} }\n`
    expect(resolve({ file: file(withTls) }).warnings).toEqual([])
  })

  test('mirror config - tls is off with null or false, on with true or a mapping', () => {
    const tlsOf = (value: string) =>
      resolve({ file: file(`mirror:\n  gatewayId: gw\n  links:\n    a: { bootstrap: [k:1], tls: ${value} }\n`) })
        .options.mirror.links.a?.tls
    const on = { caFile: null, certFile: null, keyFile: null, rejectUnauthorized: true }
    expect(tlsOf('null')).toBeNull()
    expect(tlsOf('false')).toBeNull()
    expect(tlsOf('true')).toEqual(on)
    expect(tlsOf('{}')).toEqual(on)
    expect(tlsOf('{ caFile: ca.pem }')).toEqual({ ...on, caFile: 'ca.pem' })
  })
})

describe('mirror config - tls files', () => {
  const mirrorWith = (tls: MirrorLinkOptions['tls']): MirrorOptions => ({
    gatewayId: 'gw',
    links: { a: { ...defaultLink(['k:1'], 'gw'), tls } },
  })

  test('mirror tls - reads the PEM files of each link with tls on', () => {
    const dir = tempDir()
    const { certFile, keyFile, cert } = selfSignedCertificate(dir)
    const tls = { caFile: certFile, certFile, keyFile, rejectUnauthorized: false }
    const material = readMirrorTlsMaterial(mirrorWith(tls))
    expect(material.a?.ca).toEqual(cert)
    expect(material.a?.cert).toEqual(cert)
    expect(material.a?.key).toEqual(readFileSync(keyFile))
    expect(material.a?.rejectUnauthorized).toBe(false)
    expect(readMirrorTlsMaterial(mirrorWith({ ...tls, caFile: null, certFile: null, keyFile: null }))).toEqual({
      a: { rejectUnauthorized: false },
    })
    expect(readMirrorTlsMaterial(mirrorWith(null))).toEqual({})
  })

  test('mirror tls - unreadable and non-PEM files name their field', () => {
    const dir = tempDir()
    const junk = join(dir, 'junk.pem')
    writeFileSync(junk, 'not pem')
    const tls = { caFile: join(dir, 'missing.pem'), certFile: junk, keyFile: junk, rejectUnauthorized: true }
    try {
      readMirrorTlsMaterial(mirrorWith(tls))
      throw new Error('expected ConfigErrors')
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigErrors)
      const problems = (err as ConfigErrors).problems
      expect(problems.map((p) => p.path)).toEqual([
        'mirror.links.a.tls.caFile',
        'mirror.links.a.tls.certFile',
        'mirror.links.a.tls.keyFile',
      ])
      expect(problems[0]?.message).toContain('cannot read the file')
      expect(problems[1]?.message).toContain('not a PEM certificate')
      expect(problems[2]?.message).toContain('not a PEM unencrypted private key')
    }
  })
})

describe('serve - mirror', () => {
  // Port 0 everywhere: parallel test files must not collide.
  const anyPorts = ['--mqtt', '127.0.0.1:0', '--native', '127.0.0.1:0', '--http', '127.0.0.1:0']

  test('serve - --mirror-to starts a link that backs off while nothing listens, and stops cleanly', async () => {
    const dataDir = join(tempDir(), 'data')
    const cairn = startCairn([
      ...['serve', '--data-dir', dataDir, ...anyPorts],
      ...['--mirror-to', 'kafka://127.0.0.1:1', '--gateway-id', 'gw-1'],
    ])
    await cairn.waitForLine(byMsg('listening'))
    expect(cairn.lines.find(byMsg('cairn started'))?.mirror).toEqual({
      links: [{ name: 'upstream', bootstrap: ['127.0.0.1:1'], gatewayAlias: 'gw-1' }],
    })
    const failed = await cairn.waitForLine(byMsg('mirror link failed; backing off'))
    expect(failed).toMatchObject({ component: 'mirror', link: 'upstream', level: 40 })

    const stopping = Date.now()
    cairn.child.kill('SIGTERM')
    expect(await cairn.exited).toEqual({ code: 0, signal: null })
    expect(Date.now() - stopping).toBeLessThan(10_000)
    expect(cairn.lines.at(-1)).toMatchObject({ msg: 'cairn stopped' })
    expect(cairn.lines.some(byMsg('log store closed'))).toBe(true)
    expect(cairn.stderr()).toBe('')
  })

  test('serve - a link in a long backoff does not hold up shutdown', async () => {
    const dir = tempDir()
    const config = join(dir, 'cairn.yaml')
    // The first retry waits a random part of ten minutes.
    writeFileSync(
      config,
      [
        'mirror:',
        '  gatewayId: gw-1',
        '  links:',
        '    upstream:',
        '      bootstrap: ["127.0.0.1:1"]',
        '      backoff: { baseMs: 600000, capMs: 600000 }',
      ].join('\n'),
    )
    const cairn = startCairn(['serve', '--config', config, '--data-dir', join(dir, 'data'), ...anyPorts])
    await cairn.waitForLine(byMsg('mirror link failed; backing off'))
    const stopping = Date.now()
    cairn.child.kill('SIGTERM')
    expect(await cairn.exited).toEqual({ code: 0, signal: null })
    expect(Date.now() - stopping).toBeLessThan(10_000)
    expect(cairn.lines.at(-1)).toMatchObject({ msg: 'cairn stopped' })
  }, 20_000)

  test('serve - no link: the mirror is off', async () => {
    const cairn = startCairn(['serve', '--data-dir', join(tempDir(), 'data'), ...anyPorts])
    await cairn.waitForLine(byMsg('listening'))
    expect(cairn.lines.find(byMsg('cairn started'))?.mirror).toBe('off')
    cairn.child.kill('SIGTERM')
    expect((await cairn.exited).code).toBe(0)
  })

  test('serve - a mirror config error exits 2 naming it', async () => {
    const cairn = startCairn(['serve', '--data-dir', join(tempDir(), 'data'), '--mirror-to', 'kafka://k:9092'])
    expect(await cairn.exited).toEqual({ code: 2, signal: null })
    expect(cairn.stderr()).toContain('mirror.gatewayId: required to mirror')
    expect(cairn.lines).toEqual([])
  })
})
