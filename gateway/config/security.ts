// The `security:` section: users, ACLs, anonymous access and the failed-attempt limiter. Parsed
// here and hooked into config.ts; the files themselves are read by SecurityPolicy (src/auth) at start
// and on every SIGHUP.

import type { Logger } from 'pino'
import { SecurityPolicy } from '../../src/auth/security-policy.ts'
import type { Reloadable } from '../reload.ts'

export interface SecurityOptions {
  /** scrypt password file managed with `cairn users`; null: no users. */
  passwordFile: string | null
  /** ACL file (mosquitto-like, plus stream and group rules); null: authenticated clients may do everything. */
  aclFile: string | null
  /** null: anonymous clients are let in only while the password file has no users. */
  allowAnonymous: boolean | null
  /** A client with a verified TLS certificate and no user name is the user named by its certificate identity. */
  useIdentityAsUsername: boolean
  /** Failed authentications one source address may make per window before it is refused for a while. */
  maxFailedAttempts: number
  failedAttemptWindowMs: number
  failedAttemptBlockMs: number
}

export const securityDefaults: SecurityOptions = {
  passwordFile: null,
  aclFile: null,
  allowAnonymous: null,
  useIdentityAsUsername: false,
  maxFailedAttempts: 5,
  failedAttemptWindowMs: 60_000,
  failedAttemptBlockMs: 60_000,
}

type Checked<T> = { value: T } | { error: string }

const maxTimerMs = 2 ** 31 - 1

function path(value: unknown): Checked<string | null> {
  if (value === null) return { value: null }
  return typeof value === 'string' && value !== '' ? { value } : { error: 'must be a file path or null' }
}

function integerIn(min: number, max: number): (value: unknown) => Checked<number> {
  return (value) =>
    typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max
      ? { value }
      : { error: `must be an integer from ${min} to ${max}` }
}

/** One check per key of the section, in config.ts's readSection shape. */
export const securityChecks: { [K in keyof SecurityOptions]: (value: unknown) => Checked<SecurityOptions[K]> } = {
  passwordFile: path,
  aclFile: path,
  allowAnonymous: (value) =>
    value === null || typeof value === 'boolean' ? { value } : { error: 'must be true, false or null (automatic)' },
  useIdentityAsUsername: (value) => (typeof value === 'boolean' ? { value } : { error: 'must be true or false' }),
  maxFailedAttempts: integerIn(1, 1_000_000),
  failedAttemptWindowMs: integerIn(1, maxTimerMs),
  failedAttemptBlockMs: integerIn(0, maxTimerMs),
}

/** Whether anything asks for security; otherwise the broker runs as without the section (anonymous, all allowed). */
export function securityEnabled(options: SecurityOptions): boolean {
  return (
    options.passwordFile !== null ||
    options.aclFile !== null ||
    options.allowAnonymous === false ||
    options.useIdentityAsUsername
  )
}

/** The policy for the section, or undefined when security is off. Throws CAIRN_CONFIG_INVALID for unreadable files. */
export async function openSecurityPolicy(
  options: SecurityOptions,
  logger: Logger,
): Promise<SecurityPolicy | undefined> {
  if (!securityEnabled(options)) return undefined
  return SecurityPolicy.open({
    passwordFile: options.passwordFile ?? undefined,
    aclFile: options.aclFile ?? undefined,
    allowAnonymous: options.allowAnonymous ?? undefined,
    useIdentityAsUsername: options.useIdentityAsUsername,
    failedAttempts: {
      maxFailures: options.maxFailedAttempts,
      windowMs: options.failedAttemptWindowMs,
      blockMs: options.failedAttemptBlockMs,
    },
    logger,
  })
}

/** SIGHUP re-reads the password and ACL files (their contents are not options, so on every reload). */
export function securityReloadable(policy: Pick<SecurityPolicy, 'reload'>): Reloadable {
  return {
    name: 'users and ACLs',
    paths: [],
    always: true,
    apply: () => policy.reload(),
  }
}
