// The Reloader without a process: which reloadable gets which change, failures, and overlapping reloads.

import { pino } from 'pino'
import { describe, expect, test } from 'vitest'
import { defaults, resolveConfig, type LoadedConfig } from '../../gateway/config.ts'
import { changedPaths, covers, Reloader, type Reloadable } from '../../gateway/reload.ts'
import { logLevelReloadable, mirrorRateReloadable } from '../../gateway/reloadables.ts'
import { until } from '../helpers/wait.ts'

const silent = pino({ level: 'silent' })

function loaded(text: string): LoadedConfig {
  return { ...resolveConfig({ file: { name: 'cairn.yaml', text }, env: {}, flags: {} }), tls: null, mirrorTls: {} }
}

/** A reloader whose configuration source is the text in `file.text`. */
function reloaderFor(initial: string) {
  const file = { text: initial }
  const reloader = new Reloader({ initial: loaded(initial), load: () => loaded(file.text), logger: silent })
  return { reloader, file }
}

function recorder(name: string, paths: string[], fail = false) {
  const calls: LoadedConfig[] = []
  const reloadable: Reloadable = {
    name,
    paths,
    apply: (next) => {
      calls.push(next)
      if (fail) throw new Error(`${name} refuses`)
    },
  }
  return { reloadable, calls }
}

const link = (rate: number) =>
  `mirror:\n  gatewayId: gw\n  links:\n    a:\n      bootstrap: ['k:9092']\n      maxBytesPerSec: ${rate}\n`

describe('reloader', () => {
  test('reloader - changed paths are the deepest differing keys; lists compare whole', () => {
    expect(changedPaths({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { b: 2, c: [1, 2] }, d: 1 })).toEqual([['a', 'b']])
    expect(changedPaths({ a: { c: [1, 2] } }, { a: { c: [2, 1] } })).toEqual([['a', 'c']])
    expect(changedPaths({ a: {} }, { a: { x: { y: 1 } } })).toEqual([['a', 'x']])
    expect(changedPaths({ a: null }, { a: { y: 1 } })).toEqual([['a']])
  })

  test('reloader - a pattern covers its path and everything below; * is one key', () => {
    expect(covers('mirror.links.*.maxBytesPerSec', ['mirror', 'links', 'up', 'maxBytesPerSec'])).toBe(true)
    expect(covers('mirror.links.*.maxBytesPerSec', ['mirror', 'links', 'up', 'batchMaxBytes'])).toBe(false)
    // A whole link added or removed is not a rate change.
    expect(covers('mirror.links.*.maxBytesPerSec', ['mirror', 'links', 'up'])).toBe(false)
    expect(covers('security.users', ['security', 'users', 'alice', 'password'])).toBe(true)
  })

  test('reloader - each change goes to the reloadable owning it; the rest need a restart', async () => {
    const { reloader, file } = reloaderFor('logLevel: info\n')
    const level = recorder('level', ['logLevel'])
    const other = recorder('other', ['storage'])
    reloader.register(level.reloadable)
    reloader.register(other.reloadable)
    file.text = 'logLevel: debug\nmqtt:\n  receiveMaximum: 10\n'
    const outcome = await reloader.reload()
    expect(outcome).toEqual({
      result: 'applied',
      applied: ['logLevel'],
      needsRestart: ['mqtt.receiveMaximum'],
      failed: [],
      problems: [],
    })
    expect(level.calls).toHaveLength(1)
    expect(other.calls).toHaveLength(0)
    // What runs now: the new level, the old receive maximum (it needs a restart).
    expect(reloader.running.options.logLevel).toBe('debug')
    expect(reloader.running.options.mqtt.receiveMaximum).toBe(defaults.mqtt.receiveMaximum)
    // Asked again: the level is in effect, the restart is still pending.
    expect(await reloader.reload()).toMatchObject({
      result: 'unchanged',
      applied: [],
      needsRestart: ['mqtt.receiveMaximum'],
    })
    expect(level.calls).toHaveLength(1)
  })

  test('reloader - an invalid configuration changes nothing and reports every problem', async () => {
    const { reloader, file } = reloaderFor('logLevel: info\n')
    const level = recorder('level', ['logLevel'])
    reloader.register(level.reloadable)
    file.text = 'logLevel: loud\nlisteners:\n  mqtt: -1\n'
    const outcome = await reloader.reload()
    expect(outcome.result).toBe('invalid')
    expect(outcome.problems.map((p) => p.split(':')[0])).toEqual(['logLevel', 'listeners.mqtt'])
    expect(level.calls).toHaveLength(0)
    expect(reloader.running.options.logLevel).toBe('info')
  })

  test('reloader - a failing reloadable keeps its paths at their running values; others still apply', async () => {
    const { reloader, file } = reloaderFor('logLevel: info\n')
    const broken = recorder('broken', ['storage.maxDiskBytes'], true)
    const level = recorder('level', ['logLevel'])
    reloader.register(broken.reloadable)
    reloader.register(level.reloadable)
    file.text = 'logLevel: warn\nstorage:\n  maxDiskBytes: 1000000\n'
    const outcome = await reloader.reload()
    expect(outcome).toMatchObject({ result: 'failed', applied: ['logLevel'], failed: ['broken'] })
    expect(reloader.running.options.storage.maxDiskBytes).toBeNull()
    // So the next reload tries it again.
    await reloader.reload()
    expect(broken.calls).toHaveLength(2)
  })

  test('reloader - always-reloadables run on every valid reload; unregistered ones no more', async () => {
    const { reloader } = reloaderFor('')
    const certificates = recorder('certificates', ['tls'])
    const unregister = reloader.register({ ...certificates.reloadable, always: true })
    expect((await reloader.reload()).result).toBe('unchanged')
    expect(certificates.calls).toHaveLength(1)
    unregister()
    await reloader.reload()
    expect(certificates.calls).toHaveLength(1)
  })

  test('reloader - reloads asked for during one run after it, folded into one', async () => {
    let loads = 0
    const initial = loaded('')
    const reloader = new Reloader({ initial, load: () => (loads++, initial), logger: silent })
    let release: () => void = () => {}
    reloader.register({ name: 'slow', paths: [], always: true, apply: () => new Promise<void>((r) => (release = r)) })
    const first = reloader.reload()
    const second = reloader.reload()
    const third = reloader.reload()
    expect(second).toBe(third)
    expect(loads).toBe(1)
    release()
    await first
    await until(() => loads === 2, 'the queued reload')
    release()
    await second
    expect(loads).toBe(2)
  })

  test('reloader - the built-in reloadables set the root level and the changed link rates', async () => {
    const root = pino({ level: 'info' })
    const child = root.child({ component: 'x' })
    const rates: [string, number][] = []
    const { reloader, file } = reloaderFor(`logLevel: info\n${link(0)}`)
    reloader.register(logLevelReloadable(root))
    reloader.register(mirrorRateReloadable({ setMaxBytesPerSec: (name, rate) => rates.push([name, rate]) }))
    file.text = `logLevel: debug\n${link(2048)}`
    expect((await reloader.reload()).applied).toEqual(['logLevel', 'mirror.links.a.maxBytesPerSec'])
    expect(child.isLevelEnabled('debug')).toBe(true)
    expect(rates).toEqual([['a', 2048]])
  })

  test('reloader - a bad option path is refused at registration', () => {
    const { reloader } = reloaderFor('')
    expect(() => reloader.register({ name: 'x', paths: ['a..b'], apply: () => {} })).toThrow(TypeError)
  })
})
