// `cairn status`: the screen and the rates from synthetic samples, then the real tool against a real gateway with
// an MQTT.js client connected, records published and a consumer group behind.

import { join } from 'node:path'
import mqtt from 'mqtt'
import { describe, expect, onTestFinished, test } from 'vitest'
import { parseCommandLine } from '../../gateway/config.ts'
import { parseHttpAddress, rates, render, resolveStatusHttp } from '../../gateway/tools/status.ts'
import type { StatusDocument } from '../../src/http/status.ts'
import { freePort } from '../helpers/wait.ts'
import { runToExit, servedPorts, startCairn, stopCairn, tempDir } from './cairn-process.ts'

function sample(nowMs: number, mqttEnd: number, commits: number): StatusDocument {
  return {
    version: '1.2.3',
    startedMs: nowMs - 3_723_000,
    nowMs,
    listeners: [
      { name: 'mqtt', address: '[::]:1883', connections: 12 },
      { name: 'mqttTls', address: null, connections: 0 },
      { name: 'http', address: '127.0.0.1:8080', connections: 1 },
    ],
    mqttClients: 11,
    store: { usedBytes: 5 * 1024 * 1024, fileBytes: 6 * 1024 * 1024, walBytes: 1024, commits, appendedRecords: 0 },
    streams: [{ name: 'mqtt', partitions: 2, records: mqttEnd, bytes: 2048, endOffsetSum: mqttEnd }],
    groups: [{ group: 'dashboard', state: 'stable', members: 2, lag: 42 }],
    mirror: [
      {
        link: 'upstream',
        state: 'backoff',
        lastError: 'CAIRN_UPSTREAM_UNAVAILABLE: connect ECONNREFUSED',
        partitions: 2,
        lagRecords: 900,
        oldestUnmirroredMs: nowMs - 90_000,
      },
    ],
  }
}

describe('status - screen', () => {
  test('status - rates are per second between the two samples; a stream new in the second has none', () => {
    const first = sample(10_000, 1000, 50)
    const second = sample(12_000, 1100, 70)
    second.streams.push({ name: 'fresh', partitions: 1, records: 5, bytes: 5, endOffsetSum: 5 })
    expect(rates(first, second)).toEqual({ streams: { mqtt: 50 }, commitsPerSec: 10 })
    expect(rates(first, undefined)).toBeNull()
  })

  test('status - one screen: listeners that are on, streams with rates, groups with lag, links with backlog', () => {
    const screen = render(sample(10_000, 1000, 50), sample(12_000, 1100, 70))
    expect(screen).toBe(
      [
        'cairn 1.2.3, up 1h2m3s, 11 MQTT clients',
        'store: 5 MiB used of 6 MiB, WAL 1 KiB, commits 10/s',
        '',
        'LISTENER  ADDRESS         CONNECTIONS',
        'mqtt      [::]:1883                12',
        'http      127.0.0.1:8080            1',
        '',
        'STREAM  PARTITIONS  RECORDS   SIZE  RATE',
        'mqtt             2     1100  2 KiB  50/s',
        '',
        'GROUP      STATE   MEMBERS  LAG',
        'dashboard  stable        2   42',
        '',
        'LINK      STATE    PARTITIONS  BACKLOG  OLDEST UNMIRRORED  LAST ERROR',
        'upstream  backoff           2      900  1m30s              CAIRN_UPSTREAM_UNAVAILABLE: connect ECONNREFUSED',
        '',
      ].join('\n'),
    )
  })

  test('status - the HTTP address: --http, else CAIRN_HTTP, else 127.0.0.1:8080; wildcard hosts mean here', () => {
    expect(resolveStatusHttp(undefined, {})).toBe('127.0.0.1:8080')
    expect(resolveStatusHttp(undefined, { CAIRN_HTTP: '0.0.0.0:9000' })).toBe('127.0.0.1:9000')
    expect(resolveStatusHttp('gw.local:81', { CAIRN_HTTP: '9000' })).toBe('gw.local:81')
    expect(parseHttpAddress('[::1]:8080', '--http')).toBe('[::1]:8080')
    expect(() => parseHttpAddress('gw.local', '--http')).toThrow('--http must be [HOST:]PORT')
    expect(parseCommandLine(['status', '--http', '9000', '--sample-ms', '0'])).toMatchObject({
      command: 'tool',
      tool: { command: { name: 'status', http: '9000', sampleMs: 0 } },
    })
    expect(() => parseCommandLine(['status', '--broker', '1.2.3.4:7883'])).toThrow('not --broker')
  })
})

describe('status - against a gateway', () => {
  test('status - a running broker: its listeners, the connected MQTT client, the stream and a group with lag', async () => {
    const dir = tempDir()
    const cairn = startCairn([
      ...['serve', '--data-dir', join(dir, 'data'), '--mqtt', '127.0.0.1:0'],
      ...['--native', '127.0.0.1:0', '--http', '127.0.0.1:0'],
    ])
    const ports = await servedPorts(cairn)
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${ports['mqtt']}`, { reconnectPeriod: 0 })
    onTestFinished(() => {
      client.end(true)
    })
    for (let i = 0; i < 5; i++) await client.publishAsync('sensors/t1', String(i), { qos: 1 })
    const commit = await fetch(`http://127.0.0.1:${ports['http']}/api/v1/consumer-groups/dash/offsets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ topic: 'mqtt', partition: 0, offset: 2 }),
    })
    expect(commit.status).toBe(200)

    const http = String(ports['http'])
    const screen = await runToExit(['status', '--http', http, '--sample-ms', '100'])
    expect(screen.stderr).toBe('')
    expect(screen.code).toBe(0)
    const text = screen.stdout.join('\n')
    expect(text).toMatch(/^cairn \d+\.\d+\.\d+, up \S+, 1 MQTT client$/m)
    expect(text).toMatch(new RegExp(`^mqtt\\s+127\\.0\\.0\\.1:${ports['mqtt']}\\s+1$`, 'm'))
    expect(text).toMatch(/^mqtt\s+1\s+5\s+\S+ B\s+\d+(\.\d)?\/s$/m)
    expect(text).toMatch(/^dash\s+empty\s+0\s+3$/m)
    expect(text).toContain('mirror: off')

    const json = await runToExit(['status', '--http', http, '--sample-ms', '0', '--json'])
    expect(json.code).toBe(0)
    const document = JSON.parse(json.stdout.join('\n')) as StatusDocument & { rates: unknown }
    expect(document.mqttClients).toBe(1)
    expect(document.listeners.find((l) => l.name === 'native')?.address).toBe(`127.0.0.1:${ports['native']}`)
    expect(document.streams).toMatchObject([{ name: 'mqtt', partitions: 1, records: 5, endOffsetSum: 5 }])
    expect(document.streams[0]?.bytes).toBeGreaterThan(0)
    expect(document.groups).toEqual([{ group: 'dash', state: 'empty', members: 0, lag: 3 }])
    expect(document.rates).toBeNull()

    expect(await stopCairn(cairn)).toEqual({ code: 0, signal: null })
  })

  test('status - no broker at the address is exit code 1 naming it; bad usage is 2', async () => {
    const port = await freePort()
    const down = await runToExit(['status', '--http', `127.0.0.1:${port}`, '--sample-ms', '0'])
    expect(down.code).toBe(1)
    expect(down.stderr).toContain(`cannot reach the broker's HTTP API at 127.0.0.1:${port}`)
    expect((await runToExit(['status', '--http', 'nowhere'])).code).toBe(2)
  })
})
