// The config loader fuzzer for long runs (inputs and checks: test/fuzz/config-fuzz-harness.ts; the short
// run is test/fuzz/config-fuzz.test.ts). A finding prints the input as hex: store it in that test's list.
//
// Run: npx node scripts/fuzz-config.ts [--seconds S] [--iterations N] [--seed N] [--hang-ms MS]
import {
  encodeConfigInput,
  makeConfigInput,
  runConfigInput,
  type ConfigInput,
} from '../test/fuzz/config-fuzz-harness.ts'
import { parseFuzzArgs, runFuzzer } from './fuzz-common.ts'

const args = parseFuzzArgs(
  'fuzz-config',
  'Feeds gateway/config.ts mutated and random config files, environment variables, flags and command lines.',
)
let outcome = ''
await runFuzzer<ConfigInput>(
  {
    name: 'fuzz-config',
    make: makeConfigInput,
    encode: encodeConfigInput,
    run(input) {
      const result = runConfigInput(input)
      outcome = result.outcome
      return result.problems
    },
    lastOutcome: () => outcome,
  },
  args,
)
