import { createHmac, randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { pino, type Logger } from 'pino'
import { BrokerError } from '../errors.ts'
import { systemClock, type Clock } from '../util/clock.ts'
import { parseAclFile, ResolvedAcl, type AclFile, type AclResource } from './acl.ts'
import { FailureLimiter, type FailureLimiterOptions } from './failure-limiter.ts'
import { defaultScryptParams, parsePasswordFile, verifyPassword, type PasswordEntry } from './password-file.ts'

export interface SecurityPolicyOptions {
  /** The scrypt password file (see password-file.ts); without it only anonymous and certificate users exist. */
  passwordFile?: string | undefined
  /** The ACL file (see acl.ts); without it every authenticated client may do everything. */
  aclFile?: string | undefined
  /** undefined: anonymous clients are let in only while the password file has no users. */
  allowAnonymous?: boolean | undefined
  /** A client with a verified certificate identity and no user name is that user (mosquitto's use_identity_as_username). */
  useIdentityAsUsername?: boolean | undefined
  failedAttempts?: Partial<FailureLimiterOptions> | undefined
  /** How long a verified user/password pair is remembered, so HTTP Basic auth does not run scrypt per request. */
  verifiedCacheMs?: number | undefined
  clock?: Clock | undefined
  logger?: Logger | undefined
}

export type Protocol = 'mqtt' | 'native' | 'http'

export interface Credentials {
  username?: string | undefined
  password?: string | Buffer | undefined
  clientId?: string | undefined
  /** The verified TLS client certificate's identity (subject CN or a SAN), passed by the listener. */
  certificateIdentity?: string | undefined
}

export interface AuthSource {
  protocol: Protocol
  remoteAddress?: string | undefined
}

export type AuthFailureReason = 'bad-credentials' | 'not-authorized' | 'rate-limited'
export type AuthResult = { ok: true; principal: Principal } | { ok: false; reason: AuthFailureReason }

interface SecurityState {
  readonly users: ReadonlyMap<string, PasswordEntry>
  readonly acl: AclFile | undefined
  readonly generation: number
}

const defaultVerifiedCacheMs = 5 * 60_000
const maxVerifiedCacheEntries = 10_000
// Verifying a user that does not exist still costs one scrypt, so timing does not tell which names exist.
const dummyEntry: PasswordEntry = {
  username: '',
  params: defaultScryptParams,
  salt: Buffer.alloc(16),
  hash: Buffer.alloc(32),
}

/**
 * Who may connect and what they may do, consulted by every front end: authenticate() once per
 * connection (or HTTP request), then the returned Principal answers authorization questions from
 * rules compiled once for it. reload() re-reads the files (SIGHUP); connections keep their
 * authentication, and their next authorization uses the new rules.
 */
export class SecurityPolicy {
  readonly logger: Logger
  readonly clock: Clock
  readonly #options: SecurityPolicyOptions
  readonly #limiter: FailureLimiter
  readonly #verifiedCacheMs: number
  // HMAC keyed by a per-process secret: the cache never holds a password or a reusable hash of one.
  readonly #cacheKey = randomBytes(32)
  readonly #verified = new Map<string, { digest: string; untilMs: number }>()
  #state: SecurityState

  private constructor(options: SecurityPolicyOptions, state: SecurityState) {
    this.#options = options
    this.#state = state
    this.clock = options.clock ?? systemClock
    this.logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'auth' })
    this.#limiter = new FailureLimiter(this.clock, options.failedAttempts)
    this.#verifiedCacheMs = options.verifiedCacheMs ?? defaultVerifiedCacheMs
  }

  /** Reads the files; throws CAIRN_CONFIG_INVALID when one cannot be read or parsed. */
  static async open(options: SecurityPolicyOptions): Promise<SecurityPolicy> {
    return new SecurityPolicy(options, await load(options, 1))
  }

  /** Re-reads the password and ACL files; on failure the current rules stay and the error is thrown. */
  async reload(): Promise<void> {
    this.#state = await load(this.#options, this.#state.generation + 1)
    this.#verified.clear()
    this.logger.info({ users: this.#state.users.size, acl: this.#state.acl !== undefined }, 'users and ACLs reloaded')
  }

  get generation(): number {
    return this.#state.generation
  }

  get userCount(): number {
    return this.#state.users.size
  }

  get anonymousAllowed(): boolean {
    return this.#options.allowAnonymous ?? this.#state.users.size === 0
  }

  /** Decides a connection's (or request's) credentials. Never logs a password. */
  async authenticate(credentials: Credentials, source: AuthSource): Promise<AuthResult> {
    const address = normalizeAddress(source.remoteAddress)
    const { username, password, certificateIdentity } = credentials
    if (username === undefined && password === undefined) {
      if (certificateIdentity !== undefined && this.#options.useIdentityAsUsername === true) {
        return this.#accept(certificateIdentity, credentials)
      }
      if (this.anonymousAllowed) return this.#accept(undefined, credentials)
      this.logger.debug({ protocol: source.protocol, remoteAddress: address }, 'anonymous access refused')
      return { ok: false, reason: 'not-authorized' }
    }
    if (this.#limiter.isBlocked(address)) {
      this.logger.debug({ protocol: source.protocol, remoteAddress: address }, 'authentication refused: rate limited')
      return { ok: false, reason: 'rate-limited' }
    }
    const state = this.#state
    const entry = username === undefined ? undefined : state.users.get(username)
    const ok =
      password !== undefined &&
      username !== undefined &&
      (await this.#verify(entry ?? dummyEntry, username, password)) &&
      entry !== undefined
    if (ok) return this.#accept(username, credentials)
    const blocked = this.#limiter.recordFailure(address)
    const fields = { protocol: source.protocol, remoteAddress: address, username }
    if (blocked) this.logger.warn(fields, 'authentication failures: source address blocked for a while')
    else this.logger.info(fields, 'authentication failed')
    return { ok: false, reason: 'bad-credentials' }
  }

  async #verify(entry: PasswordEntry, username: string, password: string | Buffer): Promise<boolean> {
    const digest = createHmac('sha256', this.#cacheKey).update(username).update('\0').update(password).digest('hex')
    const cached = this.#verified.get(username)
    const now = this.clock.now()
    if (cached !== undefined && cached.untilMs > now && cached.digest === digest) return true
    const generation = this.#state.generation
    const ok = await verifyPassword(entry, password)
    if (ok && generation === this.#state.generation && entry !== dummyEntry) {
      if (this.#verified.size >= maxVerifiedCacheEntries) this.#verified.clear()
      this.#verified.set(username, { digest, untilMs: now + this.#verifiedCacheMs })
    }
    return ok
  }

  #accept(username: string | undefined, credentials: Credentials): AuthResult {
    return {
      ok: true,
      principal: new Principal(this, username, credentials.clientId, credentials.certificateIdentity),
    }
  }

  /** The compiled rules for an identity at the current generation; null = no ACL file, all allowed. */
  resolve(principal: Principal): { acl: ResolvedAcl | null; generation: number } {
    const { acl, generation } = this.#state
    return { acl: acl === undefined ? null : new ResolvedAcl(acl, principal), generation }
  }
}

const maxPublishCache = 256

/**
 * One authenticated client: its identity and the rules that apply to it, compiled on first use
 * and again only after a reload. Topic answers are cached, as publishers repeat their topics.
 */
export class Principal {
  readonly username: string | undefined
  readonly clientId: string | undefined
  readonly certificateIdentity: string | undefined
  readonly #policy: SecurityPolicy
  #generation = -1
  #acl: ResolvedAcl | null = null
  readonly #publishCache = new Map<string, boolean>()

  constructor(
    policy: SecurityPolicy,
    username: string | undefined,
    clientId: string | undefined,
    certificateIdentity: string | undefined,
  ) {
    this.#policy = policy
    this.username = username
    this.clientId = clientId
    this.certificateIdentity = certificateIdentity
  }

  #rules(): ResolvedAcl | null {
    if (this.#generation !== this.#policy.generation) {
      const { acl, generation } = this.#policy.resolve(this)
      this.#acl = acl
      this.#generation = generation
      this.#publishCache.clear()
    }
    return this.#acl
  }

  canPublish(topic: string): boolean {
    const acl = this.#rules()
    if (acl === null) return true
    let allowed = this.#publishCache.get(topic)
    if (allowed === undefined) {
      allowed = acl.canPublish(topic)
      if (this.#publishCache.size >= maxPublishCache) this.#publishCache.clear()
      this.#publishCache.set(topic, allowed)
    }
    return allowed
  }

  canSubscribe(filter: string): boolean {
    const acl = this.#rules()
    return acl === null || acl.canSubscribe(filter)
  }

  can(resource: AclResource): boolean {
    const acl = this.#rules()
    return acl === null || acl.can(resource)
  }

  /** Throws CAIRN_NOT_AUTHORIZED unless the resource is allowed. */
  check(resource: AclResource): void {
    if (!this.can(resource)) {
      throw new BrokerError(
        'CAIRN_NOT_AUTHORIZED',
        `not authorized to ${resource.action} ${resource.kind} "${resource.name}"`,
        { details: { kind: resource.kind, name: resource.name, action: resource.action } },
      )
    }
  }
}

async function load(options: SecurityPolicyOptions, generation: number): Promise<SecurityState> {
  const users =
    options.passwordFile === undefined
      ? new Map<string, PasswordEntry>()
      : parsePasswordFile(await readText(options.passwordFile), options.passwordFile)
  const acl = options.aclFile === undefined ? undefined : parseAclFile(await readText(options.aclFile), options.aclFile)
  return { users, acl, generation }
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (cause) {
    throw new BrokerError('CAIRN_CONFIG_INVALID', `cannot read ${path}: ${(cause as Error).message}`, {
      cause,
      details: { path },
    })
  }
}

/** "::ffff:10.0.0.7" and "10.0.0.7" are one source. */
function normalizeAddress(address: string | undefined): string | undefined {
  return address?.startsWith('::ffff:') === true ? address.slice(7) : address
}
