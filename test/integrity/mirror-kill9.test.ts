// Mirror delivery integrity under kill -9, against a real Kafka-protocol peer (librdkafka's mock
// cluster hosted by kcat). `cairn serve --mirror-to` runs as a child on a fixed data dir and native
// port; an idempotent producer (the TypeScript client) writes numbered records to a 3-partition
// stream while the test SIGKILLs the broker at seeded random moments — while records stream live and
// while a backlog is caught up — and restarts it. At the end, with the mirror's lag at 0, kcat (the
// independent reader) reads every upstream partition, and the oracle checks:
//   - upstream holds every local record exactly once, in local order, byte for byte, with the
//     provenance headers naming this gateway, stream, partition and local offset;
//   - no record was marked as redelivered (the exactly-once preconditions held: nothing was re-sent
//     without proof it was absent);
//   - record translation, local -> upstream, agrees with where kcat found each record.
//
// Reproduce a failure with the seed it prints: CAIRN_TEST_SEED=<seed> npx vitest run test/integrity/mirror-kill9.test.ts
import { randomInt } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { CairnClient } from '../../src/client/index.ts'
import type { RecordMetadata } from '../../src/client/types.ts'
import { parseProvenance } from '../../src/mirror/replication-policy.ts'
import { byMsg, startCairn, tempDir, type Cairn } from '../gateway/cairn-process.ts'
import { kcat, kcatRead, startKafkaMock } from '../helpers/kafka-mock.ts'
import { freePort } from '../helpers/wait.ts'
import { makeRng } from './kill9-records.ts'

const partitions = 3
const liveRecords = 3_000
const backlogRecords = 3_000
const killsLive = 12
const killsCatchUp = 10

const seed = process.env.CAIRN_TEST_SEED === undefined ? randomInt(2 ** 31) : Number(process.env.CAIRN_TEST_SEED)

const dec = (b: Uint8Array | null): string => (b === null ? '' : new TextDecoder().decode(b))
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

describe.skipIf(kcat.skip)('mirror kill -9', () => {
  test(`mirror kill -9: upstream gets every record exactly once, in order (seed ${seed})`, async () => {
    const rng = makeRng(seed)
    const mock = await startKafkaMock()
    const dir = tempDir()
    const dataDir = join(dir, 'data')
    // A short recovery grace keeps 22 restarts quick; a killed request on loopback lands in far less.
    const configFile = join(dir, 'cairn.yaml')
    writeFileSync(
      configFile,
      'mirror:\n  links:\n    upstream:\n      bootstrap: ["placeholder:1"]\n      recoveryGraceMs: 1000\n',
    )
    const port = await freePort()
    const args = [
      'serve',
      '--config',
      configFile,
      '--data-dir',
      dataDir,
      '--mqtt',
      'off',
      '--http',
      'off',
      '--native',
      `127.0.0.1:${port}`,
      '--mirror-to',
      `kafka://${mock.bootstrap}`,
      '--gateway-id',
      'gw-k9',
    ]
    let broker: Cairn = startCairn(args)
    await broker.waitForLine(byMsg('listening'))
    let kills = 0
    const killAndRestart = async (): Promise<void> => {
      broker.child.kill('SIGKILL')
      await broker.exited
      kills++
      broker = startCairn(args)
      await broker.waitForLine(byMsg('listening'))
    }
    const client = new CairnClient({
      port,
      clientId: 'mirror-kill9',
      reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
    })
    try {
      await client.admin().createStream('telemetry', { partitions })
      const producer = client.producer({ lingerMs: 2, batchMaxRecords: 100 })
      const acked: RecordMetadata[] = []
      const produce = async (from: number, count: number, killAt: Set<number>): Promise<void> => {
        const pending: Array<Promise<void>> = []
        for (let i = from; i < from + count; i++) {
          pending.push(
            producer.send('telemetry', { key: `k${i % 17}`, value: `record-${i}` }).then((m) => {
              acked.push(m)
            }),
          )
          if (pending.length >= 200) await Promise.all(pending.splice(0))
          if (killAt.has(i)) await killAndRestart()
        }
        await Promise.all(pending)
      }
      // Live: the mirror keeps up while records arrive; kills land mid-stream.
      const liveKills = new Set<number>()
      while (liveKills.size < killsLive) liveKills.add(rng.int(100, liveRecords - 1))
      await produce(0, liveRecords, liveKills)
      // Catch-up: a backlog is written faster than the mirror drains it; kills land during the drain.
      await produce(liveRecords, backlogRecords, new Set())
      for (let k = 0; k < killsCatchUp; k++) {
        await sleep(rng.int(20, 400))
        await killAndRestart()
      }
      await producer.close()
      expect(acked).toHaveLength(liveRecords + backlogRecords)

      // Wait for the mirror to resolve everything.
      const deadline = Date.now() + 60_000
      for (;;) {
        const [link] = await client.admin().mirrorStatus()
        const mirrored = link?.partitions.filter((p) => p.stream === 'telemetry') ?? []
        const lag = mirrored.reduce((sum, p) => sum + Number(p.lagRecords), 0)
        if (link !== undefined && mirrored.length === partitions && lag === 0) {
          expect(link.redeliveredRecords).toBe(0)
          expect(mirrored.every((p) => p.state === 'active' && p.gapRecords === 0)).toBe(true)
          break
        }
        if (Date.now() > deadline)
          throw new Error(
            `mirror did not catch up: ${JSON.stringify(link, (_, v: unknown) => (typeof v === 'bigint' ? `${v}` : v))}`,
          )
        await sleep(200)
      }

      // The oracle: kcat reads upstream; every local record exactly once, in order, byte for byte.
      for (let p = 0; p < partitions; p++) {
        const local = acked.filter((m) => m.partition === p).sort((a, b) => (a.offset < b.offset ? -1 : 1))
        const upstream = await kcatRead(mock.bootstrap, 'gw-k9.telemetry', p, 0)
        const headers = upstream.map((r) =>
          parseProvenance(r.headers.filter((h): h is [string, Uint8Array] => h[1] !== null)),
        )
        expect(headers.every((h) => h?.gatewayAlias === 'gw-k9' && h.stream === 'telemetry' && h.partition === p)).toBe(
          true,
        )
        expect(headers.map((h) => h?.offset)).toEqual(local.map((m) => m.offset))
        expect(headers.some((h) => h?.redelivered === true)).toBe(false)
        // Values: read the local partition back and compare byte for byte with upstream.
        const consumer = client.consumer({ maxWaitMs: 0 })
        consumer.assign([{ stream: 'telemetry', partition: p, offset: 0n }])
        const localValues: string[] = []
        while (localValues.length < local.length) for (const r of await consumer.poll()) localValues.push(dec(r.value))
        await consumer.close()
        expect(upstream.map((r) => dec(r.value))).toEqual(localValues)
        // Translation agrees with kcat's offsets, at both ends and in the middle.
        for (const i of [0, Math.floor(local.length / 2), local.length - 1]) {
          const m = local[i] as RecordMetadata
          const t = await client.admin().mirrorTranslate({
            stream: 'telemetry',
            partition: p,
            kind: 'record',
            direction: 'to-upstream',
            offset: m.offset,
          })
          expect(t.to).toBe(upstream[i]?.offset)
        }
      }
      expect(kills).toBeGreaterThanOrEqual(20)
    } finally {
      await client.close()
      broker.child.kill('SIGTERM')
      await broker.exited
      await mock.stop()
    }
  }, 300_000)
})
