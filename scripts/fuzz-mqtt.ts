// The long-running MQTT front-end fuzzer: the inputs and checks of test/fuzz/mqtt-fuzz.test.ts (see
// test/fuzz/mqtt-fuzz-harness.ts), for as long as asked, with statistics and the heap after a full GC
// every --report-every seconds (a leak shows as a heap that keeps growing from report to report).
// Stops at the first finding, prints the input as hex (keep it as a regression case in the test) and
// exits with status 1.
//
// Run: npx node --expose-gc scripts/fuzz-mqtt.ts [--seconds S] [--iterations N] [--seed N]

import { randomInt } from 'node:crypto'
import { rmSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import {
  createFuzzTarget,
  healthCheck,
  heapAfterGc,
  inputToHex,
  makeInput,
  makeRng,
  runInput,
  type FuzzInput,
} from '../test/fuzz/mqtt-fuzz-harness.ts'

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    iterations: { type: 'string', default: '0' },
    seed: { type: 'string' },
    'report-every': { type: 'string', default: '10' },
    'health-every': { type: 'string', default: '1000' },
    'max-heap-growth-mb': { type: 'string', default: '64' },
    help: { type: 'boolean', default: false },
  },
})
if (args.help) {
  console.log(`usage: npx node --expose-gc scripts/fuzz-mqtt.ts [options]
  --seconds S              stop after S seconds (default 60; 0 = no time limit)
  --iterations N           stop after N inputs (default 0 = no limit); whichever limit comes first
  --seed N                 seed of the input generator (default random; printed)
  --report-every S         statistics and heap after GC every S seconds (default 10)
  --health-every N         a normal client must connect, subscribe and round-trip every N inputs (default 1000)
  --max-heap-growth-mb M   fail when the heap after GC grows by more than M MB over the first report (default 64)`)
  process.exit(0)
}

function count(name: string, text: string): number {
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n < 0) {
    console.error(`--${name} must be a non-negative integer, got ${text}`)
    process.exit(2)
  }
  return n
}
const seconds = count('seconds', args.seconds)
const maxIterations = count('iterations', args.iterations)
const seed = args.seed === undefined ? randomInt(2 ** 31) : count('seed', args.seed)
const reportEveryMs = Math.max(1, count('report-every', args['report-every'])) * 1000
const healthEvery = Math.max(1, count('health-every', args['health-every']))
const maxHeapGrowthBytes = count('max-heap-growth-mb', args['max-heap-growth-mb']) * 1024 * 1024
if (seconds === 0 && maxIterations === 0) {
  console.error('give --seconds or --iterations (or both)')
  process.exit(2)
}

function exposeGc(): (() => void) | undefined {
  const exposed = (globalThis as { gc?: () => void }).gc
  if (exposed !== undefined) return exposed
  try {
    setFlagsFromString('--expose-gc')
    return runInNewContext('gc') as () => void
  } catch {
    return undefined
  }
}

const mb = (bytes: number | undefined): string => (bytes === undefined ? '?' : (bytes / 1048576).toFixed(1))

const uncaught: unknown[] = []
process.on('uncaughtException', (error) => uncaught.push(error))
process.on('unhandledRejection', (reason) => uncaught.push(reason))

const target = createFuzzTarget()
const gc = exposeGc()
const rng = makeRng(seed)
const kinds = new Map<string, number>()
const totals = { inputs: 0, accepted: 0, closedByBroker: 0, replies: 0 }
const started = performance.now()
let lastReport = started
let lastReportInputs = 0
let heapFirst: number | undefined

function finding(where: string, inputs: FuzzInput[], problems: string[]): never {
  console.error(`\nFINDING ${where} (seed ${seed}, after ${totals.inputs} inputs):\n  ${problems.join('\n  ')}`)
  if (inputs.length > 1) console.error(`${inputs.length} inputs at once:`)
  for (const input of inputs) {
    console.error(`input ${input.kind} (hex, keep it as a regression case in test/fuzz/mqtt-fuzz.test.ts):`)
    console.error(`  ${inputToHex(input)}`)
    console.error(`  written in chunks of ${input.chunks.map((c) => c.length).join(', ')} bytes`)
  }
  rmSync(target.dir, { recursive: true, force: true })
  process.exit(1)
}

function report(final: boolean): void {
  target.expireSessions()
  const heap = heapAfterGc(gc)
  heapFirst ??= heap
  const now = performance.now()
  const rate = ((totals.inputs - lastReportInputs) * 1000) / Math.max(1, now - lastReport)
  lastReport = now
  lastReportInputs = totals.inputs
  const c = target.frontEnd.counters
  console.log(
    `${final ? 'done' : 'fuzz'} ${((now - started) / 1000).toFixed(0)} s: ${totals.inputs} inputs (${Math.round(rate)}/s), ` +
      `${totals.accepted} connected, ${totals.closedByBroker} closed by the broker, ${totals.replies} packets back, ` +
      `${c.messagesReceived} messages in, ${c.messagesSent} out; heap after GC ${mb(heap)} MB` +
      `${gc === undefined ? ' (no gc available)' : ''}, ${target.frontEnd.sessions.size} sessions, ` +
      `${target.frontEnd.retained.size} retained`,
  )
  if (heap !== undefined && heapFirst !== undefined && heap - heapFirst > maxHeapGrowthBytes)
    finding('heap growth', [], [`the heap after GC grew from ${mb(heapFirst)} MB to ${mb(heap)} MB`])
}

console.log(
  `fuzz-mqtt: seed ${seed}, ${seconds > 0 ? `${seconds} s` : 'no time limit'}, ` +
    `${maxIterations > 0 ? `${maxIterations} inputs` : 'no input limit'} (reproduce: --seed ${seed})`,
)
try {
  await healthCheck(target, 4, 'start-v4')
  await healthCheck(target, 5, 'start-v5')
} catch (error) {
  finding('health check at the start', [], [String(error)])
}
report(false)
const deadline = seconds > 0 ? started + seconds * 1000 : Number.POSITIVE_INFINITY
while (performance.now() < deadline && (maxIterations === 0 || totals.inputs < maxIterations)) {
  // As in the test: one round in ten runs two to four inputs at the same time (takeovers, resumed sessions).
  const inputs = Array.from({ length: rng.next() < 0.1 ? rng.int(2, 4) : 1 }, () => makeInput(rng))
  const healthDue = Math.floor((totals.inputs + inputs.length) / healthEvery) > Math.floor(totals.inputs / healthEvery)
  totals.inputs += inputs.length
  for (const input of inputs) {
    const kind = input.kind.replace(/^v\d-/, '')
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1)
  }
  const seenErrors = target.loggedErrors.length
  const problems: string[] = []
  await Promise.all(
    inputs.map(async (input) => {
      try {
        const result = await runInput(target, input)
        problems.push(...result.problems)
        if (result.accepted) totals.accepted++
        if (result.closedByBroker) totals.closedByBroker++
        totals.replies += result.replies
      } catch (error) {
        problems.push(String(error))
      }
    }),
  )
  await target.store.flush()
  problems.push(...target.loggedErrors.slice(seenErrors).map((line) => `the broker logged an error: ${line}`))
  problems.push(
    ...uncaught.splice(0).map((error) => `uncaught: ${error instanceof Error ? error.stack : String(error)}`),
  )
  if (problems.length > 0) finding(`input ${totals.inputs}`, inputs, problems)
  if (healthDue) {
    try {
      await healthCheck(target, Math.floor(totals.inputs / healthEvery) % 2 === 0 ? 5 : 4, `after-${totals.inputs}`)
    } catch (error) {
      finding(`health check after input ${totals.inputs}`, inputs, [String(error)])
    }
  }
  if (performance.now() - lastReport >= reportEveryMs) report(false)
}
report(true)
console.log(`kinds: ${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')}`)
await target.close()
