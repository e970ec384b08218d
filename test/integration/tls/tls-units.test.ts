import type { PeerCertificate } from 'node:tls'
import { describe, expect, test } from 'vitest'
import { resolveConfig } from '../../../gateway/config.ts'
import { ConnectionLimiter, normalizeAddress } from '../../../gateway/connection-limits.ts'
import { identityOf, tlsReloadable } from '../../../gateway/tls.ts'
import { ConfigErrors } from '../../../src/errors.ts'
import { PublishRate } from '../../../src/mqtt/limits.ts'
import { FakeClock } from '../../helpers/fake-clock.ts'

const peer = (subject: Record<string, unknown>, subjectaltname?: string) =>
  ({ subject, ...(subjectaltname === undefined ? {} : { subjectaltname }) }) as unknown as PeerCertificate

describe('tls - certificate identity', () => {
  test('identity - CN, or the first SAN of the configured type, quoted entries included', () => {
    const cert = peer({ CN: 'device-1' }, 'DNS:a.example, DNS:b.example, email:ops@example.com, URI:"spiffe://x/a,b"')
    expect(identityOf(cert, 'cn')).toBe('device-1')
    expect(identityOf(cert, 'san-dns')).toBe('a.example')
    expect(identityOf(cert, 'san-email')).toBe('ops@example.com')
    expect(identityOf(cert, 'san-uri')).toBe('spiffe://x/a,b')
  })

  test('identity - none when the type is missing, or the subject has several CNs', () => {
    expect(identityOf(peer({ CN: 'x' }), 'san-dns')).toBeUndefined()
    expect(identityOf(peer({ CN: ['x', 'y'] }), 'cn')).toBeUndefined()
    expect(identityOf(peer({ O: 'fleet' }), 'cn')).toBeUndefined()
  })
})

describe('limits - units', () => {
  test('publish rate - a burst of one second, then the steady rate', () => {
    const clock = new FakeClock()
    const rate = new PublishRate(10, clock)
    expect(Array.from({ length: 11 }, () => rate.take())).toEqual([...Array<boolean>(10).fill(true), false])
    clock.advance(100)
    expect([rate.take(), rate.take()]).toEqual([true, false])
    clock.advance(10_000)
    expect(Array.from({ length: 11 }, () => rate.take()).filter(Boolean)).toHaveLength(10)
  })

  test('addresses - an IPv4-mapped IPv6 address counts as the IPv4 one', () => {
    expect(normalizeAddress('::ffff:10.0.0.7')).toBe('10.0.0.7')
    expect(normalizeAddress('::1')).toBe('::1')
    expect(new ConnectionLimiter({ maxConnections: 0, maxConnectionsPerAddress: 0 }).open).toBe(0)
  })
})

describe('tls - configuration', () => {
  const resolve = (text: string) => resolveConfig({ env: {}, flags: {}, file: { name: 'cairn.yaml', text } })
  const problems = (text: string): string[] => {
    try {
      resolve(text)
    } catch (err) {
      if (err instanceof ConfigErrors) return err.problems.map((p) => p.message)
      throw err
    }
    return []
  }

  test('config - the TLS listeners need certificate and key; mTLS needs client CAs; ciphers are checked', () => {
    const text = 'listeners:\n  https: 8443\ntls:\n  clientAuth: required\n  ciphers: NOT-A-CIPHER\n'
    expect(problems(text)).toEqual([
      'tls.certFile: required when listeners.https is on (got null)',
      'tls.keyFile: required when listeners.https is on (got null)',
      'tls.clientCaFile: required when tls.clientAuth is required (got null)',
      expect.stringMatching(/^tls\.ciphers: .*cipher/),
    ])
  })

  test('config - limits and the new listeners are read from the file', () => {
    const text = [
      'listeners:\n  nativeTls: 7884\n  mqttWss: 8084\ntls:\n  certFile: c.pem\n  keyFile: k.pem',
      '  clientAuth: optional\n  clientCaFile: ca.pem\n  identityFrom: san-uri',
      'limits:\n  maxConnections: 5\n  maxConnectionsPerAddress: 2\n  nativeHelloTimeoutMs: 500',
      'mqtt:\n  maxSessions: 7\n  maxSubscriptionsPerClient: 3\n  maxPublishesPerSec: 9',
    ].join('\n')
    const { options } = resolve(text)
    expect(options.listeners.nativeTls).toEqual({ host: null, port: 7884 })
    expect(options.tls).toMatchObject({ clientAuth: 'optional', clientCaFile: 'ca.pem', identityFrom: 'san-uri' })
    expect(options.limits).toMatchObject({ maxConnections: 5, maxConnectionsPerAddress: 2, nativeHelloTimeoutMs: 500 })
    expect(options.mqtt).toMatchObject({ maxSessions: 7, maxSubscriptionsPerClient: 3, maxPublishesPerSec: 9 })
    expect(problems('limits:\n  maxConnections: -1\n  httpHeadersTimeoutMs: 5\n')).toHaveLength(2)
  })

  test('reload - the reloadable owns the certificate paths, re-reads on every reload, and skips a config without TLS', () => {
    const reloaded: unknown[] = []
    const reloadable = tlsReloadable({ reloadTls: (material) => reloaded.push(material) })
    expect(reloadable.always).toBe(true)
    expect(reloadable.paths).toContain('tls.certFile')
    expect(reloadable.paths).not.toContain('tls.clientAuth')
    const config = { tls: null } as unknown as Parameters<typeof reloadable.apply>[0]
    void reloadable.apply(config, config)
    expect(reloaded).toEqual([])
  })
})
