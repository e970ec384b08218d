// Disk full without a tiny file system: SQLite's own size cap (PRAGMA max_page_count) makes every commit
// that needs one more page fail with SQLITE_FULL, the code a full disk gives. This runs anywhere (CI
// containers that cannot mount a tmpfs); disk-full.test.ts does the same with a real full file system.
import mqtt from 'mqtt'
import { expect, onTestFinished, test } from 'vitest'
import { hasErrorCode } from '../../src/errors.ts'
import { startMqttBroker } from '../helpers/mqtt-broker.ts'

type Outcome = { ok: true } | { ok: false; reasonCode: number | undefined }

test('disk full (injected SQLITE_FULL) - PUBACK 0x97, acknowledged messages kept, accepted again once room returns', async () => {
  const broker = await startMqttBroker()
  const client = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'full', reconnectPeriod: 0 })
  onTestFinished(() => void client.end(true))
  const publish = (topic: string, payload: Buffer): Promise<Outcome> =>
    new Promise((resolve) => {
      client.publish(topic, payload, { qos: 1 }, (error) =>
        resolve(error ? { ok: false, reasonCode: (error as { code?: number }).code } : { ok: true }),
      )
    })
  const payload = Buffer.alloc(4096, 0x62)
  // Warm up (tables, session rows), then cap the file at its size plus a few pages.
  expect(await publish('warm', payload)).toEqual({ ok: true })
  const db = broker.store.database
  const pages = db.pragma('page_count', { simple: true }) as number
  db.pragma(`max_page_count = ${pages + 16}`)

  const acknowledged: string[] = []
  let refused: Outcome | undefined
  for (let n = 0; n < 500 && refused === undefined; n++) {
    const outcome = await publish(`fill/${n}`, payload)
    if (outcome.ok) acknowledged.push(`fill/${n}`)
    else refused = outcome
  }
  expect(refused).toEqual({ ok: false, reasonCode: 0x97 })
  expect(acknowledged.length).toBeGreaterThan(0)
  // The store itself names it, and the connection stays up.
  const direct = await broker.store.append('mqtt', 0, [{ value: payload }]).catch((error: unknown) => error)
  expect(hasErrorCode(direct, 'CAIRN_STORAGE_FULL'), String(direct)).toBe(true)
  expect(client.connected).toBe(true)

  const kept = new Set<string>()
  for (let offset = 0n; ;) {
    const { records } = broker.store.read('mqtt', 0, offset, { maxRecords: 1000 })
    if (records.length === 0) break
    for (const r of records) kept.add(Buffer.from(r.key ?? new Uint8Array()).toString())
    offset = (records.at(-1)?.offset ?? offset) + 1n
  }
  for (const topic of acknowledged) expect(kept.has(topic), topic).toBe(true)

  // Room returns (the cap is lifted): accepted again, on the same connection.
  db.pragma('max_page_count = 4294967294')
  expect(await publish('after', payload)).toEqual({ ok: true })
})
