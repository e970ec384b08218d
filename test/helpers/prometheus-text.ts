import { spawnSync } from 'node:child_process'

/** One sample line of the text exposition format. */
export interface ScrapedSample {
  name: string
  labels: Record<string, string>
  value: number
}

/** Parses the sample lines of a /metrics body (enough for Cairn's own output: no timestamps). */
export function parseMetrics(text: string): ScrapedSample[] {
  const samples: ScrapedSample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (match === null) throw new Error(`not a sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key as string] = (value as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c))
    }
    const raw = match[3] as string
    samples.push({
      name: match[1] as string,
      labels,
      value: raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw),
    })
  }
  return samples
}

/** The value of the one sample of `name` whose labels include `labels`; throws if there is none. */
export function sampleValue(samples: readonly ScrapedSample[], name: string, labels: Record<string, string> = {}) {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  if (found.length !== 1) throw new Error(`${found.length} samples of ${name} ${JSON.stringify(labels)}`)
  return (found[0] as ScrapedSample).value
}

/** `promtool check metrics` (Debian's prometheus package) on a /metrics body: its verdict and complaints. */
export function promtoolCheck(text: string): { status: number | null; output: string } {
  const result = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
  if (result.error !== undefined) throw result.error
  return { status: result.status, output: `${result.stdout}${result.stderr}` }
}
