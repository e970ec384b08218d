import { BrokerError } from '../errors.ts'
import type { RouteHandler } from './context.ts'
import { requestInvalid } from './http-errors.ts'

// A small path router: a route is a path pattern ("/api/v1/streams/:name") with one handler per
// method. Segments are matched after percent-decoding, so "%2F" inside a name never splits a path.

export type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE'

export interface Route {
  readonly path: string
  readonly methods: Partial<Record<Method, RouteHandler>>
}

interface CompiledRoute {
  readonly route: Route
  readonly segments: ReadonlyArray<{ literal: string } | { param: string }>
}

export interface RouteMatch {
  readonly route: Route
  readonly params: Record<string, string>
}

export type Dispatch =
  | { kind: 'handler'; handler: RouteHandler; params: Record<string, string>; path: string }
  | { kind: 'options'; allow: string }

export class Router {
  readonly #routes: CompiledRoute[]

  constructor(routes: readonly Route[]) {
    this.#routes = routes.map((route) => ({
      route,
      segments: route.path
        .split('/')
        .filter((s) => s !== '')
        .map((s) => (s.startsWith(':') ? { param: s.slice(1) } : { literal: s })),
    }))
  }

  /** The route for a path (without query), or undefined; a malformed escape is CAIRN_REQUEST_INVALID. */
  match(pathname: string): RouteMatch | undefined {
    const raw = pathname.split('/')
    // "/a/b" and "/a/b/" are the same path; "/a//b" is not a path of ours.
    if (raw[0] !== '') return undefined
    raw.shift()
    if (raw.length > 1 && raw.at(-1) === '') raw.pop()
    const segments = raw.map(decodeSegment)
    for (const { route, segments: pattern } of this.#routes) {
      if (pattern.length !== segments.length) continue
      const params: Record<string, string> = {}
      let ok = true
      for (let i = 0; i < pattern.length && ok; i++) {
        const p = pattern[i]
        const s = segments[i] as string
        if (p === undefined) ok = false
        else if ('literal' in p) ok = p.literal === s
        else if (s === '') ok = false
        else params[p.param] = s
      }
      if (ok) return { route, params }
    }
    return undefined
  }

  /**
   * The handler for a method and path. Unknown path: 404; a method the path does not take: 405
   * (both CAIRN_OPERATION_UNKNOWN). HEAD runs the GET handler (Node sends no body for HEAD).
   */
  dispatch(method: string, pathname: string): Dispatch {
    const found = this.match(pathname)
    if (found === undefined) {
      throw new BrokerError('CAIRN_OPERATION_UNKNOWN', `no such resource: ${pathname.slice(0, 200)}`, {
        details: { path: pathname },
      })
    }
    const { route, params } = found
    const key = method === 'HEAD' ? 'GET' : method
    const handler = Object.hasOwn(route.methods, key) ? route.methods[key as Method] : undefined
    if (handler !== undefined) return { kind: 'handler', handler, params, path: route.path }
    const allow = allowed(route)
    if (method === 'OPTIONS') return { kind: 'options', allow }
    throw new BrokerError(
      'CAIRN_OPERATION_UNKNOWN',
      `method ${method} is not allowed on ${route.path} (allowed: ${allow})`,
      {
        details: { httpStatus: 405, allow },
      },
    )
  }
}

/** The Allow header value for a route. */
export function allowed(route: Route): string {
  const methods: string[] = Object.keys(route.methods)
  if (methods.includes('GET')) methods.push('HEAD')
  return methods.join(', ')
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    throw requestInvalid('path', `has a malformed percent-escape in ${JSON.stringify(segment)}`)
  }
}
