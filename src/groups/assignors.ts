// Partition assignors: pure functions from the group's members (their subscriptions, and for
// `sticky` what each is currently meant to own) and the partition counts of the subscribed streams
// to each member's target assignment. The coordinator runs one whenever the group epoch bumps;
// cooperative reconciliation (group.ts) then moves only what changed.

export const assignorNames = ['range', 'roundrobin', 'sticky'] as const
export type AssignorName = (typeof assignorNames)[number]

/** Per stream, the partitions of one member (sorted ascending in assignor output). */
export type StreamAssignment = ReadonlyMap<string, readonly number[]>

export interface AssignorMember {
  readonly memberId: string
  readonly instanceId?: string | undefined
  readonly streams: readonly string[]
  /** What the member is currently meant to own: `sticky` keeps as much of it as balance allows. */
  readonly current?: StreamAssignment
}

/** Every input member appears in the result, with an empty map if it gets nothing. */
export type Assignor = (
  members: readonly AssignorMember[],
  partitionCounts: ReadonlyMap<string, number>,
) => Map<string, Map<string, number[]>>

export const assignors: Readonly<Record<AssignorName, Assignor>> = {
  range: rangeAssign,
  roundrobin: roundRobinAssign,
  sticky: stickyAssign,
}

export function isAssignorName(name: string): name is AssignorName {
  return (assignorNames as readonly string[]).includes(name)
}

/**
 * Kafka's member order: static members first by instance id, then dynamic ones by member id. A
 * static member restarting under a new member id thus keeps its place, and its range.
 */
export function compareMembers(a: AssignorMember, b: AssignorMember): number {
  if (a.instanceId !== undefined && b.instanceId !== undefined) return compareText(a.instanceId, b.instanceId)
  if (a.instanceId !== undefined) return -1
  if (b.instanceId !== undefined) return 1
  return compareText(a.memberId, b.memberId)
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function countOf(partitionCounts: ReadonlyMap<string, number>, stream: string): number {
  return partitionCounts.get(stream) ?? 0
}

function subscribedStreams(members: readonly AssignorMember[], partitionCounts: ReadonlyMap<string, number>): string[] {
  const streams = new Set<string>()
  for (const m of members) for (const s of m.streams) if (countOf(partitionCounts, s) > 0) streams.add(s)
  return [...streams].sort(compareText)
}

function emptyResult(members: readonly AssignorMember[]): Map<string, Map<string, number[]>> {
  return new Map(members.map((m) => [m.memberId, new Map<string, number[]>()]))
}

function add(result: Map<string, Map<string, number[]>>, memberId: string, stream: string, partition: number): void {
  const forMember = result.get(memberId) as Map<string, number[]>
  const list = forMember.get(stream)
  if (list === undefined) forMember.set(stream, [partition])
  else list.push(partition)
}

function sortResult(result: Map<string, Map<string, number[]>>): Map<string, Map<string, number[]>> {
  for (const forMember of result.values()) {
    const sorted = [...forMember.entries()].sort(([a], [b]) => compareText(a, b))
    forMember.clear()
    for (const [stream, partitions] of sorted)
      forMember.set(
        stream,
        partitions.sort((x, y) => x - y),
      )
  }
  return result
}

/** Per stream, contiguous ranges in member order; the first `count % members` get one extra. */
function rangeAssign(
  members: readonly AssignorMember[],
  partitionCounts: ReadonlyMap<string, number>,
): Map<string, Map<string, number[]>> {
  const result = emptyResult(members)
  const ordered = [...members].sort(compareMembers)
  for (const stream of subscribedStreams(members, partitionCounts)) {
    const consumers = ordered.filter((m) => m.streams.includes(stream))
    const count = countOf(partitionCounts, stream)
    const each = Math.floor(count / consumers.length)
    const extra = count % consumers.length
    let next = 0
    consumers.forEach((m, i) => {
      const take = each + (i < extra ? 1 : 0)
      for (let p = next; p < next + take; p++) add(result, m.memberId, stream, p)
      next += take
    })
  }
  return result
}

/** All partitions sorted by (stream, partition), dealt in turn to the next member that subscribes. */
function roundRobinAssign(
  members: readonly AssignorMember[],
  partitionCounts: ReadonlyMap<string, number>,
): Map<string, Map<string, number[]>> {
  const result = emptyResult(members)
  const ordered = [...members].sort(compareMembers)
  let turn = 0
  for (const stream of subscribedStreams(members, partitionCounts)) {
    for (let p = 0; p < countOf(partitionCounts, stream); p++) {
      // Some member subscribes to every stream listed, so this finds one within a full turn.
      while (!(ordered[turn % ordered.length] as AssignorMember).streams.includes(stream)) turn++
      add(result, (ordered[turn % ordered.length] as AssignorMember).memberId, stream, p)
      turn++
    }
  }
  return result
}

/**
 * Keeps every partition with its current owner while that owner still subscribes, hands the
 * orphans to the least loaded eligible members, then moves partitions from a member to an
 * eligible one holding at least two fewer until none can move. At that fixpoint members with the
 * same subscriptions differ by at most one partition. Moves prefer partitions that were not kept
 * (orphans), and givers with such partitions, so with identical subscriptions the number of kept
 * partitions that move is the least any balanced assignment needs.
 */
function stickyAssign(
  members: readonly AssignorMember[],
  partitionCounts: ReadonlyMap<string, number>,
): Map<string, Map<string, number[]>> {
  const ordered = [...members].sort(compareMembers)
  const subscriptions = ordered.map((m) => new Set(m.streams))
  const eligible = new Map<string, number[]>()
  for (const stream of subscribedStreams(members, partitionCounts)) {
    eligible.set(
      stream,
      ordered.flatMap((_, i) => ((subscriptions[i] as Set<string>).has(stream) ? [i] : [])),
    )
  }
  const held = ordered.map(() => new Map<string, { stream: string; partition: number }>())
  const owner = new Map<string, number>()
  const kept = new Set<string>()
  const load = (i: number) => (held[i] as Map<string, unknown>).size
  const give = (i: number, stream: string, partition: number) => {
    const key = `${partition}:${stream}`
    const from = owner.get(key)
    if (from !== undefined) (held[from] as Map<string, unknown>).delete(key)
    owner.set(key, i)
    ;(held[i] as Map<string, { stream: string; partition: number }>).set(key, { stream, partition })
    return key
  }

  ordered.forEach((m, i) => {
    for (const [stream, partitions] of m.current ?? []) {
      if (!(subscriptions[i] as Set<string>).has(stream)) continue
      const count = countOf(partitionCounts, stream)
      for (const p of partitions) {
        if (!Number.isInteger(p) || p < 0 || p >= count || owner.has(`${p}:${stream}`)) continue
        kept.add(give(i, stream, p))
      }
    }
  })

  const orphans: Array<{ stream: string; partition: number }> = []
  for (const stream of eligible.keys()) {
    for (let p = 0; p < countOf(partitionCounts, stream); p++) {
      if (!owner.has(`${p}:${stream}`)) orphans.push({ stream, partition: p })
    }
  }
  // The most constrained partitions first, so that they still find room with few candidates.
  const candidatesOf = (stream: string) => eligible.get(stream) as number[]
  orphans.sort((a, b) => candidatesOf(a.stream).length - candidatesOf(b.stream).length)
  for (const o of orphans) {
    let best = -1
    for (const i of candidatesOf(o.stream)) if (best === -1 || load(i) < load(best)) best = i
    give(best, o.stream, o.partition)
  }

  const freeCount = (i: number) => {
    let n = 0
    for (const key of (held[i] as Map<string, unknown>).keys()) if (!kept.has(key)) n++
    return n
  }
  for (;;) {
    const minLoad = Math.min(...ordered.map((_, i) => load(i)))
    const givers = ordered
      .map((_, i) => ({ i, load: load(i), free: freeCount(i) }))
      .sort((a, b) => b.load - a.load || b.free - a.free || a.i - b.i)
    let moved = false
    for (const g of givers) {
      if (g.load - minLoad < 2) break
      let best: { key: string; stream: string; partition: number; to: number; free: boolean } | undefined
      for (const [key, { stream, partition }] of held[g.i] as Map<string, { stream: string; partition: number }>) {
        let to = -1
        for (const r of candidatesOf(stream)) if (r !== g.i && (to === -1 || load(r) < load(to))) to = r
        if (to === -1 || load(to) > g.load - 2) continue
        const free = !kept.has(key)
        if (best === undefined || (free && !best.free) || (free === best.free && load(to) < load(best.to))) {
          best = { key, stream, partition, to, free }
        }
      }
      if (best === undefined) continue
      give(best.to, best.stream, best.partition)
      kept.delete(best.key)
      moved = true
      break
    }
    if (!moved) break
  }

  const result = emptyResult(members)
  ordered.forEach((m, i) => {
    for (const { stream, partition } of (held[i] as Map<string, { stream: string; partition: number }>).values()) {
      add(result, m.memberId, stream, partition)
    }
  })
  return sortResult(result)
}
