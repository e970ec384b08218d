import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { describe, expect, onTestFinished, test } from 'vitest'
import { formatPasswordFile, hashPassword } from '../../../src/auth/password-file.ts'
import { SecurityPolicy, type SecurityPolicyOptions } from '../../../src/auth/security-policy.ts'
import { hasErrorCode } from '../../../src/errors.ts'
import { FakeClock } from '../../helpers/fake-clock.ts'

const fast = { ln: 8, r: 8, p: 1 }
const mqtt = { protocol: 'mqtt' as const, remoteAddress: '::ffff:10.0.0.9' }

async function files(users: Record<string, string>, acl?: string) {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-auth-'))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  const passwordFile = join(dir, 'passwd')
  const entries = await Promise.all(Object.entries(users).map(([u, p]) => hashPassword(u, p, fast)))
  writeFileSync(passwordFile, formatPasswordFile(entries))
  const aclFile = join(dir, 'acl')
  if (acl !== undefined) writeFileSync(aclFile, acl)
  return { dir, passwordFile, ...(acl === undefined ? {} : { aclFile }) }
}

function captureLogger() {
  let text = ''
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString()
      callback()
    },
  })
  return { logger: pino({ level: 'trace' }, stream), text: () => text }
}

async function policy(options: SecurityPolicyOptions) {
  return SecurityPolicy.open({ clock: new FakeClock(), ...options })
}

describe('security policy - authentication', () => {
  test('policy - right password in, wrong password and unknown user out as bad credentials', async () => {
    const p = await policy(await files({ alice: 'pw-a' }))
    const ok = await p.authenticate({ username: 'alice', password: 'pw-a', clientId: 'c' }, mqtt)
    expect(ok.ok && ok.principal.username).toBe('alice')
    expect(await p.authenticate({ username: 'alice', password: 'nope' }, mqtt)).toEqual({
      ok: false,
      reason: 'bad-credentials',
    })
    expect(await p.authenticate({ username: 'mallory', password: 'pw-a' }, mqtt)).toEqual({
      ok: false,
      reason: 'bad-credentials',
    })
    expect(await p.authenticate({ username: 'alice' }, mqtt)).toEqual({ ok: false, reason: 'bad-credentials' })
  })

  test('policy - anonymous is off once a user exists, on without users, and explicit settings win', async () => {
    const withUsers = await files({ alice: 'a' })
    expect((await policy(withUsers)).anonymousAllowed).toBe(false)
    expect(await (await policy(withUsers)).authenticate({}, mqtt)).toEqual({ ok: false, reason: 'not-authorized' })
    const anonymousOn = await policy({ ...withUsers, allowAnonymous: true })
    const result = await anonymousOn.authenticate({ clientId: 'x' }, mqtt)
    expect(result.ok && result.principal.username).toBe(undefined)
    const noUsers = await files({})
    expect((await policy(noUsers)).anonymousAllowed).toBe(true)
    expect((await policy({ ...noUsers, allowAnonymous: false })).anonymousAllowed).toBe(false)
  })

  test('policy - a certificate identity is the user name only when asked for', async () => {
    const f = await files({ alice: 'a' })
    const cert = { certificateIdentity: 'device-1' }
    expect((await (await policy(f)).authenticate(cert, mqtt)).ok).toBe(false)
    const result = await (await policy({ ...f, useIdentityAsUsername: true })).authenticate(cert, mqtt)
    expect(result.ok && result.principal.username).toBe('device-1')
  })

  test('policy - failed attempts block the source address, without checking the password', async () => {
    const clock = new FakeClock()
    const p = await SecurityPolicy.open({
      ...(await files({ alice: 'a' })),
      clock,
      failedAttempts: { maxFailures: 3, windowMs: 60_000, blockMs: 30_000 },
    })
    for (let i = 0; i < 3; i++) await p.authenticate({ username: 'alice', password: 'x' }, mqtt)
    // The same address, written the IPv4 way, is the same source.
    const blocked = await p.authenticate(
      { username: 'alice', password: 'a' },
      { protocol: 'http', remoteAddress: '10.0.0.9' },
    )
    expect(blocked).toEqual({ ok: false, reason: 'rate-limited' })
    expect(
      (await p.authenticate({ username: 'alice', password: 'a' }, { protocol: 'mqtt', remoteAddress: '10.0.0.8' })).ok,
    ).toBe(true)
    clock.set(clock.now() + 30_000)
    expect((await p.authenticate({ username: 'alice', password: 'a' }, mqtt)).ok).toBe(true)
  })

  test('policy - no password ever reaches the log', async () => {
    const capture = captureLogger()
    const p = await policy({ ...(await files({ alice: 'right-one' })), logger: capture.logger })
    await p.authenticate({ username: 'alice', password: 'WRONG-PASSWORD-42' }, mqtt)
    await p.authenticate({ username: 'alice', password: 'right-one' }, mqtt)
    await p.reload()
    expect(capture.text()).toContain('authentication failed')
    expect(capture.text()).not.toContain('WRONG-PASSWORD-42')
    expect(capture.text()).not.toContain('right-one')
  })

  test('policy - unreadable or invalid files are CAIRN_CONFIG_INVALID naming the file', async () => {
    const error = await SecurityPolicy.open({ passwordFile: '/nonexistent/passwd' }).catch((e: unknown) => e)
    expect(hasErrorCode(error, 'CAIRN_CONFIG_INVALID')).toBe(true)
    expect((error as Error).message).toContain('/nonexistent/passwd')
  })
})

describe('security policy - authorization and reload', () => {
  test('policy - without an ACL file an authenticated client may do everything', async () => {
    const p = await policy(await files({ alice: 'a' }))
    const r = await p.authenticate({ username: 'alice', password: 'a' }, mqtt)
    if (!r.ok) throw new Error('not authenticated')
    expect(r.principal.canPublish('any/topic')).toBe(true)
    expect(r.principal.can({ kind: 'stream', name: 's', action: 'admin' })).toBe(true)
  })

  test('policy - reload applies new users and new rules to open connections; a bad file keeps the old ones', async () => {
    const f = await files({ alice: 'a' }, 'user alice\ntopic write a/#\n')
    const p = await policy(f)
    const r = await p.authenticate({ username: 'alice', password: 'a', clientId: 'c' }, mqtt)
    if (!r.ok) throw new Error('not authenticated')
    expect(r.principal.canPublish('a/1')).toBe(true)
    expect(r.principal.canPublish('b/1')).toBe(false)
    writeFileSync(f.aclFile!, 'user alice\ntopic write b/#\n')
    writeFileSync(f.passwordFile, formatPasswordFile([await hashPassword('bob', 'b', fast)]))
    await p.reload()
    expect(r.principal.canPublish('a/1')).toBe(false)
    expect(r.principal.canPublish('b/1')).toBe(true)
    expect((await p.authenticate({ username: 'alice', password: 'a' }, mqtt)).ok).toBe(false)
    expect((await p.authenticate({ username: 'bob', password: 'b' }, mqtt)).ok).toBe(true)
    writeFileSync(f.aclFile!, 'user alice\nbogus line\n')
    await expect(p.reload()).rejects.toThrow(/acl:2: unknown keyword/)
    expect(r.principal.canPublish('b/1')).toBe(true)
  })

  test('policy - check() throws CAIRN_NOT_AUTHORIZED naming the action and resource', async () => {
    const p = await policy(await files({ u: 'p' }, 'user u\nstream consume s\n'))
    const r = await p.authenticate({ username: 'u', password: 'p' }, mqtt)
    if (!r.ok) throw new Error('not authenticated')
    expect(() => r.principal.check({ kind: 'stream', name: 's', action: 'consume' })).not.toThrow()
    expect(() => r.principal.check({ kind: 'stream', name: 's', action: 'produce' })).toThrow(
      'not authorized to produce stream "s"',
    )
  })
})
