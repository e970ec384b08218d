import { describe, expect, test } from 'vitest'
import { mirrorLinkConfigs, resolveConfig, type ConfigSources } from '../../../gateway/config.ts'
import { ConfigErrors } from '../../../src/errors.ts'

// The link options of checkpoint and heartbeat export, as gateway/config.ts reads and checks them.

const resolve = (text: string) =>
  resolveConfig({ env: {}, flags: {}, file: { name: 'cairn.yaml', text } } satisfies ConfigSources)

const linkWith = (fields: string): string =>
  `mirror:\n  gatewayId: gw-1\n  links:\n    central:\n      bootstrap: [k:9092]\n${fields
    .split('\n')
    .map((line) => `      ${line}`)
    .join('\n')}\n`

function problems(text: string): Array<[string, string]> {
  try {
    resolve(text)
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigErrors)
    return (err as ConfigErrors).problems.map((p) => [p.path, p.message])
  }
  throw new Error('expected ConfigErrors')
}

describe('checkpoints config', () => {
  test('checkpoints config - defaults: both every minute, every group', () => {
    const { options } = resolve(linkWith(''))
    expect(options.mirror.links.central).toMatchObject({
      checkpointIntervalMs: 60_000,
      heartbeatIntervalMs: 60_000,
      checkpointGroups: ['*'],
    })
    expect(mirrorLinkConfigs(options.mirror)[0]).toMatchObject({
      checkpointIntervalMs: 60_000,
      heartbeatIntervalMs: 60_000,
      checkpointGroups: ['*'],
    })
  })

  test('checkpoints config - set, and 0 turns either off', () => {
    const { options } = resolve(
      linkWith('checkpointIntervalMs: 0\nheartbeatIntervalMs: 5000\ncheckpointGroups: [billing, "app-*", "a b/c"]'),
    )
    expect(mirrorLinkConfigs(options.mirror)[0]).toMatchObject({
      checkpointIntervalMs: 0,
      heartbeatIntervalMs: 5000,
      checkpointGroups: ['billing', 'app-*', 'a b/c'],
    })
  })

  test('checkpoints config - every invalid value names its dotted path', () => {
    const found = problems(
      linkWith('checkpointIntervalMs: 500\nheartbeatIntervalMs: "1m"\ncheckpointGroups: [ok, "", 7]'),
    )
    expect(found.map(([path]) => path)).toEqual([
      'mirror.links.central.checkpointIntervalMs',
      'mirror.links.central.heartbeatIntervalMs',
      'mirror.links.central.checkpointGroups',
    ])
    expect(found[0]?.[1]).toContain('must be 0 (off) or')
    expect(found[2]?.[1]).toContain('bad: [1] "", [2] 7')
    expect(problems(linkWith('checkpointGroups: app-*')).map(([path]) => path)).toEqual([
      'mirror.links.central.checkpointGroups',
    ])
    expect(problems(linkWith('heartbeatIntervalMs: -1')).map(([path]) => path)).toEqual([
      'mirror.links.central.heartbeatIntervalMs',
    ])
  })
})
