// Power-loss emulation (see power-loss-harness.ts): a writer appends with durability fsync and os; at
// random moments it is frozen and its database files copied, and each copy, whole and with its WAL torn
// at random frame boundaries, must open, pass integrity_check, and hold a clean, byte-exact prefix of
// what was written, with every acknowledged record in the whole copies. Longer runs:
// npx node scripts/fuzz-power-loss.ts --seconds 300
//
// Reproduce a failure with the seed it prints: CAIRN_TEST_SEED=<seed> npx vitest run test/integrity/power-loss.test.ts
// (the seed fixes the choices; where exactly each snapshot lands still varies).
import { randomInt } from 'node:crypto'
import { expect, test } from 'vitest'
import { runPowerLoss } from './power-loss-harness.ts'

const seed = process.env.CAIRN_TEST_SEED ? Number(process.env.CAIRN_TEST_SEED) : randomInt(2 ** 31)

test('power loss - every snapshot opens, passes integrity_check and keeps every acknowledged record', async () => {
  const result = await runPowerLoss({
    seed,
    snapshots: 12,
    tornPerSnapshot: 2,
    delayMs: { min: 30, max: 300 },
    log: (line) => console.log(`[power-loss] ${line}`),
  })
  console.log(
    `[power-loss] seed ${seed}: ${result.snapshots} snapshots, ${result.tornCopies} torn copies, ` +
      `${result.recordsChecked} records compared, ${result.ackedRecordsChecked} acknowledged records found`,
  )
  expect(result.problems, `seed ${seed}`).toEqual([])
  expect(result.snapshots).toBe(12)
  expect(result.ackedRecordsChecked).toBeGreaterThan(0)
  expect(result.tornCopies).toBeGreaterThan(0)
}, 90_000)
