// `cairn users add|remove|passwd --file PATH USER`: manages the scrypt password file the broker reads
// (security.passwordFile). Passwords come from a prompt on a terminal, else from the first line of stdin,
// never from argv (argv is visible to every user of the box). Other lines of the file are kept as they are.

import { chmod, readFile, rename, writeFile } from 'node:fs/promises'
import type { Readable, Writable } from 'node:stream'
import { parseArgs } from 'node:util'
import { formatEntry, hashPassword, parsePasswordFile, usernameProblem } from '../../src/auth/password-file.ts'

export interface UsersIO {
  stdin: Readable
  stdout: Writable
  stderr: Writable
  stdinIsTTY: boolean
}

export const usersUsage = `Usage: cairn users add|remove|passwd --file PATH USER
  add      adds USER (fails if it exists); the password is asked for twice on a terminal, else read from stdin
  remove   removes USER
  passwd   sets a new password for USER
The broker reads the file at start and on SIGHUP.
`

const actions = ['add', 'remove', 'passwd'] as const
type Action = (typeof actions)[number]

/** Runs `cairn users ...` (argv after "users"); resolves to the exit code: 0 done, 1 failed, 2 bad usage. */
export async function runUsers(argv: readonly string[], io: UsersIO): Promise<number> {
  let action: Action
  let file: string
  let username: string
  try {
    const parsed = parseArgs({
      args: [...argv],
      options: { file: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    })
    if (parsed.values.help === true) {
      io.stdout.write(usersUsage)
      return 0
    }
    const [first, user, ...extra] = parsed.positionals
    if (first === undefined || !(actions as readonly string[]).includes(first)) {
      throw new Error(`users: expected add, remove or passwd${first === undefined ? '' : ` (got "${first}")`}`)
    }
    if (parsed.values.file === undefined) throw new Error(`users ${first}: --file PATH is required`)
    if (user === undefined) throw new Error(`users ${first}: the user name is required`)
    if (extra.length > 0)
      throw new Error(`users ${first}: unexpected argument "${extra[0]}" (passwords never go in argv)`)
    const problem = usernameProblem(user)
    if (problem !== undefined) throw new Error(`users ${first}: the user name ${problem}`)
    action = first as Action
    file = parsed.values.file
    username = user
  } catch (error) {
    io.stderr.write(`cairn: ${(error as Error).message}\n${usersUsage}`)
    return 2
  }

  try {
    const text = await readExisting(file, action === 'add')
    const users = parsePasswordFile(text, file)
    const exists = users.has(username)
    if (action === 'add' && exists) throw new Error(`user "${username}" already exists in ${file} (use passwd)`)
    if (action !== 'add' && !exists) throw new Error(`user "${username}" is not in ${file}`)
    let line: string | undefined
    if (action !== 'remove') {
      const password = await readPassword(io)
      line = formatEntry(await hashPassword(username, password))
    }
    await writeAtomically(file, replaceUser(text, username, line))
    const done = action === 'add' ? 'added' : action === 'remove' ? 'removed' : 'password changed'
    io.stdout.write(`user "${username}" ${done} in ${file}; send the broker SIGHUP to apply\n`)
    return 0
  } catch (error) {
    io.stderr.write(`cairn: users ${action}: ${(error as Error).message}\n`)
    return 1
  }
}

async function readExisting(file: string, mayBeMissing: boolean): Promise<string> {
  try {
    return await readFile(file, 'utf8')
  } catch (error) {
    if (mayBeMissing && (error as NodeJS.ErrnoException).code === 'ENOENT') return ''
    throw error
  }
}

/** The file with USER's line replaced by `line` (or removed when undefined), appended when new. */
function replaceUser(text: string, username: string, line: string | undefined): string {
  const prefix = `${username}:$scrypt$`
  const lines = text === '' ? [] : text.replace(/\r?\n$/, '').split(/\r?\n/)
  const index = lines.findIndex((l) => l.trim().startsWith(prefix))
  if (index >= 0) {
    if (line === undefined) lines.splice(index, 1)
    else lines[index] = line
  } else if (line !== undefined) lines.push(line)
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`
}

// Readers of the file never see half of it: write beside it, then rename over it. Hashes are secrets too: 0600.
async function writeAtomically(file: string, text: string): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`
  await writeFile(temporary, text, { mode: 0o600 })
  await chmod(temporary, 0o600)
  await rename(temporary, file)
}

async function readPassword(io: UsersIO): Promise<string> {
  if (!io.stdinIsTTY) {
    const text = await readAll(io.stdin)
    const password = text.split(/\r?\n/)[0] ?? ''
    if (password === '') throw new Error('no password on stdin (its first line is the password)')
    return password
  }
  const first = await promptHidden(io, 'Password: ')
  if (first === '') throw new Error('the password is empty')
  const again = await promptHidden(io, 'Password again: ')
  if (first !== again) throw new Error('the passwords do not match')
  return first
}

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer))
  return Buffer.concat(chunks).toString('utf8')
}

/** Reads one line from a terminal in raw mode without echoing it. */
function promptHidden(io: UsersIO, question: string): Promise<string> {
  io.stderr.write(question)
  const tty = io.stdin as Readable & { setRawMode?: (raw: boolean) => void }
  return new Promise((resolve, reject) => {
    let answer = ''
    const finish = (error?: Error): void => {
      tty.setRawMode?.(false)
      tty.off('data', onData)
      tty.pause()
      io.stderr.write('\n')
      if (error === undefined) resolve(answer)
      else reject(error)
    }
    const onData = (chunk: Buffer | string): void => {
      for (const ch of chunk.toString()) {
        if (ch === '\r' || ch === '\n') return finish()
        if (ch === '\u0003') return finish(new Error('interrupted'))
        if (ch === '\u007f' || ch === '\b') answer = answer.slice(0, -1)
        else answer += ch
      }
    }
    tty.setRawMode?.(true)
    tty.on('data', onData)
    tty.resume()
  })
}
