// Subscription index: a trie over topic levels, so a PUBLISH costs roughly the depth of the topic times
// the number of `+` branches it meets, not the number of subscriptions. Matching is the hot path: it
// splits the topic once, walks with an explicit stack (no recursion, so depth is bounded only by the
// topic length) and otherwise allocates nothing. Nodes that become empty are pruned on removal, so
// memory follows the live subscriptions, not the churn history.

type Visit<T> = (value: T) => void

class TrieNode<T> {
  // Every field is set in the constructor so all nodes share one hidden class.
  children: Map<string, TrieNode<T>> | undefined = undefined
  /** The `+` child. */
  plus: TrieNode<T> | undefined = undefined
  /** Values of filters ending at this node. */
  values: T[] | undefined = undefined
  /** Values of filters ending in `/#` below this node (or `#` at the root); `#` is always last, so it needs no node. */
  hashValues: T[] | undefined = undefined
}

export class TopicTrie<T> {
  readonly #root = new TrieNode<T>()
  #size = 0
  #nodes = 0
  // Reused by match() so a match allocates no stack; a reentrant match (from a visitor) gets its own.
  readonly #nodeStack: TrieNode<T>[] = []
  readonly #depthStack: number[] = []
  #matching = false

  /** Number of stored values (a value added twice counts twice). */
  get size(): number {
    return this.#size
  }

  /** Number of trie nodes besides the root; 0 when empty. For memory metrics and leak tests. */
  get nodeCount(): number {
    return this.#nodes
  }

  /**
   * Stores `value` under a valid, non-shared topic filter (strip `$share/<name>/` first). Values are a
   * multiset per filter: adding the same value twice stores it twice. Throws RangeError on a filter
   * whose wildcards are misplaced, since callers must have validated it.
   */
  add(filter: string, value: T): void {
    const levels = filter.split('/')
    assertWildcardsPlaced(levels, filter)
    const last = levels.length - 1
    let node = this.#root
    for (let i = 0; i < last; i++) node = this.#child(node, levels[i] as string)
    if (levels[last] === '#') {
      node.hashValues ??= []
      node.hashValues.push(value)
    } else {
      node = this.#child(node, levels[last] as string)
      node.values ??= []
      node.values.push(value)
    }
    this.#size++
  }

  /** Removes every occurrence of `value` (compared with `===`) under `filter`; whether any was removed. */
  remove(filter: string, value: T): boolean {
    return this.removeWhere(filter, (candidate) => candidate === value) > 0
  }

  /** Removes the values under `filter` for which `predicate` holds; how many were removed. */
  removeWhere(filter: string, predicate: (value: T) => boolean): number {
    const levels = filter.split('/')
    const isHash = levels[levels.length - 1] === '#'
    const depth = isHash ? levels.length - 1 : levels.length
    // path[i] is the node reached after i levels; kept to prune upwards without parent pointers.
    const path: TrieNode<T>[] = [this.#root]
    let node: TrieNode<T> | undefined = this.#root
    for (let i = 0; i < depth; i++) {
      const level: string = levels[i] ?? ''
      node = level === '+' ? node.plus : node.children?.get(level)
      if (node === undefined) return 0
      path.push(node)
    }
    const current = isHash ? node.hashValues : node.values
    if (current === undefined) return 0
    // Copy rather than splice in place, so a match() iterating this array right now stays consistent.
    const kept = current.filter((value) => !predicate(value))
    const removed = current.length - kept.length
    if (removed === 0) return 0
    const replacement = kept.length === 0 ? undefined : kept
    if (isHash) node.hashValues = replacement
    else node.values = replacement
    this.#size -= removed
    this.#prune(path, levels)
    return removed
  }

  /** Values of every filter matching the topic name, once per (filter, value) pair, in no particular order. */
  match(topic: string): T[]
  /** Calls `visit` for the value of every filter matching the topic name; the allocation-free form. */
  match(topic: string, visit: Visit<T>): void
  match(topic: string, visit?: Visit<T>): T[] | undefined {
    if (visit !== undefined) {
      this.#walk(topic, visit)
      return undefined
    }
    const found: T[] = []
    this.#walk(topic, (value) => found.push(value))
    return found
  }

  #walk(topic: string, visit: Visit<T>): void {
    const levels = topic.split('/')
    const count = levels.length
    // [MQTT-4.7.2-1] a filter whose first level is a wildcard does not match a topic starting with `$`.
    const dollarTopic = topic.charCodeAt(0) === 0x24
    const reentrant = this.#matching
    const nodes = reentrant ? [] : this.#nodeStack
    const depths = reentrant ? [] : this.#depthStack
    this.#matching = true
    try {
      nodes.push(this.#root)
      depths.push(0)
      // Invariant: a popped node was reached by consuming exactly `depth` levels of the topic.
      while (nodes.length > 0) {
        const node = nodes.pop() as TrieNode<T>
        const depth = depths.pop() as number
        const wildcardsAllowed = depth > 0 || !dollarTopic
        // `#` matches the remaining levels, including none: `sport/#` matches `sport` (MQTT 5.0 §4.7.1.2).
        if (node.hashValues !== undefined && wildcardsAllowed) visitAll(node.hashValues, visit)
        if (depth === count) {
          if (node.values !== undefined) visitAll(node.values, visit)
          continue
        }
        const exact = node.children?.get(levels[depth] as string)
        if (exact !== undefined) {
          nodes.push(exact)
          depths.push(depth + 1)
        }
        // [MQTT-4.7.1-2] `+` matches exactly one level, which may be empty.
        if (node.plus !== undefined && wildcardsAllowed) {
          nodes.push(node.plus)
          depths.push(depth + 1)
        }
      }
    } finally {
      if (!reentrant) {
        this.#matching = false
        // A visitor that threw leaves entries behind; drop them so they neither leak nor confuse the next match.
        if (nodes.length > 0) {
          nodes.length = 0
          depths.length = 0
        }
      }
    }
  }

  #child(node: TrieNode<T>, level: string): TrieNode<T> {
    if (level === '+') {
      if (node.plus === undefined) {
        node.plus = new TrieNode<T>()
        this.#nodes++
      }
      return node.plus
    }
    node.children ??= new Map()
    let child = node.children.get(level)
    if (child === undefined) {
      child = new TrieNode<T>()
      node.children.set(level, child)
      this.#nodes++
    }
    return child
  }

  #prune(path: TrieNode<T>[], levels: string[]): void {
    for (let i = path.length - 1; i > 0; i--) {
      const node = path[i] as TrieNode<T>
      if (!isEmpty(node)) return
      const parent = path[i - 1] as TrieNode<T>
      const level = levels[i - 1] as string
      if (level === '+') {
        parent.plus = undefined
      } else if (parent.children !== undefined) {
        parent.children.delete(level)
        if (parent.children.size === 0) parent.children = undefined
      }
      this.#nodes--
    }
  }
}

function visitAll<T>(values: T[], visit: Visit<T>): void {
  // Length fixed up front: a visitor that adds under the same filter does not see its own addition.
  for (let i = 0, n = values.length; i < n; i++) visit(values[i] as T)
}

function isEmpty(node: TrieNode<unknown>): boolean {
  return (
    node.children === undefined && node.plus === undefined && node.values === undefined && node.hashValues === undefined
  )
}

// Checked before any node is created, so a rejected filter leaves no empty branch behind.
function assertWildcardsPlaced(levels: string[], filter: string): void {
  const last = levels.length - 1
  levels.forEach((level, i) => {
    // [MQTT-4.7.1-1] [MQTT-4.7.1-2] only whole-level wildcards, `#` only last; a misplaced one would
    // otherwise be stored as a literal level and silently never match.
    if ((level.includes('#') && (level !== '#' || i !== last)) || (level.includes('+') && level !== '+')) {
      throw new RangeError(`invalid topic filter ${JSON.stringify(filter)}`)
    }
  })
}
