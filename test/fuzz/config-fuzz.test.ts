// Fuzzes the config loader (gateway/config.ts) with a few thousand mutated and random configurations
// (see config-fuzz-harness.ts): resolveConfig may only return or throw ConfigErrors, parseCommandLine
// only return or throw a UsageError. Stored inputs that once found a problem run first.
// Long runs: npx node scripts/fuzz-config.ts --seconds 300
//
// Reproduce a failure with the seed it prints: CAIRN_TEST_SEED=<seed> npx vitest run test/fuzz/config-fuzz.test.ts
import { randomInt } from 'node:crypto'
import { expect, test } from 'vitest'
import { resolveConfig } from '../../gateway/config.ts'
import { decodeConfigInput, encodeConfigInput, makeConfigInput, runConfigInput } from './config-fuzz-harness.ts'
import { makeRng } from '../integrity/kill9-records.ts'

const iterations = 2_000
const seed = process.env.CAIRN_TEST_SEED ? Number(process.env.CAIRN_TEST_SEED) : randomInt(2 ** 31)

/** Inputs (JSON, or hex as the script prints them) that found problems; replayed on every run. */
const regressions: Array<{ name: string; input: string }> = [
  {
    // An empty key: its problem's path is "" (the key itself), which the first version of the check refused.
    name: 'empty-key',
    input: JSON.stringify({ kind: 'config', env: {}, flags: {}, file: { name: 'c.yaml', text: '"": a\n' } }),
  },
  {
    name: 'anchors-and-proto-keys',
    input: JSON.stringify({
      kind: 'config',
      env: { CAIRN_DATA_DIR: 'constructor' },
      flags: {},
      file: { name: 'c.yaml', text: 'x: &a [1, *a]\nstreams:\n  constructor:\n    partitions: 2\n' },
    }),
  },
]

test('config loader - mutated and random configurations only ever give ConfigErrors', () => {
  console.log(
    `[config-fuzz] seed ${seed} (reproduce: CAIRN_TEST_SEED=${seed} npx vitest run test/fuzz/config-fuzz.test.ts)`,
  )
  for (const { name, input } of regressions)
    expect(runConfigInput(decodeConfigInput(input)).problems, `regression ${name}`).toEqual([])
  const rng = makeRng(seed)
  const outcomes = new Map<string, number>()
  for (let i = 1; i <= iterations; i++) {
    const input = makeConfigInput(rng)
    const { problems, outcome } = runConfigInput(input)
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1)
    if (problems.length > 0)
      throw new Error(
        `input ${i} (seed ${seed}):\n  ${problems.join('\n  ')}\ninput (hex, keep it as a regression case): ` +
          Buffer.from(encodeConfigInput(input)).toString('hex'),
      )
  }
  console.log(`[config-fuzz] ${iterations} inputs: ${[...outcomes].map(([k, n]) => `${k} ${n}`).join(', ')}`)
  // The fuzz reaches both sides: valid configurations and refused ones.
  expect(outcomes.get('valid') ?? 0).toBeGreaterThan(0)
  expect(outcomes.get('ConfigErrors') ?? 0).toBeGreaterThan(0)
}, 60_000)

// Found by scripts/fuzz-config.ts: a stream name that is an Object.prototype member made resolveConfig throw
// a TypeError instead of ConfigErrors, and a stream or link called __proto__ was silently dropped.
test('config loader - names that are Object.prototype members are names like any other', () => {
  for (const name of ['__proto__', 'constructor', 'toString']) {
    const outcome = runConfigInput({
      kind: 'config',
      env: {},
      flags: {},
      file: { name: 'c.yaml', text: `mqtt:\n  sessionStream: ${name}\n` },
    })
    expect(outcome.outcome).not.toMatch(/^known/)
  }
  expect(() =>
    resolveConfig({ env: {}, flags: {}, file: { name: 'c.yaml', text: 'mqtt:\n  sessionStream: toString\n' } }),
  ).not.toThrow(TypeError)
  const text = 'streams:\n  __proto__: { partitions: 2 }\n  constructor: { partitions: 3 }\n'
  const { options } = resolveConfig({ env: {}, flags: {}, file: { name: 'c.yaml', text } })
  expect(Object.keys(options.streams).sort()).toEqual(['__proto__', 'constructor', 'mqtt'])
  expect(options.streams['__proto__']?.partitions).toBe(2)
})
