// A partition of a stream as one string, so that sets and maps of partitions compare by value.
// The partition number comes first: stream names given by members may contain any character.

export interface StreamPartitions {
  stream: string
  partitions: number[]
}

export function partitionKey(stream: string, partition: number): string {
  return `${partition}:${stream}`
}

export function parsePartitionKey(key: string): { stream: string; partition: number } {
  const colon = key.indexOf(':')
  return { stream: key.slice(colon + 1), partition: Number(key.slice(0, colon)) }
}

export function keysOf(lists: readonly StreamPartitions[]): Set<string> {
  const keys = new Set<string>()
  for (const { stream, partitions } of lists) for (const p of partitions) keys.add(partitionKey(stream, p))
  return keys
}

/** Wire form: streams by name, partitions ascending. */
export function toStreamPartitions(keys: Iterable<string>): StreamPartitions[] {
  const byStream = new Map<string, number[]>()
  for (const key of keys) {
    const { stream, partition } = parsePartitionKey(key)
    const list = byStream.get(stream)
    if (list === undefined) byStream.set(stream, [partition])
    else list.push(partition)
  }
  return [...byStream.keys()]
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((stream) => ({ stream, partitions: (byStream.get(stream) as number[]).sort((a, b) => a - b) }))
}

export function toStreamMap(keys: Iterable<string>): Map<string, number[]> {
  return new Map(toStreamPartitions(keys).map((s) => [s.stream, s.partitions]))
}
