// Group checkpoints and heartbeats (mirror.md B9.3, B2.3) on the librdkafka mock with the real Kafka
// client, and kcat as the independent reader: a local group's committed position arrives in
// `<alias>.checkpoints.internal` partition 0 as an MM2 Checkpoint v0 whose offset is the upstream
// offset (as kcat sees it) of the next record the group has to consume.
import { pino } from 'pino'
import { describe, expect, test } from 'vitest'
import { GroupCoordinator } from '../../../src/groups/group-coordinator.ts'
import { KafkajsSink } from '../../../src/mirror/kafkajs-sink.ts'
import { defaultLinkSettings, Mirror } from '../../../src/mirror/mirror.ts'
import { decodeCheckpoint, decodeHeartbeat } from '../../../src/mirror/mm2-format.ts'
import { parseProvenance } from '../../../src/mirror/replication-policy.ts'
import { kcat, kcatRead, startKafkaMock, type KcatRecord } from '../../helpers/kafka-mock.ts'
import { bytes, openTempStore } from '../../helpers/temp-store.ts'

const logger = pino({ level: 'silent' })

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** The local offset a mirrored record came from (its em.src.off), as kcat read it. */
function localOffsetOf(record: KcatRecord): bigint | undefined {
  const headers = record.headers.flatMap(([name, value]): Array<[string, Uint8Array]> =>
    value === null ? [] : [[name, value]],
  )
  return parseProvenance(headers)?.offset
}

describe.skipIf(kcat.skip)(`mirror checkpoints on the librdkafka mock ${kcat.reason}`, () => {
  test('a committed local position is read back from <alias>.checkpoints.internal[0] with the exact upstream offset', async () => {
    const mock = await startKafkaMock()
    const { store } = openTempStore()
    const alias = `gwcp-${process.pid}`
    const upstreamTopic = `${alias}.readings`
    const sinks: KafkajsSink[] = []
    const newSink = (): KafkajsSink => {
      const sink = new KafkajsSink({
        brokers: [mock.bootstrap],
        clientId: 'cairn-checkpoints-test',
        requestTimeoutMs: 5000,
      })
      sinks.push(sink)
      return sink
    }
    const groups = new GroupCoordinator({ store })
    let mirror: Mirror | undefined
    try {
      // Someone else's records first: upstream offsets are not the local ones (3 apart).
      const foreign = newSink()
      await foreign.connect()
      const stranger = { key: null, value: bytes('not ours'), headers: [], timestamp: 1 }
      expect(await foreign.send(upstreamTopic, 0, [stranger, stranger, stranger])).toBe(0n)

      store.createStream('readings')
      await store.append(
        'readings',
        0,
        Array.from({ length: 10 }, (_, i) => ({ key: bytes(`k${i}`), value: bytes(`v${i}`) })),
      )
      await groups.commitOffsets({
        group: 'dashboard',
        offsets: [{ stream: 'readings', partition: 0, offset: 6n, metadata: 'seen 0..5' }],
      })
      mirror = new Mirror({
        store,
        groups,
        logger,
        links: [
          {
            ...defaultLinkSettings,
            name: 'central',
            gatewayAlias: alias,
            checkpointIntervalMs: 100,
            heartbeatIntervalMs: 100,
          },
        ],
        sinkFor: () => newSink(),
      })
      mirror.prepare()
      mirror.start()
      await until(() => mirror?.status()[0]?.partitions[0]?.nextLocal === 10n, 'the data upstream')
      const emitted = store.database.prepare('SELECT COUNT(*) FROM mirror_group_checkpoint').pluck()
      await until(() => (emitted.get() as number) > 0, 'a checkpoint upstream')

      // The oracle: where kcat finds the record at local offset 6 upstream.
      const mirrored = await kcatRead(mock.bootstrap, upstreamTopic, 0, 0)
      expect(mirrored).toHaveLength(13)
      const next = mirrored.find((r) => localOffsetOf(r) === 6n)
      expect(next?.offset).toBe(9n)

      const records = await kcatRead(mock.bootstrap, `${alias}.checkpoints.internal`, 0, 0)
      expect(records).toHaveLength(1)
      const [record] = records
      expect(decodeCheckpoint(record?.key ?? new Uint8Array(), record?.value ?? new Uint8Array())).toEqual({
        group: 'dashboard',
        topic: upstreamTopic,
        partition: 0,
        upstreamOffset: 6n,
        offset: next?.offset,
        metadata: 'seen 0..5',
      })
      for (let p = 1; p < 4; p++) {
        expect(await kcatRead(mock.bootstrap, `${alias}.checkpoints.internal`, p, 0)).toEqual([])
      }

      // Unchanged positions are not sent again; a new commit is.
      await groups.commitOffsets({ group: 'dashboard', offsets: [{ stream: 'readings', partition: 0, offset: 10n }] })
      const position = store.database.prepare('SELECT local_pos FROM mirror_group_checkpoint').pluck()
      await until(() => position.get() === 10, 'the second checkpoint')
      const both = await kcatRead(mock.bootstrap, `${alias}.checkpoints.internal`, 0, 0)
      expect(both).toHaveLength(2)
      const last = both[1]
      // Position 10 = the log end: upstream, the offset after the last mirrored record.
      expect(decodeCheckpoint(last?.key ?? new Uint8Array(), last?.value ?? new Uint8Array())).toMatchObject({
        upstreamOffset: 10n,
        offset: (mirrored.at(-1)?.offset ?? -2n) + 1n,
        metadata: '',
      })

      const beats = await kcatRead(mock.bootstrap, `${alias}.heartbeats`, 0, 0)
      expect(beats.length).toBeGreaterThan(0)
      const beat = beats[0]
      const decoded = decodeHeartbeat(beat?.key ?? new Uint8Array(), beat?.value ?? new Uint8Array())
      expect(decoded).toMatchObject({ sourceAlias: alias, targetAlias: 'central' })
      expect(Math.abs(decoded.timestampMs - Date.now())).toBeLessThan(60_000)
      expect(mirror.status()[0]).toMatchObject({ state: 'streaming', lastError: null })
    } finally {
      await mirror?.close()
      groups.close()
      for (const sink of sinks) await sink.close()
      await mock.stop()
    }
  }, 60_000)
})
