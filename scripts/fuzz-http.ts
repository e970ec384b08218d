// The HTTP API fuzzer for long runs: raw request bytes to a real node:http server running the API
// (inputs and checks: test/fuzz/http-fuzz-harness.ts; the short run is test/fuzz/http-bytes-fuzz.test.ts).
// A normal produce must still work every --health-every inputs. A finding prints the input as hex: store
// it in that test's list.
//
// Run: npx node scripts/fuzz-http.ts [--seconds S] [--iterations N] [--seed N] [--hang-ms MS]
import { createHttpTarget, encodeHttpInput, makeHttpInput, type HttpInput } from '../test/fuzz/http-fuzz-harness.ts'
import { parseFuzzArgs, runFuzzer } from './fuzz-common.ts'

const healthEvery = 2000
const args = parseFuzzArgs(
  'fuzz-http',
  'Feeds the HTTP API raw, mutated, pipelined requests over in-memory connections.',
)
const target = createHttpTarget()
let outcome = ''
let runs = 0
await runFuzzer<HttpInput>(
  {
    name: 'fuzz-http',
    make: makeHttpInput,
    encode: encodeHttpInput,
    async run(input) {
      const result = await target.run(input)
      outcome = result.outcome
      if (++runs % healthEvery === 0) result.problems.push(...(await target.healthCheck()))
      return result.problems
    },
    lastOutcome: () => outcome,
    close: () => target.close(),
  },
  args,
)
