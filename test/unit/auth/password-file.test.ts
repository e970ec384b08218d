import { describe, expect, test } from 'vitest'
import {
  formatEntry,
  formatPasswordFile,
  hashPassword,
  parsePasswordFile,
  verifyPassword,
} from '../../../src/auth/password-file.ts'

// Cheap parameters: the format carries them, so tests need not pay for the defaults.
const fast = { ln: 8, r: 8, p: 1 }

describe('password file', () => {
  test('password - a hash verifies its password and no other', async () => {
    const entry = await hashPassword('alice', 'correct horse', fast)
    expect(await verifyPassword(entry, 'correct horse')).toBe(true)
    expect(await verifyPassword(entry, Buffer.from('correct horse'))).toBe(true)
    expect(await verifyPassword(entry, 'correct hors')).toBe(false)
    expect(await verifyPassword(entry, '')).toBe(false)
  })

  test('password - salts differ, so equal passwords give different lines', async () => {
    const a = await hashPassword('a', 'same', fast)
    const b = await hashPassword('a', 'same', fast)
    expect(formatEntry(a)).not.toBe(formatEntry(b))
  })

  test('password - the default parameters are scrypt N=2^14, r=8, p=1', async () => {
    const line = formatEntry(await hashPassword('u', 'p'))
    expect(line).toMatch(/^u:\$scrypt\$ln=14,r=8,p=1\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}$/)
  })

  test('password - a file round-trips, comments and blank lines ignored', async () => {
    const entries = [await hashPassword('alice', 'a', fast), await hashPassword('bob smith', 'b', fast)]
    const text = `# users\n\n${formatPasswordFile(entries)}`
    const parsed = parsePasswordFile(text)
    expect([...parsed.keys()]).toEqual(['alice', 'bob smith'])
    expect(await verifyPassword(parsed.get('bob smith')!, 'b')).toBe(true)
  })

  test('password - bad lines name the file and line, never the hash', () => {
    const message = (text: string) => {
      try {
        parsePasswordFile(text, 'passwd')
        return 'parsed'
      } catch (error) {
        return (error as Error).message
      }
    }
    expect(message('alice:secret')).toMatch(/^passwd:1: expected/)
    expect(
      message('a:$scrypt$ln=40,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='),
    ).toMatch(/^passwd:1: bad scrypt parameters/)
    const line = 'a:$scrypt$ln=8,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='
    expect(message(`${line}\n${line}`)).toBe('passwd:2: user "a" appears twice')
    expect(message('a:$scrypt$ln=8,r=8,p=1$AA==$AA==')).not.toContain('AA==')
  })
})
