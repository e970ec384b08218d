// What the parser fuzzers (fuzz-native.ts, fuzz-http.ts, fuzz-config.ts) share: their command line, the
// loop with its statistics, the report of a finding with the input that reproduces it, and a hang
// watchdog. The watchdog is a worker thread that the loop feeds the current input through shared memory:
// when an input runs longer than --hang-ms (a synchronous loop that never returns, or an answer that
// never comes), the worker prints that input and kills the process, since the main thread is stuck.
import { randomInt } from 'node:crypto'
import { parseArgs } from 'node:util'
import { Worker } from 'node:worker_threads'
import { makeRng, type Rng } from '../test/integrity/kill9-records.ts'

export { makeRng, type Rng }

export interface FuzzArgs {
  seconds: number
  iterations: number
  seed: number
  reportEverySec: number
  hangMs: number
}

export function parseFuzzArgs(name: string, describe: string): FuzzArgs {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '60' },
      iterations: { type: 'string', default: '0' },
      seed: { type: 'string' },
      'report-every': { type: 'string', default: '10' },
      'hang-ms': { type: 'string', default: '5000' },
      help: { type: 'boolean', default: false },
    },
  })
  if (values.help) {
    console.log(`usage: npx node scripts/${name}.ts [options]
${describe}
  --seconds S        stop after S seconds (default 60; 0 = no time limit)
  --iterations N     stop after N inputs (default 0 = no limit); whichever limit comes first
  --seed N           seed of the input generator (default random; printed)
  --report-every S   statistics every S seconds (default 10)
  --hang-ms MS       an input that takes longer is a hang: printed, and the process killed (default 5000)
Exit status: 0 nothing found, 1 a finding (printed with its input as hex), 2 bad usage.`)
    process.exit(0)
  }
  const count = (flag: string, text: string): number => {
    const n = Number(text)
    if (!Number.isSafeInteger(n) || n < 0) {
      console.error(`--${flag} must be a non-negative integer, got ${text}`)
      process.exit(2)
    }
    return n
  }
  const args = {
    seconds: count('seconds', values.seconds),
    iterations: count('iterations', values.iterations),
    seed: values.seed === undefined ? randomInt(2 ** 31) : count('seed', values.seed),
    reportEverySec: Math.max(1, count('report-every', values['report-every'])),
    hangMs: Math.max(100, count('hang-ms', values['hang-ms'])),
  }
  if (args.seconds === 0 && args.iterations === 0) {
    console.error('give --seconds or --iterations (or both)')
    process.exit(2)
  }
  return args
}

/** One fuzz target: makes inputs, runs one, says what is wrong with the outcome (empty: fine). */
export interface Fuzzer<I> {
  name: string
  make(rng: Rng): I
  /** The bytes that reproduce an input (shown as hex in a finding, and fed to the watchdog). */
  encode(input: I): Uint8Array
  run(input: I): string[] | Promise<string[]>
  /** Outcome classes counted in the statistics (e.g. "accepted", "CAIRN_REQUEST_INVALID"). */
  lastOutcome?(): string
  close?(): Promise<void>
}

const watchdogSource = `
const { workerData } = require('node:worker_threads')
const { writeSync } = require('node:fs')
const { state, input, hangMs, name } = workerData
const counter = new Int32Array(state)
const bytes = new Uint8Array(input)
let seen = -1, since = Date.now()
setInterval(() => {
  const now = Atomics.load(counter, 0)
  if (now !== seen) { seen = now; since = Date.now(); return }
  if (Date.now() - since < hangMs) return
  const length = Atomics.load(counter, 1)
  const hex = Buffer.from(bytes.subarray(0, length)).toString('hex')
  writeSync(2, '\\nFINDING ' + name + ': hang, input ' + now + ' ran for more than ' + hangMs + ' ms\\n' +
    'input (hex' + (length === bytes.length ? ', cut to ' + length + ' bytes' : '') + '):\\n  ' + hex + '\\n')
  process.kill(process.pid, 'SIGKILL')
}, Math.min(250, hangMs / 4))
`

const watchdogInputBytes = 1 << 20

/** Feeds the watchdog: call before running each input. */
function startWatchdog(name: string, hangMs: number): { beat(input: Uint8Array): void; stop(): Promise<number> } {
  const state = new SharedArrayBuffer(8)
  const input = new SharedArrayBuffer(watchdogInputBytes)
  const counter = new Int32Array(state)
  const bytes = new Uint8Array(input)
  const worker = new Worker(watchdogSource, { eval: true, workerData: { state, input, hangMs, name } })
  worker.unref()
  return {
    beat(next) {
      const length = Math.min(next.length, watchdogInputBytes)
      bytes.set(next.subarray(0, length))
      Atomics.store(counter, 1, length)
      Atomics.add(counter, 0, 1)
    },
    stop: () => worker.terminate(),
  }
}

/** Runs the loop until a limit; on a finding prints it with its input and exits with status 1. */
export async function runFuzzer<I>(fuzzer: Fuzzer<I>, args: FuzzArgs): Promise<void> {
  const { name } = fuzzer
  console.log(
    `${name}: seed ${args.seed}, ${args.seconds > 0 ? `${args.seconds} s` : 'no time limit'}, ` +
      `${args.iterations > 0 ? `${args.iterations} inputs` : 'no input limit'} (reproduce: --seed ${args.seed})`,
  )
  const uncaught: unknown[] = []
  process.on('uncaughtException', (error) => uncaught.push(error))
  process.on('unhandledRejection', (reason) => uncaught.push(reason))
  const watchdog = startWatchdog(name, args.hangMs)
  const rng = makeRng(args.seed)
  const outcomes = new Map<string, number>()
  const started = performance.now()
  const deadline = args.seconds > 0 ? started + args.seconds * 1000 : Number.POSITIVE_INFINITY
  let lastReport = started
  let inputs = 0
  let lastReportInputs = 0
  const report = (final: boolean): void => {
    const now = performance.now()
    const rate = ((inputs - lastReportInputs) * 1000) / Math.max(1, now - lastReport)
    lastReport = now
    lastReportInputs = inputs
    // The commonest outcomes, and every known (reported, unfixed) finding however rare.
    const sorted = [...outcomes].sort((a, b) => b[1] - a[1])
    const classes = [...sorted.slice(0, 8), ...sorted.slice(8).filter(([k]) => k.startsWith('known'))]
    console.log(
      `${final ? 'done' : 'fuzz'} ${((now - started) / 1000).toFixed(0)} s: ${inputs} inputs ` +
        `(${Math.round(final ? (inputs * 1000) / (now - started) : rate)}/s); heap ${(process.memoryUsage().heapUsed / 1048576).toFixed(0)} MB` +
        `${classes.length > 0 ? `; ${classes.map(([k, n]) => `${k} ${n}`).join(', ')}` : ''}`,
    )
  }
  while (performance.now() < deadline && (args.iterations === 0 || inputs < args.iterations)) {
    // Checked every 64 inputs: reading the clock costs more than a tiny input.
    for (let i = 0; i < 64 && (args.iterations === 0 || inputs < args.iterations); i++) {
      let input: I
      let bytes: Uint8Array
      try {
        input = fuzzer.make(rng)
        bytes = fuzzer.encode(input)
      } catch (error) {
        console.error(
          `\n${name}: the input generator failed (a bug in the fuzzer, seed ${args.seed}, input ${inputs + 1}):`,
          error,
        )
        process.exit(2)
      }
      watchdog.beat(bytes)
      inputs++
      let problems: string[]
      try {
        problems = await fuzzer.run(input)
      } catch (error) {
        problems = [`threw: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`]
      }
      problems.push(...uncaught.splice(0).map((e) => `uncaught: ${e instanceof Error ? e.stack : String(e)}`))
      if (problems.length > 0) {
        console.error(`\nFINDING ${name} (seed ${args.seed}, input ${inputs}):\n  ${problems.join('\n  ')}`)
        console.error(`input (hex, keep it as a regression case):\n  ${Buffer.from(bytes).toString('hex')}`)
        await fuzzer.close?.().catch(() => undefined)
        process.exit(1)
      }
      const outcome = fuzzer.lastOutcome?.()
      if (outcome !== undefined) outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1)
    }
    if (performance.now() - lastReport >= args.reportEverySec * 1000) report(false)
  }
  report(true)
  await watchdog.stop()
  await fuzzer.close?.()
}
