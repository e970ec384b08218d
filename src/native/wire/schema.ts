import { BrokerError } from '../../errors.ts'
import { readUint64 } from './codec.ts'

// A small validator for native-protocol bodies: each operation's request and response is declared
// once (ops.ts) and checked by both ends, so the server and the client cannot drift apart. A failed
// check names the field (`batches[2].records[0].value`) in a CAIRN_REQUEST_INVALID error.

export type Schema<T> = (value: unknown, path: string) => T
export type Infer<S> = S extends Schema<infer T> ? T : never

function fail(path: string, expected: string, value: unknown): never {
  throw new BrokerError('CAIRN_REQUEST_INVALID', `${path} must be ${expected} (got ${describeWireValue(value)})`, {
    details: { path },
  })
}

/** A short description of a received value for error messages (never the whole value). */
export function describeWireValue(value: unknown): string {
  if (value === undefined) return 'nothing'
  if (typeof value === 'bigint') return `${value}n`
  if (value instanceof Uint8Array) return `${value.length} bytes`
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object' && value !== null) return 'a map'
  return JSON.stringify(value)
}

/** Validates `value` against `schema`; `what` prefixes the field path in errors. */
export function check<T>(schema: Schema<T>, value: unknown, what = 'body'): T {
  return schema(value, what)
}

export const text: Schema<string> = (v, path) => (typeof v === 'string' ? v : fail(path, 'a text string', v))

export const bool: Schema<boolean> = (v, path) => (typeof v === 'boolean' ? v : fail(path, 'a boolean', v))

export const bytes: Schema<Uint8Array> = (v, path) => (v instanceof Uint8Array ? v : fail(path, 'a byte string', v))

/** An integer in [min, max] sent in any CBOR integer form; comes back as a number. */
export function int(min = 0, max = Number.MAX_SAFE_INTEGER): Schema<number> {
  return (v, path) => {
    const n = typeof v === 'bigint' && v >= BigInt(min) && v <= BigInt(max) ? Number(v) : v
    if (typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max) return n
    return fail(path, `an integer in ${min}..${max}`, v)
  }
}

export const uint = int()
export const uint32 = int(0, 0xffff_ffff)

/** An offset (or other uint64) in any integer form; comes back as bigint. */
export const offset: Schema<bigint> = (v, path) => readUint64(v) ?? fail(path, 'an unsigned 64-bit integer', v)

/** Signed offset delta (reset by shift). */
export const int64: Schema<bigint> = (v, path) => {
  if (typeof v === 'bigint' && v >= -(1n << 63n) && v < 1n << 63n) return v
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v)
  return fail(path, 'a signed 64-bit integer', v)
}

export function literal<const L extends string | number>(...values: L[]): Schema<L> {
  return (v, path) =>
    values.includes(v as L) ? (v as L) : fail(path, `one of ${values.map((x) => JSON.stringify(x)).join(', ')}`, v)
}

export function nullable<T>(schema: Schema<T>): Schema<T | null> {
  return (v, path) => (v === null ? null : schema(v, path))
}

export function array<T>(item: Schema<T>, maxItems = 1_000_000): Schema<T[]> {
  return (v, path) => {
    if (!Array.isArray(v)) return fail(path, 'an array', v)
    if (v.length > maxItems) return fail(path, `an array of at most ${maxItems} items`, v)
    const out = new Array<T>(v.length)
    for (let i = 0; i < v.length; i++) out[i] = item(v[i], `${path}[${i}]`)
    return out
  }
}

/** A fixed-length array of differently typed items: `tuple(offset, uint, bytes)`. */
export function tuple<T extends unknown[]>(...items: { [K in keyof T]: Schema<T[K]> }): Schema<T> {
  return (v, path) => {
    if (!Array.isArray(v) || v.length !== items.length) return fail(path, `an array of ${items.length} items`, v)
    return items.map((schema, i) => schema(v[i], `${path}[${i}]`)) as T
  }
}

const optionalMark = Symbol('optional')
interface OptionalSchema<T> extends Schema<T | undefined> {
  [optionalMark]: true
}

/** A map field that may be absent (or null, which means the same). */
export function optional<T>(schema: Schema<T>): OptionalSchema<T> {
  const wrapped = ((v: unknown, path: string) => (v === undefined || v === null ? undefined : schema(v, path))) as
    OptionalSchema<T> | Schema<T>
  Object.defineProperty(wrapped, optionalMark, { value: true })
  return wrapped as OptionalSchema<T>
}

type Shape = Record<string, Schema<unknown>>
type RequiredKeys<S extends Shape> = { [K in keyof S]: S[K] extends OptionalSchema<unknown> ? never : K }[keyof S]
type OptionalKeys<S extends Shape> = Exclude<keyof S, RequiredKeys<S>>
export type Struct<S extends Shape> = { [K in RequiredKeys<S>]: Infer<S[K]> } & {
  [K in OptionalKeys<S>]?: Exclude<Infer<S[K]>, undefined>
}

/** A map with these fields; unknown keys are ignored (later versions may add optional fields). */
export function struct<S extends Shape>(shape: S): Schema<Struct<S>> {
  const entries = Object.entries(shape)
  return (v, path) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) {
      return fail(path, 'a map', v)
    }
    const input = v as Record<string, unknown>
    const out: Record<string, unknown> = {}
    for (const [key, schema] of entries) {
      const value = schema(input[key], path === '' ? key : `${path}.${key}`)
      if (value !== undefined) out[key] = value
    }
    return out as Struct<S>
  }
}

/** Exactly one of several map shapes, told apart by which key is present (`{earliest: true}` / `{timestamp: n}`). */
export function oneOfKeys<S extends Record<string, Schema<unknown>>>(
  variants: S,
): Schema<{ [K in keyof S]: { [P in K]: Infer<S[K]> } }[keyof S]> {
  const keys = Object.keys(variants)
  return (v, path) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) {
      return fail(path, `a map with one of ${keys.join(', ')}`, v)
    }
    const present = keys.filter((k) => (v as Record<string, unknown>)[k] !== undefined)
    const key = present[0]
    if (present.length !== 1 || key === undefined) return fail(path, `a map with exactly one of ${keys.join(', ')}`, v)
    const schema = variants[key] as Schema<unknown>
    return { [key]: schema((v as Record<string, unknown>)[key], `${path}.${key}`) } as never
  }
}
