import { describe, expect, test } from 'vitest'
import { MetricsRegistry } from '../../../src/observability/registry.ts'
import { startHttp } from './http-harness.ts'

describe('http - metrics', () => {
  test('http - /metrics renders the registry in the Prometheus text format', async () => {
    const metrics = new MetricsRegistry()
    metrics.register('cairn_mirror_lag_records', 'Local records not yet mirrored', 'gauge', () => [
      { labels: { link: 'up', stream: 's', partition: '0' }, value: 7 },
    ])
    const http = await startHttp({ metrics })
    const res = await http.call('/metrics')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    expect(await res.text()).toContain('cairn_mirror_lag_records{link="up",stream="s",partition="0"} 7\n')
  })
})
