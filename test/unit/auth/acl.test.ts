import { describe, expect, test } from 'vitest'
import { filterCovers, parseAclFile, ResolvedAcl, type AclIdentity } from '../../../src/auth/acl.ts'

const acl = parseAclFile(`
# anonymous clients
topic read public/#

user alice
topic readwrite sensors/alice/#
topic write cmd/+/set
stream produce,consume readings
group consume dash-*

user bob
topic read sensors/#
stream all bob-*
group all bob

cert device-17.example
topic write devices/cert/#

pattern write devices/%u/#
pattern read inbox/%c/#
pattern stream produce telemetry-%u
pattern group consume %c-*
`)

const who = (username: string | undefined, clientId = 'c1', certificateIdentity?: string): AclIdentity => ({
  username,
  clientId,
  certificateIdentity,
})

describe('acl - topics', () => {
  test('acl - user rules allow what they say and nothing else', () => {
    const alice = new ResolvedAcl(acl, who('alice'))
    expect(alice.canPublish('sensors/alice/t1')).toBe(true)
    expect(alice.canPublish('sensors/alice')).toBe(true) // `#` covers the parent level
    expect(alice.canPublish('sensors/bob/t1')).toBe(false)
    expect(alice.canPublish('cmd/x/set')).toBe(true)
    expect(alice.canSubscribe('cmd/x/set')).toBe(false) // write only
    expect(alice.canSubscribe('sensors/alice/#')).toBe(true)
    expect(alice.canSubscribe('sensors/+/t1')).toBe(false) // could match sensors/bob/t1
    expect(alice.canSubscribe('public/#')).toBe(false) // anonymous rules are not alice's
  })

  test('acl - anonymous clients get the rules before the first user line, plus patterns', () => {
    const anonymous = new ResolvedAcl(acl, who(undefined, 'dev9'))
    expect(anonymous.canSubscribe('public/#')).toBe(true)
    expect(anonymous.canSubscribe('inbox/dev9/#')).toBe(true)
    expect(anonymous.canPublish('devices/dev9/x')).toBe(false) // %u has no value
  })

  test('acl - %u and %c substitute the user name and client id', () => {
    const bob = new ResolvedAcl(acl, who('bob', 'phone'))
    expect(bob.canPublish('devices/bob/temp')).toBe(true)
    expect(bob.canPublish('devices/alice/temp')).toBe(false)
    expect(bob.canSubscribe('inbox/phone/+')).toBe(true)
    expect(bob.canSubscribe('inbox/other/+')).toBe(false)
  })

  test('acl - a user name or client id with wildcards or a slash does not widen a pattern', () => {
    expect(new ResolvedAcl(acl, who('#')).canPublish('devices/x/y')).toBe(false)
    expect(new ResolvedAcl(acl, who('a/b')).canPublish('devices/a/b/c')).toBe(false)
    expect(new ResolvedAcl(acl, who('bob', '+')).canSubscribe('inbox/+/x')).toBe(false)
    expect(new ResolvedAcl(acl, who('a*')).can({ kind: 'stream', name: 'telemetry-abc', action: 'produce' })).toBe(
      false,
    )
  })

  test('acl - certificate identities have their own rules', () => {
    const device = new ResolvedAcl(acl, who('someone', 'd', 'device-17.example'))
    expect(device.canPublish('devices/cert/x')).toBe(true)
    expect(new ResolvedAcl(acl, who('someone')).canPublish('devices/cert/x')).toBe(false)
  })

  test('acl - filter coverage follows MQTT matching, $ topics included', () => {
    const covers = (rule: string, target: string, isFilter = true) =>
      filterCovers(rule.split('/'), target.split('/'), isFilter)
    expect(covers('#', 'a/b/#')).toBe(true)
    expect(covers('#', '$SYS/#')).toBe(false) // [MQTT-4.7.2-1]
    expect(covers('+/#', '$SYS/x', false)).toBe(false)
    expect(covers('$SYS/#', '$SYS/broker/x', false)).toBe(true)
    expect(covers('a/+', 'a/+')).toBe(true)
    expect(covers('a/+', 'a/#')).toBe(false)
    expect(covers('a/b', 'a/+')).toBe(false)
    expect(covers('a/#', 'a')).toBe(true)
    expect(covers('a/+/c', 'a/b/c', false)).toBe(true)
    expect(covers('a/+/c', 'a/b/c/d', false)).toBe(false)
  })
})

describe('acl - streams and groups', () => {
  test('acl - stream and group rules, globs and patterns', () => {
    const alice = new ResolvedAcl(acl, who('alice', 'app'))
    expect(alice.can({ kind: 'stream', name: 'readings', action: 'produce' })).toBe(true)
    expect(alice.can({ kind: 'stream', name: 'readings', action: 'admin' })).toBe(false)
    expect(alice.can({ kind: 'stream', name: 'readings2', action: 'consume' })).toBe(false)
    expect(alice.can({ kind: 'group', name: 'dash-1', action: 'consume' })).toBe(true)
    expect(alice.can({ kind: 'group', name: 'dash-1', action: 'admin' })).toBe(false)
    expect(alice.can({ kind: 'stream', name: 'telemetry-alice', action: 'produce' })).toBe(true)
    expect(alice.can({ kind: 'group', name: 'app-x', action: 'consume' })).toBe(true)
    const bob = new ResolvedAcl(acl, who('bob'))
    expect(bob.can({ kind: 'stream', name: 'bob-1', action: 'admin' })).toBe(true)
    expect(bob.can({ kind: 'group', name: 'bob', action: 'admin' })).toBe(true)
    // A glob's dots are literal.
    expect(
      new ResolvedAcl(parseAclFile('user u\nstream consume a.b'), who('u')).can({
        kind: 'stream',
        name: 'axb',
        action: 'consume',
      }),
    ).toBe(false)
  })
})

describe('acl - file errors', () => {
  test('acl - each problem names the file and line', () => {
    const message = (text: string) => {
      try {
        parseAclFile(text, 'acl.conf')
        return 'parsed'
      } catch (error) {
        return (error as Error).message
      }
    }
    expect(message('user a\nfrobnicate x')).toMatch(/^acl\.conf:2: unknown keyword "frobnicate"/)
    expect(message('topic read a/#/b')).toMatch(/^acl\.conf:1: topic filter "a\/#\/b"/)
    expect(message('stream eat s')).toMatch(/^acl\.conf:1: stream action "eat"/)
    expect(message('topic deny a')).toMatch(/deny/)
    expect(message('user')).toMatch(/needs a name/)
  })

  test('acl - access defaults to readwrite, as in mosquitto', () => {
    const rules = new ResolvedAcl(parseAclFile('user u\ntopic a/b'), who('u'))
    expect(rules.canPublish('a/b')).toBe(true)
    expect(rules.canSubscribe('a/b')).toBe(true)
  })
})
