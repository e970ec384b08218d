// The native protocol fuzzer for long runs: frame decoder inputs and whole client connections to the
// real NativeFrontEnd (inputs and checks: test/fuzz/native-fuzz-harness.ts; the short run is
// test/fuzz/native-bytes-fuzz.test.ts). A normal client must still be served every --health-every inputs.
// A finding prints the input as hex: store it in that test's list.
//
// Run: npx node scripts/fuzz-native.ts [--seconds S] [--iterations N] [--seed N] [--hang-ms MS]
import {
  createNativeTarget,
  encodeNativeInput,
  makeNativeInput,
  type NativeInput,
} from '../test/fuzz/native-fuzz-harness.ts'
import { parseFuzzArgs, runFuzzer } from './fuzz-common.ts'

const healthEvery = 2000
const args = parseFuzzArgs(
  'fuzz-native',
  'Feeds the native frame decoder and the native front end mutated frames and request streams.',
)
const target = createNativeTarget()
let outcome = ''
let runs = 0
await runFuzzer<NativeInput>(
  {
    name: 'fuzz-native',
    make: makeNativeInput,
    encode: encodeNativeInput,
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
