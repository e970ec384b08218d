// Byte-level HTTP API fuzz (see http-fuzz-harness.ts): raw, pipelined, mutated requests to a real
// node:http server running the API over in-memory connections. Complements
// test/integration/http/fuzz.test.ts (fast-check over real sockets with fetch). Long runs:
// npx node scripts/fuzz-http.ts --seconds 300
//
// Reproduce a failure with the seed it prints: CAIRN_TEST_SEED=<seed> npx vitest run test/fuzz/http-bytes-fuzz.test.ts
import { randomInt } from 'node:crypto'
import { expect, onTestFinished, test } from 'vitest'
import { makeRng } from '../integrity/kill9-records.ts'
import {
  createHttpTarget,
  decodeHttpInput,
  encodeHttpInput,
  makeHttpInput,
  type HttpInput,
} from './http-fuzz-harness.ts'

const iterations = 1_500
const seed = process.env.CAIRN_TEST_SEED ? Number(process.env.CAIRN_TEST_SEED) : randomInt(2 ** 31)

/** Inputs (hex, as scripts/fuzz-http.ts prints them) that found problems; replayed on every run. */
const regressions: Array<{ name: string; hex: string }> = [
  {
    // HEAD answers have a length and no body: the harness' response parser first read on into the next one.
    name: 'head-then-malformed-request',
    hex: Buffer.concat([
      Buffer.from('[]\n'),
      Buffer.from(
        'HEAD /readyz?topic=9007199254740993 HTTP/1.1\r\nHost: fz\r\nContent-Length: 38\r\n\r\n' +
          '{"topic":"t","partition":0,"offset":1}get /api/v1/consumer-groups/g/offsets HTTP/1.1\r\nHost: fz\r\n\r\n',
      ),
    ]).toString('hex'),
  },
]

function request(text: string): HttpInput {
  return { bytes: Buffer.from(text), chunks: [] }
}

test('http api - raw, pipelined, mutated requests: JSON errors, no 500, no hang, still serving', async () => {
  console.log(
    `[http-bytes-fuzz] seed ${seed} (reproduce: CAIRN_TEST_SEED=${seed} npx vitest run test/fuzz/http-bytes-fuzz.test.ts)`,
  )
  const target = createHttpTarget()
  onTestFinished(() => target.close())
  const check = async (input: HttpInput, where: string): Promise<string> => {
    const { problems, outcome } = await target.run(input)
    if (problems.length > 0)
      throw new Error(
        `${where} (seed ${seed}):\n  ${problems.join('\n  ')}\ninput (hex, keep it as a regression case): ` +
          Buffer.from(encodeHttpInput(input)).toString('hex'),
      )
    return outcome
  }
  for (const { name, hex } of regressions) await check(decodeHttpInput(hex), `regression ${name}`)
  const rng = makeRng(seed)
  const outcomes = new Map<string, number>()
  for (let i = 1; i <= iterations; i++) {
    const outcome = await check(makeHttpInput(rng), `input ${i}`)
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1)
    if (i % 500 === 0) expect(await target.healthCheck(), `health after input ${i}`).toEqual([])
  }
  console.log(`[http-bytes-fuzz] ${iterations} inputs: ${[...outcomes].map(([k, n]) => `${k} ${n}`).join(', ')}`)
  expect(outcomes.get('200') ?? 0).toBeGreaterThan(0)
  expect(outcomes.get('400') ?? 0).toBeGreaterThan(0)
}, 60_000)

// Found by scripts/fuzz-http.ts.
test('http api - pipelined request with Expect: 100-continue gets a well-formed answer', async () => {
  const target = createHttpTarget()
  onTestFinished(() => target.close())
  const { outcome } = await target.run(
    request(
      'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' +
        'POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n21.5',
    ),
  )
  expect(outcome).not.toMatch(/^known/)
})

test('http api - a client leaving mid-body is not logged as an error', async () => {
  const target = createHttpTarget()
  onTestFinished(() => target.close())
  const { outcome } = await target.run(
    request('PATCH /api/v1/streams/t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n{}\r\n0\r\n\r\n'),
  )
  expect(outcome).not.toMatch(/^known/)
})
