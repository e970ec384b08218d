// `cairn users` in-process (runUsers with injected streams); gateway-auth.test.ts runs it once as a real process.

import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { describe, expect, test } from 'vitest'
import { parsePasswordFile, verifyPassword } from '../../../src/auth/password-file.ts'
import { runUsers } from '../../../gateway/tools/users.ts'
import { tempDir } from '../../gateway/cairn-process.ts'

async function users(args: string[], input = '') {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ''
  let err = ''
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()))
  const code = await runUsers(args, { stdin: Readable.from([input]), stdout, stderr, stdinIsTTY: false })
  return { code, stdout: out, stderr: err }
}

describe('users cli', () => {
  test('users - add, passwd and remove; other lines are kept as they are', async () => {
    const file = join(tempDir(), 'passwd')
    writeFileSync(file, '# managed by cairn users\n')
    expect(await users(['add', '--file', file, 'alice'], 'first\n')).toMatchObject({ code: 0 })
    expect((await users(['add', '--file', file, 'bob'], 'b\r\n')).code).toBe(0)
    const before = readFileSync(file, 'utf8').split('\n')
    expect(before[0]).toBe('# managed by cairn users')
    expect(readFileSync(file, 'utf8')).not.toContain('first')
    const parsed = parsePasswordFile(readFileSync(file, 'utf8'))
    expect(await verifyPassword(parsed.get('alice')!, 'first')).toBe(true)
    expect(await verifyPassword(parsed.get('bob')!, 'b')).toBe(true)

    const again = await users(['add', '--file', file, 'alice'], 'again\n')
    expect(again.code).toBe(1)
    expect(again.stderr).toContain('already exists')
    expect((await users(['passwd', '--file', file, 'alice'], 'second\n')).code).toBe(0)
    const after = readFileSync(file, 'utf8').split('\n')
    expect(after[2]).toBe(before[2]) // bob untouched
    expect(await verifyPassword(parsePasswordFile(after.join('\n')).get('alice')!, 'second')).toBe(true)
    expect((await users(['remove', '--file', file, 'bob'])).code).toBe(0)
    expect([...parsePasswordFile(readFileSync(file, 'utf8')).keys()]).toEqual(['alice'])
    expect((await users(['remove', '--file', file, 'bob'])).code).toBe(1)
    expect((await users(['passwd', '--file', file, 'nobody'], 'x\n')).code).toBe(1)
  })

  test('users - bad usage is exit code 2 and names the problem; no password in argv', async () => {
    const file = join(tempDir(), 'passwd')
    const argvPassword = await users(['add', '--file', file, 'carol', 'secret'])
    expect(argvPassword.code).toBe(2)
    expect(argvPassword.stderr).toContain('passwords never go in argv')
    expect((await users(['add', 'carol'])).stderr).toContain('--file PATH is required')
    expect((await users(['rename', '--file', file, 'x'])).code).toBe(2)
    expect((await users(['add', '--file', file, 'a:b'], 'x\n')).stderr).toContain('contains ":"')
    const noPassword = await users(['add', '--file', file, 'dave'])
    expect(noPassword.code).toBe(1)
    expect(noPassword.stderr).toContain('no password on stdin')
  })
})
