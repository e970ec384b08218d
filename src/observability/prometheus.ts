import type { Metric } from './registry.ts'

/** The registry's metrics in Prometheus' text exposition format (version 0.0.4). */
export function renderPrometheus(metrics: readonly Metric[]): string {
  const lines: string[] = []
  for (const m of metrics) {
    lines.push(`# HELP ${m.name} ${m.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`)
    lines.push(`# TYPE ${m.name} ${m.type}`)
    for (const s of m.samples) {
      const labels = Object.entries(s.labels)
        .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
        .join(',')
      lines.push(`${m.name}${labels === '' ? '' : `{${labels}}`} ${Number.isFinite(s.value) ? s.value : 'NaN'}`)
    }
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`
}
