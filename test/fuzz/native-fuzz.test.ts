// Fuzzes the native front end's request handling: well-framed requests whose operations and bodies
// are random or mutated from the golden samples, through an in-memory duplex pair. Every request
// must get exactly one answer, never CAIRN_INTERNAL (a handler that threw something other than a
// BrokerError), and the broker must still serve a normal request afterwards. The frame parser itself
// is fuzzed byte-wise in test/unit/native/wire/frame-fuzz.test.ts.
//
// Reproduce a failure with the seed fast-check prints: it is deterministic for a given seed.
import { duplexPair } from 'node:stream'
import fc from 'fast-check'
import { pino } from 'pino'
import { describe, expect, onTestFinished, test } from 'vitest'
import { GroupCoordinator } from '../../src/groups/group-coordinator.ts'
import { NativeFrontEnd } from '../../src/native/native-front-end.ts'
import { encodeFrame, FrameDecoder } from '../../src/native/wire/frame.ts'
import { parseResponse, type Response } from '../../src/native/wire/frames.ts'
import { ops, type OpName } from '../../src/native/wire/ops.ts'
import { openTempStore } from '../helpers/temp-store.ts'
import { samples } from '../unit/native/wire/ops-samples.ts'

const opNames = Object.keys(ops) as OpName[]

/** Plain wire data, with the shapes our schemas look for (small ints, offsets as bigint, bytes, names in use). */
const wireValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom(null, true, false, 0, 1, -1, 2 ** 31, 0n, 7n, -1n, 2n ** 64n - 1n, 'sensors', 'etl', '', 'm-1'),
    fc.integer(),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
    fc.string({ maxLength: 12 }),
    fc.uint8Array({ maxLength: 16 }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(
      fc.constantFrom('stream', 'partition', 'offset', 'group', 'records', 'value', 'key', 'at', 'to', 'memberId', 'x'),
      tie('value'),
      { maxKeys: 4 },
    ),
  ),
})).value

/** A golden sample with one field somewhere replaced by a random value (or removed). */
function mutate(value: unknown, path: number[], replacement: unknown): unknown {
  if (path.length === 0) return replacement
  const [step, ...rest] = path as [number, ...number[]]
  if (Array.isArray(value) && value.length > 0) {
    const copy: unknown[] = [...(value as unknown[])]
    const i = step % value.length
    copy[i] = mutate(value[i], rest, replacement) ?? null
    return copy
  }
  if (typeof value === 'object' && value !== null && !(value instanceof Uint8Array)) {
    const keys = Object.keys(value)
    if (keys.length === 0) return replacement
    const key = keys[step % keys.length] as string
    const changed = mutate((value as Record<string, unknown>)[key], rest, replacement)
    const copy: Record<string, unknown> = { ...value }
    if (changed === undefined) delete copy[key]
    else copy[key] = changed
    return copy
  }
  return replacement
}

const request = fc.oneof(
  fc.record({ op: fc.constantFrom(...opNames), body: wireValue }),
  fc
    .record({
      op: fc.constantFrom(...opNames),
      path: fc.array(fc.nat(), { maxLength: 6 }),
      replacement: fc.oneof(wireValue, fc.constant(undefined)),
    })
    .map(({ op, path, replacement }) => ({ op, body: mutate(samples[op].request, path, replacement) })),
  fc.record({ op: fc.string({ maxLength: 10 }), body: wireValue }),
)

class Peer {
  readonly responses = new Map<number, Response[]>()
  #waiters: Array<() => void> = []
  readonly #side: ReturnType<typeof duplexPair>[0]

  constructor(side: ReturnType<typeof duplexPair>[0]) {
    this.#side = side
    const decoder = new FrameDecoder({
      maxFrameBytes: 64 << 20,
      onFrame: (v) => {
        const r = parseResponse(v)
        this.responses.set(r.id, [...(this.responses.get(r.id) ?? []), r])
        for (const wake of this.#waiters.splice(0)) wake()
      },
    })
    side.on('data', (chunk: Buffer) => decoder.push(chunk))
  }

  send(value: unknown): void {
    this.#side.write(encodeFrame(value))
  }

  async answer(id: number): Promise<Response> {
    for (;;) {
      const r = this.responses.get(id)?.[0]
      if (r !== undefined) return r
      await new Promise<void>((resolve) => this.#waiters.push(resolve))
    }
  }
}

describe('native fuzz', () => {
  test('native fuzz - random and mutated requests each get one answer, never an internal error', async () => {
    const { store, clock } = openTempStore()
    const logger = pino({ level: 'silent' })
    const groups = new GroupCoordinator({ store, clock, logger })
    const frontEnd = new NativeFrontEnd({ store, groups, clock, logger })
    // Registered after the store's own cleanup, so it runs first.
    onTestFinished(async () => {
      await frontEnd.close()
      groups.close()
    })
    store.createStream('sensors', { partitions: 2 })
    store.createStream('out')
    const [client, server] = duplexPair()
    frontEnd.handle(server)
    const peer = new Peer(client)
    peer.send({ v: 1, id: 0, op: 'hello', body: { versions: [1], clientId: 'fuzz' } })
    expect((await peer.answer(0)).status).toBe(0)
    let id = 1
    await fc.assert(
      fc.asyncProperty(request, async ({ op, body }) => {
        const mine = id++
        // maxWaitMs would make a fetch wait for data that never comes: the fuzzer does not wait.
        const bounded = op === 'fetch' && typeof body === 'object' && body !== null ? { ...body, maxWaitMs: 0 } : body
        peer.send(bounded === undefined ? { v: 1, id: mine, op } : { v: 1, id: mine, op, body: bounded })
        if (op === 'produce' && (bounded as { acks?: unknown } | null)?.acks === 0) return
        const answer = await peer.answer(mine)
        expect(answer.error?.code, JSON.stringify(answer.error)).not.toBe('CAIRN_INTERNAL')
        expect(peer.responses.get(mine)).toHaveLength(1)
      }),
      { numRuns: 3000 },
    )
    // Still serving normal requests.
    peer.send({ v: 1, id: id, op: 'metadata', body: {} })
    expect((await peer.answer(id)).status).toBe(0)
  }, 120_000)
})
