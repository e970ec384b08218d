// gateway/cairn.example.yaml against the defaults in code, walked generically: an option added to `defaults`
// (by anyone) fails here until the example shows it, at its default, with a comment.

import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import YAML, { isMap, isScalar, type YAMLMap } from 'yaml'
import { configFileEnvVar, defaults, resolveConfig } from '../../gateway/config.ts'
import { ConfigErrors } from '../../src/errors.ts'

const text = readFileSync(new URL('../../gateway/cairn.example.yaml', import.meta.url), 'utf8')
const resolve = (env: Record<string, string> = {}) =>
  resolveConfig({ file: { name: 'cairn.example.yaml', text }, env, flags: {} })

const isMapping = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * Every path of `defaults` the example lacks. A mapping in the defaults is entered when the example has a mapping
 * there too; a scalar in its place is a short form (a listener's `1883` for { host, port }) whose value the
 * resolution test checks.
 */
function missingPaths(inCode: unknown, inExample: unknown, path: string[] = []): string[] {
  if (!isMapping(inCode) || !isMapping(inExample)) return []
  return Object.entries(inCode).flatMap(([key, value]) =>
    Object.hasOwn(inExample, key) ? missingPaths(value, inExample[key], [...path, key]) : [[...path, key].join('.')],
  )
}

/** The paths of every mapping in a parsed document, the root included. */
function mappingPaths(value: unknown, path: string[] = []): string[][] {
  if (!isMapping(value)) return []
  return [path, ...Object.entries(value).flatMap(([key, child]) => mappingPaths(child, [...path, key]))]
}

/** Keys of the example with no comment of their own or of the run of keys they belong to. */
function uncommented(map: YAMLMap, path: string[] = []): string[] {
  return map.items.flatMap((pair, i) => {
    const key = isScalar(pair.key) ? String(pair.key.value) : '?'
    const keyPath = [...path, key]
    const keyNode = isScalar(pair.key) ? pair.key : undefined
    // A block map's first comment belongs to the map; a comment may also introduce a run of keys with no blank
    // line between them (checkpointIntervalMs and heartbeatIntervalMs, say).
    const own = Boolean(keyNode?.commentBefore) || (i === 0 && Boolean(map.commentBefore))
    const inRun = i > 0 && keyNode?.spaceBefore !== true
    const children = isMap(pair.value) ? uncommented(pair.value, keyPath) : []
    // A section is documented by its keys; an option (anything else) by a comment.
    return own || inRun || isMap(pair.value) ? children : [keyPath.join('.'), ...children]
  })
}

describe('config example', () => {
  test('config example - it resolves to exactly the defaults', () => {
    expect(resolve()).toEqual({ options: defaults, warnings: [] })
  })

  test('config example - every option in the defaults appears in it', () => {
    expect(missingPaths(defaults, YAML.parse(text))).toEqual([])
  })

  test('config example - the walk finds an option left out', () => {
    const withExtra = { ...defaults, storage: { ...defaults.storage, newOption: 1 }, newSection: { a: 1 } }
    expect(missingPaths(withExtra, YAML.parse(text))).toEqual(['storage.newOption', 'newSection'])
  })

  test('config example - every option has a comment', () => {
    const doc = YAML.parseDocument(text)
    expect(doc.errors).toEqual([])
    expect(isMap(doc.contents)).toBe(true)
    expect(uncommented(doc.contents as YAMLMap)).toEqual([])
    // And the check sees a missing one.
    const bare = YAML.parseDocument(text.replace('\nlogLevel: info\n', '\nlogLevel: info\n\nlonely: 1\n'))
    expect(uncommented(bare.contents as YAMLMap)).toEqual(['lonely'])
  })

  test('config example - an unknown key is an error at every level, named by its path', () => {
    // Every mapping of the example, and of a mirror link with every field set, gets a key nobody knows.
    const link = { bootstrap: ['k:9092'], naming: { policy: 'prefix' }, backoff: { baseMs: 1000 }, sasl: null }
    const tree = YAML.parse(text) as Record<string, unknown>
    const withLink = { ...tree, mirror: { gatewayId: 'gw', links: { upstream: link } } }
    const paths = mappingPaths(withLink)
    expect(paths).toContainEqual(['mirror', 'links', 'upstream', 'backoff'])
    for (const path of paths) {
      const doc = structuredClone(withLink)
      let target: Record<string, unknown> = doc
      for (const key of path) target = target[key] as Record<string, unknown>
      target['zzUnknown'] = 1
      let problems: string[] = []
      try {
        resolveConfig({ file: { name: 'x.yaml', text: JSON.stringify(doc) }, env: {}, flags: {} })
      } catch (err) {
        if (!(err instanceof ConfigErrors)) throw err
        problems = err.problems.map((p) => p.path)
      }
      expect(problems, [...path, 'zzUnknown'].join('.')).toContain([...path, 'zzUnknown'].join('.'))
    }
  })

  test('config example - every environment variable it names exists', () => {
    // Written "(env CAIRN_X)" or "env CAIRN_X"; other CAIRN_ words are error codes.
    const named = new Set([...text.matchAll(/\benv (CAIRN_[A-Z_]+)\b/g)].map((m) => m[1] ?? ''))
    expect(named.size).toBeGreaterThan(5)
    for (const name of named) {
      if (name === configFileEnvVar) continue
      let warnings: string[] = []
      try {
        warnings = resolve({ [name]: 'x' }).warnings
      } catch (err) {
        // "x" is not a valid value for most variables: refused as a value, so the variable is known.
        expect(err).toBeInstanceOf(ConfigErrors)
      }
      expect(warnings, name).toEqual([])
    }
    expect(resolve({ CAIRN_DATADIR: '/x' }).warnings).toEqual([
      'ignoring unknown environment variable CAIRN_DATADIR; did you mean CAIRN_DATA_DIR?',
    ])
  })
})
