import { pino } from 'pino'
import { onTestFinished } from 'vitest'
import type { LogStore } from '../../src/log/log-store.ts'
import type { FakeSink } from '../../src/mirror/fake-sink.ts'
import type { KafkaSink } from '../../src/mirror/kafka-sink.ts'
import { defaultLinkSettings, Mirror, type MirrorLinkConfig, type MirrorStreamRule } from '../../src/mirror/mirror.ts'
import { parseProvenance } from '../../src/mirror/replication-policy.ts'
import { bytes } from './temp-store.ts'

// A Mirror over the in-process FakeSink, for unit tests of the mirror loop (the kcat mock cannot lose an ack on
// purpose or refuse a batch; test/integration/mirror covers the real Kafka protocol).

export const silentLogger = pino({ level: 'silent' })

export function fakeLink(streams: MirrorStreamRule[] = []): MirrorLinkConfig {
  return {
    ...defaultLinkSettings,
    name: 'central',
    gatewayAlias: 'gw1',
    streams,
    batchMaxRecords: 50,
    recoveryGraceMs: 0,
    backoff: { baseMs: 1, capMs: 20, authCapMs: 20, stableAfterMs: 1000 },
  }
}

/** One session's view of the fake cluster: closing it (as a mirror does) leaves the cluster's data alone. */
export function fakeSession(sink: FakeSink): KafkaSink {
  return {
    connect: () => sink.connect(),
    partitionCount: (topic) => sink.partitionCount(topic),
    send: (topic, partition, records) => sink.send(topic, partition, records),
    offsets: (topic, partition) => sink.offsets(topic, partition),
    read: (topic, partition, from, until, max) => sink.read(topic, partition, from, until, max),
    close: async () => {},
  }
}

export function startFakeMirror(store: LogStore, sink: FakeSink, config = fakeLink()): Mirror {
  const mirror = new Mirror({ store, links: [config], sinkFor: () => fakeSession(sink), logger: silentLogger })
  mirror.prepare()
  mirror.start()
  onTestFinished(() => mirror.close())
  return mirror
}

/** Appends `count` records k<i>/v<i> (i from `from`). */
export async function produceRecords(
  store: LogStore,
  stream: string,
  partition: number,
  count: number,
  from = 0,
): Promise<void> {
  const records = Array.from({ length: count }, (_, i) => ({
    key: bytes(`k${from + i}`),
    value: bytes(`v${from + i}`),
  }))
  await store.append(stream, partition, records)
}

/** Upstream records of one partition as local offsets (from provenance), checking they are ours. */
export function mirroredOffsets(sink: FakeSink, topic: string, partition: number): bigint[] {
  return sink.records(topic, partition).map((r) => {
    const p = parseProvenance(r.headers)
    if (p === undefined || p.gatewayAlias !== 'gw1') throw new Error(`upstream record ${r.offset} is not ours`)
    return p.offset
  })
}
