import { randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto'
import { BrokerError } from '../errors.ts'

/*
  The password file: one user per line, like mosquitto_passwd's, but with scrypt (RFC 7914):

    alice:$scrypt$ln=14,r=8,p=1$<salt, base64>$<hash, base64>

  `ln` is log2(N). Blank lines and lines starting with '#' are ignored. The parameters travel with
  each hash, so stronger defaults later do not invalidate existing lines.
*/

export interface ScryptParams {
  /** log2 of the CPU/memory cost N. Memory per hash is 128 * N * r bytes (16 MiB at ln=14, r=8). */
  ln: number
  r: number
  p: number
}

export const defaultScryptParams: ScryptParams = { ln: 14, r: 8, p: 1 }
const saltBytes = 16
const hashBytes = 32
// Bounds on parameters read from a file, so a crafted line cannot make one verification take
// gigabytes or minutes.
const maxLn = 20
const maxR = 32
const maxP = 16

export interface PasswordEntry {
  readonly username: string
  readonly params: ScryptParams
  readonly salt: Buffer
  readonly hash: Buffer
}

function scrypt(password: Buffer, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const N = 2 ** params.ln
  const options: ScryptOptions = { N, r: params.r, p: params.p, maxmem: 256 * N * params.r + 1024 * 1024 }
  // The async form runs on the libuv pool: scrypt is slow by design and must not block the event loop.
  return new Promise((resolve, reject) => {
    scryptCallback(password, salt, hashBytes, options, (err, key) => (err === null ? resolve(key) : reject(err)))
  })
}

/** A user name the file can hold: no ':' (the separator), no control characters, not a comment. */
export function usernameProblem(username: string): string | undefined {
  if (username.length === 0) return 'is empty'
  if (Buffer.byteLength(username) > 256) return 'is longer than 256 bytes'
  if (username.includes(':')) return 'contains ":"'
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(username)) return 'contains a control character'
  if (username.startsWith('#')) return 'starts with "#"'
  if (username.trim() !== username) return 'starts or ends with white space'
  return undefined
}

/** Hashes a password with a fresh random salt. */
export async function hashPassword(
  username: string,
  password: string | Buffer,
  params: ScryptParams = defaultScryptParams,
): Promise<PasswordEntry> {
  const salt = randomBytes(saltBytes)
  const hash = await scrypt(toBuffer(password), salt, params)
  return { username, params, salt, hash }
}

/** Whether `password` is this entry's; constant-time in the comparison of hashes. */
export async function verifyPassword(entry: PasswordEntry, password: string | Buffer): Promise<boolean> {
  const candidate = await scrypt(toBuffer(password), entry.salt, entry.params)
  return candidate.length === entry.hash.length && timingSafeEqual(candidate, entry.hash)
}

export function formatEntry(entry: PasswordEntry): string {
  const { ln, r, p } = entry.params
  return `${entry.username}:$scrypt$ln=${ln},r=${r},p=${p}$${entry.salt.toString('base64')}$${entry.hash.toString('base64')}`
}

export function formatPasswordFile(entries: Iterable<PasswordEntry>): string {
  let text = ''
  for (const entry of entries) text += `${formatEntry(entry)}\n`
  return text
}

/**
 * Parses a password file. Throws CAIRN_CONFIG_INVALID naming the file (`source`) and line; the
 * message never contains a hash.
 */
export function parsePasswordFile(text: string, source = 'password file'): Map<string, PasswordEntry> {
  const entries = new Map<string, PasswordEntry>()
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim()
    if (line === '' || line.startsWith('#')) continue
    const bad = (problem: string): BrokerError =>
      new BrokerError('CAIRN_CONFIG_INVALID', `${source}:${i + 1}: ${problem}`, { details: { path: source } })
    const colon = line.lastIndexOf(':$scrypt$')
    if (colon <= 0) throw bad('expected "user:$scrypt$ln=..,r=..,p=..$salt$hash"')
    const username = line.slice(0, colon)
    const problem = usernameProblem(username)
    if (problem !== undefined) throw bad(`user name ${problem}`)
    const parts = line.slice(colon + ':$scrypt$'.length).split('$')
    const params = parseParams(parts[0] ?? '')
    if (params === undefined) throw bad('bad scrypt parameters (ln 1-20, r 1-32, p 1-16)')
    const salt = Buffer.from(parts[1] ?? '', 'base64')
    const hash = Buffer.from(parts[2] ?? '', 'base64')
    if (parts.length !== 3 || salt.length < 8 || hash.length < 16) throw bad('bad salt or hash')
    if (entries.has(username)) throw bad(`user "${username}" appears twice`)
    entries.set(username, { username, params, salt, hash })
  }
  return entries
}

function parseParams(text: string): ScryptParams | undefined {
  const m = /^ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})$/.exec(text)
  if (m === null) return undefined
  const params = { ln: Number(m[1]), r: Number(m[2]), p: Number(m[3]) }
  const ok =
    params.ln >= 1 && params.ln <= maxLn && params.r >= 1 && params.r <= maxR && params.p >= 1 && params.p <= maxP
  return ok ? params : undefined
}

function toBuffer(password: string | Buffer): Buffer {
  return typeof password === 'string' ? Buffer.from(password, 'utf8') : password
}
