import { describe, expect, test } from 'vitest'
import { resolveConfig } from '../../../gateway/config.ts'
import { securityDefaults, securityEnabled } from '../../../gateway/config/security.ts'
import type { ConfigErrors } from '../../../src/errors.ts'

const resolve = (text: string) => resolveConfig({ env: {}, flags: {}, file: { name: 'cairn.yaml', text } })

describe('security config', () => {
  test('security config - off by default; on once anything asks for it', () => {
    expect(resolve('').options.security).toEqual(securityDefaults)
    expect(securityEnabled(securityDefaults)).toBe(false)
    expect(securityEnabled({ ...securityDefaults, passwordFile: 'p' })).toBe(true)
    expect(securityEnabled({ ...securityDefaults, aclFile: 'a' })).toBe(true)
    expect(securityEnabled({ ...securityDefaults, allowAnonymous: false })).toBe(true)
    expect(securityEnabled({ ...securityDefaults, allowAnonymous: true })).toBe(false)
    expect(securityEnabled({ ...securityDefaults, useIdentityAsUsername: true })).toBe(true)
  })

  test('security config - the section is read and every bad value named with its path', () => {
    const options = resolve(
      'security:\n  passwordFile: /etc/cairn/passwd\n  allowAnonymous: true\n  maxFailedAttempts: 10\n',
    ).options.security
    expect(options).toEqual({
      ...securityDefaults,
      passwordFile: '/etc/cairn/passwd',
      allowAnonymous: true,
      maxFailedAttempts: 10,
    })
    let problems: string[] = []
    try {
      resolve('security:\n  passwordFile: ""\n  allowAnonymous: maybe\n  maxFailedAttempts: 0\n  password: x\n')
    } catch (error) {
      problems = (error as ConfigErrors).problems.map((p) => p.path)
    }
    expect(problems.sort()).toEqual([
      'security.allowAnonymous',
      'security.maxFailedAttempts',
      'security.password',
      'security.passwordFile',
    ])
  })
})
