import { BrokerError } from '../errors.ts'
import { validateTopicFilter } from '../topics/topics.ts'

/*
  The ACL file, mosquitto's acl_file semantics plus rules for streams and groups:

    # before any user/cert line: rules for anonymous clients only
    topic read public/#

    user alice                        # rules for user alice (the rest of the line is the name)
    topic readwrite sensors/alice/#   # topic [read|write|readwrite] FILTER (readwrite when omitted)
    stream produce,consume readings   # stream ACTIONS NAME   actions: produce consume admin all
    group consume dash-*              # group ACTIONS NAME    actions: consume admin all; '*' globs

    cert device-17.example            # rules for a client whose verified certificate identity is this

    pattern write devices/%u/#        # for everyone: %u = user name, %c = client id
    pattern stream produce telemetry-%u
    pattern group consume %u-*

  Everything not allowed is denied. A substitution whose value could widen the rule (a '+', '#' or
  '/' in a topic, a '*' in a name) makes that rule not apply, as mosquitto does.
*/

export type TopicAccess = 'read' | 'write'
export type StreamAction = 'produce' | 'consume' | 'admin'
export type GroupAction = 'consume' | 'admin'

export type AclResource =
  { kind: 'stream'; name: string; action: StreamAction } | { kind: 'group'; name: string; action: GroupAction }

export interface AclIdentity {
  /** undefined = anonymous. */
  readonly username: string | undefined
  readonly clientId: string | undefined
  readonly certificateIdentity: string | undefined
}

interface TopicRule {
  readonly read: boolean
  readonly write: boolean
  readonly filter: string
}
interface NameRule {
  readonly actions: ReadonlySet<string>
  readonly glob: string
}
interface RuleSet {
  readonly topics: TopicRule[]
  readonly streams: NameRule[]
  readonly groups: NameRule[]
}

export interface AclFile {
  readonly anonymous: RuleSet
  readonly users: ReadonlyMap<string, RuleSet>
  readonly certs: ReadonlyMap<string, RuleSet>
  readonly patterns: RuleSet
}

const streamActions = new Set(['produce', 'consume', 'admin'])
const groupActions = new Set(['consume', 'admin'])

function emptyRuleSet(): RuleSet {
  return { topics: [], streams: [], groups: [] }
}

/** Parses an ACL file; throws CAIRN_CONFIG_INVALID naming the source and line. */
export function parseAclFile(text: string, source = 'acl file'): AclFile {
  const anonymous = emptyRuleSet()
  const patterns = emptyRuleSet()
  const users = new Map<string, RuleSet>()
  const certs = new Map<string, RuleSet>()
  let current = anonymous
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim()
    if (line === '' || line.startsWith('#')) continue
    const bad = (problem: string): BrokerError =>
      new BrokerError('CAIRN_CONFIG_INVALID', `${source}:${i + 1}: ${problem}`, { details: { path: source } })
    const [keyword, rest] = splitWord(line)
    switch (keyword) {
      case 'user':
      case 'cert': {
        if (rest === '') throw bad(`"${keyword}" needs a name`)
        const map = keyword === 'user' ? users : certs
        current = map.get(rest) ?? emptyRuleSet()
        map.set(rest, current)
        break
      }
      case 'topic':
        current.topics.push(parseTopicRule(rest, bad))
        break
      case 'stream':
      case 'group':
        ;(keyword === 'stream' ? current.streams : current.groups).push(parseNameRule(keyword, rest, bad))
        break
      case 'pattern': {
        const [sub, subRest] = splitWord(rest)
        if (sub === 'stream') patterns.streams.push(parseNameRule('stream', subRest, bad))
        else if (sub === 'group') patterns.groups.push(parseNameRule('group', subRest, bad))
        else patterns.topics.push(parseTopicRule(rest, bad))
        break
      }
      default:
        throw bad(`unknown keyword "${keyword}" (expected user, cert, topic, pattern, stream or group)`)
    }
  }
  return { anonymous, users, certs, patterns }
}

function parseTopicRule(text: string, bad: (problem: string) => BrokerError): TopicRule {
  let [access, filter] = splitWord(text)
  if (access === 'deny') throw bad('"deny" rules are not supported: everything not allowed is denied')
  if (access !== 'read' && access !== 'write' && access !== 'readwrite') {
    access = 'readwrite'
    filter = text
  }
  if (filter === '') throw bad('a topic rule needs a topic filter')
  const check = validateTopicFilter(filter)
  if (!check.ok) throw bad(`topic filter ${JSON.stringify(filter)}: ${check.reason}`)
  return { read: access !== 'write', write: access !== 'read', filter }
}

function parseNameRule(kind: 'stream' | 'group', text: string, bad: (problem: string) => BrokerError): NameRule {
  const [actionList, glob] = splitWord(text)
  const allowed = kind === 'stream' ? streamActions : groupActions
  const actions = new Set<string>()
  for (const action of actionList.split(',')) {
    if (action === 'all') for (const a of allowed) actions.add(a)
    else if (allowed.has(action)) actions.add(action)
    else throw bad(`${kind} action "${action}" (expected ${[...allowed, 'all'].join(', ')})`)
  }
  if (glob === '' || /\s/.test(glob)) throw bad(`a ${kind} rule needs one name or pattern`)
  return { actions, glob }
}

function splitWord(text: string): [string, string] {
  const m = /^(\S+)\s*(.*)$/.exec(text)
  return m === null ? ['', ''] : [m[1] ?? '', (m[2] ?? '').trim()]
}

/**
 * The rules of one identity, compiled once (per connection, per ACL generation): topic filters as
 * level arrays, stream and group patterns as anchored regular expressions.
 */
export class ResolvedAcl {
  readonly #read: string[][] = []
  readonly #write: string[][] = []
  readonly #names = new Map<string, RegExp[]>()

  constructor(file: AclFile, identity: AclIdentity) {
    const sets: RuleSet[] = []
    if (identity.username === undefined) sets.push(file.anonymous)
    else {
      const user = file.users.get(identity.username)
      if (user !== undefined) sets.push(user)
    }
    if (identity.certificateIdentity !== undefined) {
      const cert = file.certs.get(identity.certificateIdentity)
      if (cert !== undefined) sets.push(cert)
    }
    for (const set of sets) this.#add(set, (s) => s)
    this.#add(file.patterns, (s, forTopic) => substitute(s, identity, forTopic))
  }

  #add(set: RuleSet, expand: (s: string, forTopic: boolean) => string | undefined): void {
    for (const rule of set.topics) {
      const filter = expand(rule.filter, true)
      if (filter === undefined) continue
      const levels = filter.split('/')
      if (rule.read) this.#read.push(levels)
      if (rule.write) this.#write.push(levels)
    }
    for (const [kind, rules] of [
      ['stream', set.streams],
      ['group', set.groups],
    ] as const) {
      for (const rule of rules) {
        const glob = expand(rule.glob, false)
        if (glob === undefined) continue
        const re = globToRegExp(glob)
        for (const action of rule.actions) {
          const key = `${kind}:${action}`
          const list = this.#names.get(key) ?? []
          list.push(re)
          this.#names.set(key, list)
        }
      }
    }
  }

  /** Whether a PUBLISH to this topic name is allowed. */
  canPublish(topic: string): boolean {
    const levels = topic.split('/')
    return this.#write.some((rule) => filterCovers(rule, levels, false))
  }

  /** Whether a SUBSCRIBE to this filter is allowed: a read rule must cover every topic it can match. */
  canSubscribe(filter: string): boolean {
    const levels = filter.split('/')
    return this.#read.some((rule) => filterCovers(rule, levels, true))
  }

  can(resource: AclResource): boolean {
    const list = this.#names.get(`${resource.kind}:${resource.action}`)
    return list !== undefined && list.some((re) => re.test(resource.name))
  }
}

function substitute(template: string, identity: AclIdentity, forTopic: boolean): string | undefined {
  if (!template.includes('%')) return template
  let out = template
  for (const [token, value] of [
    ['%u', identity.username],
    ['%c', identity.clientId],
  ] as const) {
    if (!out.includes(token)) continue
    if (value === undefined || value === '') return undefined
    if (forTopic ? /[+#/]/.test(value) : value.includes('*')) return undefined
    out = out.replaceAll(token, value)
  }
  return out
}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*')
  return new RegExp(`^${body}$`, 's')
}

/**
 * Whether a rule filter covers `target`: a topic name (every level literal), or with `isFilter`
 * a subscription filter, which is covered only if every topic it can match is matched by the rule.
 */
export function filterCovers(rule: readonly string[], target: readonly string[], isFilter: boolean): boolean {
  const first = rule[0]
  // [MQTT-4.7.2-1] a rule starting with a wildcard does not reach topics starting with '$'.
  if ((first === '+' || first === '#') && (target[0] ?? '').startsWith('$')) return false
  for (let i = 0; i < rule.length; i++) {
    const r = rule[i]
    if (r === '#') return true // also the parent level: `a/#` covers `a` (MQTT 5.0 §4.7.1.2)
    if (i >= target.length) return false
    const t = target[i]
    if (isFilter && t === '#') return false
    if (r === '+') continue
    if (r !== t || (isFilter && t === '+')) return false
  }
  return target.length === rule.length
}
