// The long power-loss run: test/integrity/power-loss.test.ts (see test/integrity/power-loss-harness.ts)
// for as long as asked. Stops at the first problem, keeps the failing copies and names their directory.
//
// Run: npx node scripts/fuzz-power-loss.ts [--seconds S] [--seed N]
import { randomInt } from 'node:crypto'
import { parseArgs } from 'node:util'
import { runPowerLoss } from '../test/integrity/power-loss-harness.ts'

const { values: args } = parseArgs({
  options: { seconds: { type: 'string', default: '120' }, seed: { type: 'string' }, verbose: { type: 'boolean' } },
})
const seconds = Number(args.seconds)
const firstSeed = args.seed === undefined ? randomInt(2 ** 31) : Number(args.seed)
if (!Number.isFinite(seconds) || seconds <= 0 || !Number.isSafeInteger(firstSeed)) {
  console.error('usage: npx node scripts/fuzz-power-loss.ts [--seconds S] [--seed N] [--verbose]')
  process.exit(2)
}
console.log(`fuzz-power-loss: seed ${firstSeed}, ${seconds} s`)
const started = performance.now()
const totals = { rounds: 0, snapshots: 0, tornCopies: 0, recordsChecked: 0, ackedRecordsChecked: 0 }
while (performance.now() - started < seconds * 1000) {
  const seed = firstSeed + totals.rounds++
  const result = await runPowerLoss({
    seed,
    snapshots: 8,
    tornPerSnapshot: 3,
    delayMs: { min: 10, max: 500 },
    ...(args.verbose === true ? { log: (line: string) => console.log(`  ${line}`) } : {}),
  })
  totals.snapshots += result.snapshots
  totals.tornCopies += result.tornCopies
  totals.recordsChecked += result.recordsChecked
  totals.ackedRecordsChecked += result.ackedRecordsChecked
  if (result.problems.length > 0) {
    console.error(`FINDING (round seed ${seed}):\n  ${result.problems.join('\n  ')}`)
    process.exit(1)
  }
  console.log(
    `${((performance.now() - started) / 1000).toFixed(0)} s: ${totals.snapshots} snapshots, ${totals.tornCopies} torn copies, ` +
      `${totals.recordsChecked} records compared, ${totals.ackedRecordsChecked} acknowledged records found`,
  )
}
console.log('done: no problem found')
