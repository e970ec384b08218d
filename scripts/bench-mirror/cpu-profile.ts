// A V8 CPU profile of part of this process (node:inspector, no restart needed), and its summary:
// the top functions by self time, and the samples split into the mirror's stages by the frames on
// their stacks.

import type { Profiler } from 'node:inspector'
import { Session } from 'node:inspector/promises'
import { fileURLToPath } from 'node:url'

const repoRoot = fileURLToPath(new URL('../../', import.meta.url))

/** Runs `work` under the sampling profiler (interval `intervalUs`), returning its result and the profile. */
export async function profiled<T>(
  work: () => Promise<T>,
  intervalUs = 1000,
): Promise<{ result: T; profile: Profiler.Profile }> {
  const session = new Session()
  session.connect()
  try {
    await session.post('Profiler.enable')
    await session.post('Profiler.setSamplingInterval', { interval: intervalUs })
    await session.post('Profiler.start')
    const result = await work() // on failure, disconnecting stops the profiler
    const { profile } = await session.post('Profiler.stop')
    return { result, profile }
  } finally {
    session.disconnect()
  }
}

function shortUrl(url: string): string {
  if (url === '') return ''
  let path = url.startsWith('file://') ? fileURLToPath(url) : url
  const nm = path.lastIndexOf('node_modules/')
  if (nm >= 0) return path.slice(nm + 'node_modules/'.length)
  if (path.startsWith(repoRoot)) path = path.slice(repoRoot.length)
  return path
}

function frameName(node: Profiler.ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame
  const file = shortUrl(url)
  return `${functionName === '' ? '(anonymous)' : functionName}${file === '' ? '' : ` ${file}:${lineNumber + 1}`}`
}

/** A frame without a script is native code (SQLite, a builtin): it is named after its JavaScript caller. */
function leafName(node: Profiler.ProfileNode, caller: Profiler.ProfileNode | undefined): string {
  const name = frameName(node)
  const special = name.startsWith('(') && name !== '(anonymous)' // (garbage collector), (idle), (program)
  if (node.callFrame.url !== '' || special || caller === undefined) return name
  return `${name === '(anonymous)' ? 'native code' : `${name} (native)`} < ${frameName(caller)}`
}

/**
 * The stages a sample is charged to: the first rule (in this order) that matches any frame of the
 * sample's stack wins, so e.g. a Buffer allocation inside kafkajs's record encoder counts as
 * "kafkajs Produce encoding", and everything inside a group commit counts as the commit.
 */
const stages: Array<[string, RegExp]> = [
  ['SQLite commits: intent + confirm (cursor, offset map; fsync)', /^#flushNow src\/log\/log-store\.ts/],
  ['SQLite WAL checkpoints', /src\/log\/checkpointer\.ts/],
  ['store.read: SQLite select + record decoding', /^read src\/log\/(log-store|partition-log)\.ts/],
  ['provenance headers (7 per record, TextEncoder)', /^provenanceHeaders src\/mirror\/replication-policy\.ts/],
  ['kafkajs Produce encoding (records, headers, CRC)', /kafkajs\/src\/protocol\/(requests\/produce|recordBatch)\//],
  ['KafkajsSink record conversion (toKafkajsMessage)', /^toKafkajsMessage src\/mirror\/kafkajs-sink\.ts/],
  ['kafkajs other (socket, response decoding, request queue)', /kafkajs\//],
  ['mirror loop (records → upstream records, batch bookkeeping), other project code', /(src|scripts)\//],
]

export interface ProfileSummary {
  totalMs: number
  top: Array<{ name: string; selfMs: number; share: number }>
  stages: Array<{ stage: string; ms: number; share: number }>
}

export function summarize(profile: Profiler.Profile, topN = 15): ProfileSummary {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const selfUs = new Map<number, number>()
  const samples = profile.samples ?? []
  const deltas = profile.timeDeltas ?? []
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i] as number
    selfUs.set(id, (selfUs.get(id) ?? 0) + (deltas[i] ?? 0))
  }
  let total = 0
  const byName = new Map<string, number>()
  const byStage = new Map<string, number>()
  for (const [id, us] of selfUs) {
    const node = nodes.get(id)
    if (node === undefined) continue
    const stack: string[] = []
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = nodes.get(at)
      if (frame !== undefined) stack.push(frameName(frame))
    }
    // The profiler's own start/stop (the session's post()) is not the mirror's.
    if (stack.some((frame) => frame.startsWith('post node:inspector'))) continue
    total += us
    const callerId = parent.get(id)
    const name = leafName(node, callerId === undefined ? undefined : nodes.get(callerId))
    byName.set(name, (byName.get(name) ?? 0) + us)
    let stage = /^\((garbage collector|idle|program)\)/.test(name) ? name.replace(/ .*/, '') : 'other (node internals)'
    for (const [label, pattern] of stages) {
      if (stack.some((frame) => pattern.test(frame))) {
        stage = label
        break
      }
    }
    if (name.startsWith('(garbage collector)') || name.startsWith('(idle)')) stage = name
    byStage.set(stage, (byStage.get(stage) ?? 0) + us)
  }
  const sorted = (m: Map<string, number>): Array<[string, number]> => [...m].sort((a, b) => b[1] - a[1])
  return {
    totalMs: total / 1000,
    top: sorted(byName)
      .slice(0, topN)
      .map(([name, us]) => ({ name, selfMs: us / 1000, share: us / total })),
    stages: sorted(byStage).map(([stage, us]) => ({ stage, ms: us / 1000, share: us / total })),
  }
}
