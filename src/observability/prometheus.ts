import type { Metric } from './registry.ts'

type Labels = Readonly<Record<string, string>>

/** The registry's metrics in Prometheus' text exposition format (version 0.0.4). */
export function renderPrometheus(metrics: readonly Metric[]): string {
  const lines: string[] = []
  for (const m of metrics) {
    lines.push(`# HELP ${m.name} ${m.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`)
    lines.push(`# TYPE ${m.name} ${m.type}`)
    if (m.type !== 'histogram') {
      for (const s of m.samples) lines.push(`${m.name}${renderLabels(s.labels)} ${renderValue(s.value)}`)
      continue
    }
    for (const h of m.samples) {
      h.bounds.forEach((bound, i) => {
        lines.push(`${m.name}_bucket${renderLabels(h.labels, renderValue(bound))} ${h.cumulativeCounts[i] ?? 0}`)
      })
      lines.push(`${m.name}_bucket${renderLabels(h.labels, '+Inf')} ${h.count}`)
      lines.push(`${m.name}_sum${renderLabels(h.labels)} ${renderValue(h.sum)}`)
      lines.push(`${m.name}_count${renderLabels(h.labels)} ${h.count}`)
    }
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`
}

function renderLabels(labels: Labels, le?: string): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`)
  // [exposition format] `le` is the histogram bucket's upper bound, after the metric's own labels.
  if (le !== undefined) pairs.push(`le="${le}"`)
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

function renderValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN'
  if (value === Infinity) return '+Inf'
  if (value === -Infinity) return '-Inf'
  return String(value)
}
