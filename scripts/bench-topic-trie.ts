// Subscription matching: TopicTrie against a linear scan of the same filters.
// Run: npx node scripts/bench-topic-trie.ts [subscriptions] [seconds per measurement]
// The scan is given every advantage a real one would have (filters split once up front, topic split
// once per publish), so the ratio measures the data structure, not string splitting.

import { TopicTrie } from '../src/topics/topic-trie.ts'

const subscriptionCount = Number(process.argv[2] ?? 10_000)
const secondsPerRun = Number(process.argv[3] ?? 3)
const warmupSeconds = 0.5

// Deterministic, so runs on different machines measure the same workload.
function mulberry32(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
const random = mulberry32(0xca1e)
const pick = (n: number): number => Math.floor(random() * n)

// A fleet: 20 sites × 500 devices × 5 metrics = 50,000 topics, e.g. `site/7/dev/123/temp`.
const sites = 20
const devices = 500
const metrics = ['temp', 'hum', 'pres', 'volt', 'status']
const randomTopicLevels = (): string[] => ['site', `${pick(sites)}`, 'dev', `${pick(devices)}`, metrics[pick(5)] ?? '']

function randomFilter(): string {
  const levels = randomTopicLevels()
  const kind = random()
  if (kind < 0.6) return levels.join('/') // exact
  if (kind < 0.85) {
    // one `+`, at the site, device or metric level; sometimes two
    levels[[1, 3, 4][pick(3)] ?? 1] = '+'
    if (random() < 0.2) levels[0] = '+'
    return levels.join('/')
  }
  // `#`: mostly one device, rarely a whole site
  return random() < 0.95 ? `site/${levels[1]}/dev/${levels[3]}/#` : `site/${levels[1]}/#`
}

const filters = Array.from({ length: subscriptionCount }, randomFilter)
const publishes = Array.from({ length: 4_096 }, () => randomTopicLevels().join('/'))
// A few topics nobody subscribes to, and a `$` topic that wildcards at the first level must skip.
for (let i = 0; i < publishes.length; i += 64) publishes[i] = i % 128 === 0 ? `$SYS/broker/${i}` : `other/${i}/x`

const trie = new TopicTrie<number>()
filters.forEach((filter, i) => trie.add(filter, i))

const splitFilters = filters.map((filter) => filter.split('/'))
function scanMatches(topic: string, visit: (value: number) => void): void {
  const levels = topic.split('/')
  const dollarTopic = topic.charCodeAt(0) === 0x24
  for (let f = 0; f < splitFilters.length; f++) {
    const filter = splitFilters[f] as string[]
    if (dollarTopic && (filter[0] === '+' || filter[0] === '#')) continue
    let matched = filter.length === levels.length
    for (let i = 0; i < filter.length; i++) {
      const level = filter[i]
      if (level === '#') {
        matched = true
        break
      }
      if (i >= levels.length || (level !== '+' && level !== levels[i])) {
        matched = false
        break
      }
    }
    if (matched) visit(f)
  }
}

// Both sides must deliver the same subscriptions, or the comparison means nothing.
for (const topic of publishes) {
  const viaTrie = trie.match(topic).sort((a, b) => a - b)
  const viaScan: number[] = []
  scanMatches(topic, (f) => viaScan.push(f))
  if (viaTrie.join() !== viaScan.join()) throw new Error(`trie and scan disagree on ${topic}`)
}

let delivered = 0
const count = (): void => {
  delivered++
}

function measure(matcher: (topic: string, visit: (value: number) => void) => void, seconds: number) {
  delivered = 0
  let calls = 0
  const start = performance.now()
  const deadline = start + seconds * 1000
  let now = start
  while (now < deadline) {
    // Batches of 256 publishes between clock reads keep timer overhead out of the measurement.
    for (let i = 0; i < 256; i++) matcher(publishes[(calls + i) & 4095] as string, count)
    calls += 256
    now = performance.now()
  }
  const elapsed = (now - start) / 1000
  return { perSecond: calls / elapsed, deliveriesPerCall: delivered / calls }
}

const viaTrie = (topic: string, visit: (value: number) => void): void => trie.match(topic, visit)

measure(viaTrie, warmupSeconds)
measure(scanMatches, warmupSeconds)
const trieResult = measure(viaTrie, secondsPerRun)
const scanResult = measure(scanMatches, secondsPerRun)

const format = (n: number): string => Math.round(n).toLocaleString('en-US').padStart(12)
const kinds = {
  exact: filters.filter((f) => !f.includes('+') && !f.includes('#')).length,
  plus: filters.filter((f) => f.includes('+')).length,
  hash: filters.filter((f) => f.includes('#')).length,
}
console.log(`node ${process.version}, ${subscriptionCount.toLocaleString('en-US')} subscriptions`)
console.log(
  `  filters: ${kinds.exact} exact, ${kinds.plus} with +, ${kinds.hash} with #; trie nodes: ${trie.nodeCount}`,
)
console.log(
  `  ${publishes.length} distinct publish topics, ${trieResult.deliveriesPerCall.toFixed(2)} matching subscriptions per publish on average`,
)
console.log('')
console.log(`  ${'matcher'.padEnd(10)} ${'match()/s'.padStart(12)}`)
console.log(`  ${'trie'.padEnd(10)} ${format(trieResult.perSecond)}`)
console.log(`  ${'scan'.padEnd(10)} ${format(scanResult.perSecond)}`)
console.log(`  trie/scan  ${(trieResult.perSecond / scanResult.perSecond).toFixed(1).padStart(11)}×`)
