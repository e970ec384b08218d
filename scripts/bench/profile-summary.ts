// Summarizes a V8 .cpuprofile (from `node --cpu-prof`): self time by function and by file, as shares of the
// sampled time, so the hot spots of a benchmark run read at a glance.
//
// Run: npx node scripts/bench/profile-summary.ts FILE.cpuprofile [--top 30] [--root /work/main]

import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { table } from '../bench-log/report.ts'

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    top: { type: 'string', default: '30' },
    root: { type: 'string', default: '' },
    'skip-until': { type: 'string' },
  },
})
const file = positionals[0]
if (file === undefined) {
  console.log(`usage: npx node scripts/bench/profile-summary.ts FILE.cpuprofile [options]
  --top N             rows per table (default 30)
  --root DIR          source root to strip from paths
  --skip-until NAME   ignore samples before the first one with function NAME on its stack (e.g. handlePublish:
                      leaves start-up out)`)
  process.exit(2)
}

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}
interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const parentOf = new Map<number, number>()
for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id)
const stackOf = (id: number): number[] => {
  const stack: number[] = []
  for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) stack.push(at)
  return stack
}

const shorten = (url: string): string => {
  const path = url.replace(/^file:\/\//, '')
  if (args.root !== '' && path.startsWith(args.root)) return path.slice(args.root.length).replace(/^\//, '')
  return path.replace(/^.*\/node_modules\//, 'node_modules/')
}
const nameOf = (id: number): string => {
  const frame = byId.get(id)?.callFrame
  if (frame === undefined) return '?'
  const where = frame.url === '' ? '' : `${shorten(frame.url)}:${frame.lineNumber + 1}`
  return `${frame.functionName === '' ? '(anonymous)' : frame.functionName} ${where}`.trim()
}

const skipUntil = args['skip-until']
let counting = skipUntil === undefined
const selfUs = new Map<number, number>()
// Inclusive time: each sample counts once for every distinct function on its stack.
const inclusiveUs = new Map<string, number>()
// Who calls the hot functions: self time per (function, caller).
const callerUs = new Map<string, Map<string, number>>()
profile.samples.forEach((id, i) => {
  const us = profile.timeDeltas[i] ?? 0
  const stack = stackOf(id)
  if (!counting) {
    if (!stack.some((s) => byId.get(s)?.callFrame.functionName === skipUntil)) return
    counting = true
  }
  selfUs.set(id, (selfUs.get(id) ?? 0) + us)
  for (const name of new Set(stack.map(nameOf))) inclusiveUs.set(name, (inclusiveUs.get(name) ?? 0) + us)
  const self = nameOf(id)
  const caller = stack[1] === undefined ? '(root)' : nameOf(stack[1])
  const callers = callerUs.get(self) ?? new Map<string, number>()
  callers.set(caller, (callers.get(caller) ?? 0) + us)
  callerUs.set(self, callers)
})

const byFunction = new Map<string, number>()
const byFile = new Map<string, number>()
let totalUs = 0
for (const [id, us] of selfUs) {
  const frame = byId.get(id)?.callFrame
  if (frame === undefined) continue
  totalUs += us
  const name = nameOf(id)
  byFunction.set(name, (byFunction.get(name) ?? 0) + us)
  const fileKey = frame.url === '' ? frame.functionName : shorten(frame.url)
  byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + us)
}

const top = Number(args.top)
const rows = (m: Map<string, number>): string[][] =>
  [...m.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([k, us]) => [k, (us / 1000).toFixed(0), `${((100 * us) / totalUs).toFixed(1)}%`])

console.log(`${file}: ${(totalUs / 1e6).toFixed(2)} s sampled\n`)
const topCaller = (name: string): string => {
  const callers = [...(callerUs.get(name) ?? new Map<string, number>()).entries()].sort((a, b) => b[1] - a[1])
  return callers[0]?.[0] ?? ''
}
console.log(
  table(
    ['function (self time)', 'ms', 'share', 'top caller'],
    rows(byFunction).map((r) => [...r, topCaller(r[0] ?? '')]),
    [false, true, true, false],
  ),
)
console.log()
const project = new Map([...inclusiveUs].filter(([name]) => /\s(src|gateway)\//.test(name)))
console.log(table(['project function (inclusive time)', 'ms', 'share'], rows(project), [false, true, true]))
console.log()
console.log(table(['file (self time)', 'ms', 'share'], rows(byFile), [false, true, true]))
