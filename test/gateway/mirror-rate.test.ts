// The mirror's rate limit changed while it runs (what SIGHUP applies): the pause the old limit imposed ends, and
// the new limit holds from the next batch on. Against the in-process FakeSink.

import { pino } from 'pino'
import { describe, expect, onTestFinished, test } from 'vitest'
import { FakeSink } from '../../src/mirror/fake-sink.ts'
import { defaultLinkSettings, Mirror } from '../../src/mirror/mirror.ts'
import { fakeSession } from '../helpers/fake-mirror.ts'
import { bytes, openTempStore } from '../helpers/temp-store.ts'
import { until } from '../helpers/wait.ts'

function startMirror(maxBytesPerSec: number) {
  const { store } = openTempStore()
  store.createStream('sensors')
  const sink = new FakeSink()
  const mirror = new Mirror({
    store,
    links: [
      {
        ...defaultLinkSettings,
        name: 'central',
        gatewayAlias: 'gw1',
        batchMaxRecords: 10,
        recoveryGraceMs: 0,
        maxBytesPerSec,
        backoff: { baseMs: 1, capMs: 20, authCapMs: 20, stableAfterMs: 1000 },
      },
    ],
    // The mirror closes its sink; the fake cluster's records must outlive that for the assertions.
    sinkFor: () => fakeSession(sink),
    logger: pino({ level: 'silent' }),
  })
  mirror.prepare()
  mirror.start()
  onTestFinished(() => mirror.close())
  return { store, sink, mirror }
}

const records = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ key: bytes(`k${i}`), value: bytes(`value ${i}`) }))

describe('mirror rate', () => {
  test('mirror rate - lifting the limit ends the pause it imposed; the rest goes up at once', async () => {
    // 1 B/s: once a batch (10 records, ~100 B) is confirmed, the link would pause for minutes. A batch is confirmed
    // together with the next one's intent, so the pause starts after the second batch went up.
    const { store, sink, mirror } = startMirror(1)
    await store.append('sensors', 0, records(30))
    await until(() => sink.records('gw1.sensors', 0).length === 20, 'two batches')
    // Still paused: nothing more goes up while the limit stands (a window, not a wait for something to happen).
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(sink.records('gw1.sensors', 0)).toHaveLength(20)

    mirror.setMaxBytesPerSec('central', 0)
    await until(() => sink.records('gw1.sensors', 0).length === 30, 'the rest, without a limit')
  })

  test('mirror rate - new records arriving during the pause do not end it', async () => {
    const { store, sink, mirror } = startMirror(1)
    await store.append('sensors', 0, records(30))
    await until(() => sink.records('gw1.sensors', 0).length === 20, 'two batches')
    // Live traffic: every commit wakes an idle link, but must not cut a rate-limit pause short.
    for (let i = 0; i < 5; i++) {
      await store.append('sensors', 0, records(3))
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    expect(sink.records('gw1.sensors', 0)).toHaveLength(20)
    mirror.setMaxBytesPerSec('central', 0)
    await until(() => sink.records('gw1.sensors', 0).length === 45, 'everything, without a limit')
  })

  test('mirror rate - an unknown link or a bad rate is refused', () => {
    const { mirror } = startMirror(0)
    expect(() => mirror.setMaxBytesPerSec('elsewhere', 10)).toThrow('no mirror link elsewhere')
    expect(() => mirror.setMaxBytesPerSec('central', -1)).toThrow(RangeError)
    expect(() => mirror.setMaxBytesPerSec('central', 1.5)).toThrow(RangeError)
  })
})
