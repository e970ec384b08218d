// The whole gateway process with real clients on every protocol (MQTT.js, the native client, HTTP), then
// /metrics scraped: promtool accepts it, and the numbers moved by what the clients did.

import mqtt from 'mqtt'
import { describe, expect, onTestFinished, test } from 'vitest'
import { CairnClient } from '../../../src/client/index.ts'
import { servedPorts, startCairn, stopCairn, tempDir } from '../../gateway/cairn-process.ts'
import { freePort } from '../../helpers/wait.ts'
import { parseMetrics, promtoolCheck, sampleValue, type ScrapedSample } from '../../helpers/prometheus-text.ts'

async function scrape(httpPort: number): Promise<{ text: string; samples: ScrapedSample[] }> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/metrics`)
  expect(res.status).toBe(200)
  const text = await res.text()
  const check = promtoolCheck(text)
  expect(check.output).toBe('')
  expect(check.status).toBe(0)
  return { text, samples: parseMetrics(text) }
}

const sum = (samples: readonly ScrapedSample[], name: string, labels: Record<string, string> = {}): number =>
  samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((total, s) => total + s.value, 0)

describe('metrics - gateway', () => {
  test('metrics - traffic on MQTT, native and HTTP moves the counters; promtool accepts every scrape', async () => {
    const cairn = startCairn([
      'serve',
      '--data-dir',
      tempDir(),
      ...['--mqtt', '127.0.0.1:0', '--native', '127.0.0.1:0', '--http', '127.0.0.1:0'],
    ])
    onTestFinished(async () => {
      await stopCairn(cairn)
    })
    const ports = await servedPorts(cairn)
    const httpPort = ports['http'] as number
    const before = (await scrape(httpPort)).samples
    for (const protocol of ['mqtt', 'native', 'http']) {
      expect(sampleValue(before, 'cairn_messages_received_total', { protocol })).toBe(0)
    }

    // MQTT: 4 QoS 1 publishes, each delivered to one subscriber.
    const subscriber = await mqtt.connectAsync(`mqtt://127.0.0.1:${ports['mqtt']}`, { reconnectPeriod: 0 })
    const publisher = await mqtt.connectAsync(`mqtt://127.0.0.1:${ports['mqtt']}`, { reconnectPeriod: 0 })
    onTestFinished(async () => {
      await Promise.all([subscriber.endAsync(), publisher.endAsync()])
    })
    let delivered = 0
    subscriber.on('message', () => delivered++)
    await subscriber.subscribeAsync('metrics/#', { qos: 1 })
    for (let i = 0; i < 4; i++) await publisher.publishAsync(`metrics/t${i}`, `reading ${i}`, { qos: 1 })
    await expect.poll(() => delivered).toBe(4)

    // Native: a stream, 3 records produced, then fetched back.
    const client = new CairnClient({ port: ports['native'] as number, clientId: 'metrics-test' })
    onTestFinished(() => client.close())
    await client.connect()
    await client.admin().createStream('metered', { partitions: 1 })
    const producer = client.producer()
    await producer.send('metered', [{ value: 'a' }, { value: 'b' }, { value: 'c' }])
    await producer.close()
    const consumer = client.consumer()
    consumer.assign([{ stream: 'metered', partition: 0 }])
    let fetched = 0
    while (fetched < 3) fetched += (await consumer.poll()).length
    await consumer.close()

    // HTTP: 2 records produced, read back, and a group that has consumed 1 of the 5.
    const base = `http://127.0.0.1:${httpPort}/api/v1`
    for (const value of ['d', 'e']) {
      const res = await fetch(`${base}/topics/metered/messages`, { method: 'POST', body: value })
      expect(res.status).toBe(200)
    }
    const read = await fetch(`${base}/topics/metered/partitions/0/messages?offset=3`)
    expect(((await read.json()) as { messages: unknown[] }).messages).toHaveLength(2)
    const commit = await fetch(`${base}/consumer-groups/readers/offsets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ topic: 'metered', partition: 0, offset: 1 }),
    })
    expect(commit.status).toBe(200)

    const { samples: after, text } = await scrape(httpPort)
    const delta = (name: string, labels: Record<string, string>) => sum(after, name, labels) - sum(before, name, labels)
    expect(delta('cairn_messages_received_total', { protocol: 'mqtt' })).toBe(4)
    expect(delta('cairn_messages_sent_total', { protocol: 'mqtt' })).toBe(4)
    expect(delta('cairn_messages_received_total', { protocol: 'native' })).toBe(3)
    expect(delta('cairn_messages_sent_total', { protocol: 'native' })).toBe(3)
    expect(delta('cairn_messages_received_total', { protocol: 'http' })).toBe(2)
    expect(delta('cairn_messages_sent_total', { protocol: 'http' })).toBe(2)
    expect(delta('cairn_connections_accepted_total', { protocol: 'mqtt' })).toBe(2)
    expect(sampleValue(after, 'cairn_connections', { protocol: 'mqtt' })).toBe(2)
    expect(sampleValue(after, 'cairn_mqtt_clients_connected')).toBe(2)
    expect(delta('cairn_connections_accepted_total', { protocol: 'native' })).toBeGreaterThanOrEqual(1)
    expect(sampleValue(after, 'cairn_connections', { protocol: 'native' })).toBeGreaterThanOrEqual(1)
    // This scrape's own connection is open.
    expect(sampleValue(after, 'cairn_connections', { protocol: 'http' })).toBeGreaterThanOrEqual(1)
    for (const protocol of ['mqtt', 'native', 'http']) {
      expect(delta('cairn_received_bytes_total', { protocol }), protocol).toBeGreaterThan(0)
      expect(delta('cairn_sent_bytes_total', { protocol }), protocol).toBeGreaterThan(0)
    }

    // The log: 4 MQTT records, 5 in `metered`, each commit timed and sized.
    expect(sum(after, 'cairn_stream_end_offset', { stream: 'mqtt' })).toBe(4)
    expect(sampleValue(after, 'cairn_stream_end_offset', { stream: 'metered', partition: '0' })).toBe(5)
    expect(sampleValue(after, 'cairn_stream_records', { stream: 'metered', partition: '0' })).toBe(5)
    expect(delta('cairn_log_appended_records_total', {})).toBe(9)
    expect(delta('cairn_log_commit_records_sum', {})).toBe(9)
    const appends = delta('cairn_log_append_latency_seconds_count', {})
    // MQTT and HTTP append one record at a time; the native producer may batch its three.
    expect(appends).toBeGreaterThanOrEqual(7)
    expect(appends).toBeLessThanOrEqual(9)
    expect(sampleValue(after, 'cairn_log_append_latency_seconds_bucket', { le: '+Inf' })).toBe(
      sampleValue(after, 'cairn_log_append_latency_seconds_count'),
    )
    expect(delta('cairn_log_commit_duration_seconds_count', {})).toBeGreaterThan(0)
    expect(sampleValue(after, 'cairn_store_file_bytes')).toBeGreaterThan(0)
    expect(sampleValue(after, 'cairn_store_wal_bytes')).toBeGreaterThanOrEqual(0)
    expect(sampleValue(after, 'cairn_group_lag_records', { group: 'readers', stream: 'metered', partition: '0' })).toBe(
      4,
    )
    expect(sampleValue(after, 'cairn_group_committed_offset', { group: 'readers', stream: 'metered' })).toBe(1)

    // The process: the standard names, with plausible values.
    expect(sampleValue(after, 'process_resident_memory_bytes')).toBeGreaterThan(1024 * 1024)
    expect(sampleValue(after, 'process_open_fds')).toBeGreaterThan(3)
    expect(sampleValue(after, 'process_cpu_seconds_total')).toBeGreaterThan(0)
    expect(sampleValue(after, 'process_start_time_seconds') * 1000).toBeLessThanOrEqual(Date.now())
    expect(text).toMatch(/^# TYPE cairn_log_append_latency_seconds histogram$/m)
  })

  test('metrics - a mirror link that cannot reach upstream shows its lag in records, bytes and age', async () => {
    // Nothing listens there: the link connects, fails and backs off while records wait.
    const upstream = `kafka://127.0.0.1:${await freePort()}`
    const cairn = startCairn([
      'serve',
      '--data-dir',
      tempDir(),
      ...['--mqtt', '127.0.0.1:0', '--native', '127.0.0.1:0', '--http', '127.0.0.1:0'],
      ...['--mirror-to', upstream, '--gateway-id', 'gw-metrics'],
    ])
    onTestFinished(async () => {
      await stopCairn(cairn)
    })
    const ports = await servedPorts(cairn)
    const publisher = await mqtt.connectAsync(`mqtt://127.0.0.1:${ports['mqtt']}`, { reconnectPeriod: 0 })
    onTestFinished(async () => {
      await publisher.endAsync()
    })
    for (let i = 0; i < 3; i++) await publisher.publishAsync('metrics/held', `held ${i}`, { qos: 1 })

    const { samples } = await scrape(ports['http'] as number)
    const partition = { link: 'upstream', stream: 'mqtt', partition: '0' }
    expect(sampleValue(samples, 'cairn_mirror_lag_records', partition)).toBe(3)
    // Nothing was mirrored or deleted yet: the lag is every byte of the partition.
    expect(sampleValue(samples, 'cairn_mirror_lag_bytes', partition)).toBe(
      sampleValue(samples, 'cairn_stream_bytes', { stream: 'mqtt', partition: '0' }),
    )
    expect(sampleValue(samples, 'cairn_mirror_lag_bytes', partition)).toBeGreaterThan(3 * 'held 0'.length)
    expect(sampleValue(samples, 'cairn_mirror_oldest_unmirrored_age_seconds', partition)).toBeGreaterThanOrEqual(0)
    expect(sampleValue(samples, 'cairn_mirror_confirmed_records_total', partition)).toBe(0)
    expect(sampleValue(samples, 'cairn_mirror_link_up', { link: 'upstream' })).toBe(0)
    expect(sampleValue(samples, 'cairn_mirror_redelivered_records_total', { link: 'upstream' })).toBe(0)
  })
})
