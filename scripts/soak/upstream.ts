// The mirror oracle (test/helpers/mirror-oracle.ts) read upstream in one go at the end; the librdkafka
// mock trims every partition to its last 5 MiB (mirror.md §A5), far less than a soak sends. So this is
// the same check done as the soak goes: kcat reads each upstream partition from where it stopped every
// few seconds, long before the mock trims it, and keeps one fingerprint per local offset. At the end
// the local log is compared with it: every local record upstream, once (a further copy only with
// em.redelivered, and then equal), first copies in local order, provenance naming this gateway, stream,
// partition and offset, bytes and timestamp equal.
import { kcatRead } from '../../test/helpers/kafka-mock.ts'
import { parseProvenance } from '../../src/mirror/replication-policy.ts'
import { fingerprint, type LocalPartition } from './local-log.ts'

export interface UpstreamTarget {
  stream: string
  partition: number
  upstreamTopic: string
  upstreamPartition: number
}

interface Followed extends UpstreamTarget {
  /** Next upstream offset to read. */
  next: bigint
  /** Highest local offset seen among first copies. */
  highestLocal: number
  firstCopies: Map<number, string>
  read: number
  duplicates: number
  redelivered: number
  /** Upstream records the mock had trimmed before they were read: not verifiable. */
  unread: number
}

export interface UpstreamPartitionResult extends UpstreamTarget {
  localRecords: number
  upstreamRecords: number
  mirrored: number
  missing: number
  duplicates: number
  redelivered: number
  unread: number
  mismatched: number
}

const maxProblems = 40

export class UpstreamFollower {
  readonly #bootstrap: string
  readonly #gatewayAlias: string
  readonly #partitions = new Map<string, Followed>()
  readonly problems: string[] = []

  constructor(bootstrap: string, gatewayAlias: string) {
    this.#bootstrap = bootstrap
    this.#gatewayAlias = gatewayAlias
  }

  /** Starts following a mirrored partition (idempotent). */
  follow(target: UpstreamTarget): void {
    const id = `${target.stream}/${target.partition}`
    if (this.#partitions.has(id)) return
    this.#partitions.set(id, {
      ...target,
      next: 0n,
      highestLocal: -1,
      firstCopies: new Map(),
      read: 0,
      duplicates: 0,
      redelivered: 0,
      unread: 0,
    })
  }

  /** Reads what arrived upstream since the last poll. */
  async poll(): Promise<void> {
    for (const p of this.#partitions.values()) {
      const records = await kcatRead(this.#bootstrap, p.upstreamTopic, p.upstreamPartition, p.next)
      const where = `${p.upstreamTopic}[${p.upstreamPartition}]`
      for (const record of records) {
        if (record.offset > p.next) p.unread += Number(record.offset - p.next)
        p.next = record.offset + 1n
        p.read++
        const headers = record.headers.filter((h): h is [string, Uint8Array] => h[1] !== null)
        const provenance = parseProvenance(headers)
        if (provenance === undefined) {
          this.#problem(`${where} offset ${record.offset}: no (valid) provenance headers`)
          continue
        }
        const { gatewayAlias, stream, partition } = provenance
        if (gatewayAlias !== this.#gatewayAlias || stream !== p.stream || partition !== p.partition) {
          this.#problem(`${where} offset ${record.offset} names ${gatewayAlias} ${stream}/${partition}`)
          continue
        }
        const local = Number(provenance.offset)
        const userHeaders = record.headers.filter(([name]) => !name.startsWith('em.'))
        const print = fingerprint(record.key, record.value, userHeaders, record.timestamp)
        if (provenance.redelivered) p.redelivered++
        const earlier = p.firstCopies.get(local)
        if (earlier !== undefined) {
          p.duplicates++
          if (!provenance.redelivered) {
            this.#problem(`local offset ${local} is upstream again at ${where} ${record.offset} without em.redelivered`)
          }
          if (earlier !== print) this.#problem(`local offset ${local}: the redelivered copy differs from the first`)
          continue
        }
        if (local <= p.highestLocal) {
          this.#problem(`local offset ${local} at ${where} ${record.offset} comes after ${p.highestLocal}`)
        }
        p.highestLocal = Math.max(p.highestLocal, local)
        p.firstCopies.set(local, print)
      }
    }
  }

  /** Upstream records read so far, every partition. */
  get upstreamRecords(): number {
    let total = 0
    for (const p of this.#partitions.values()) total += p.read
    return total
  }

  /** Compares a partition's local log with what was read upstream (poll once more first). */
  compare(local: LocalPartition, stream: string, partition: number): UpstreamPartitionResult {
    const p = this.#partitions.get(`${stream}/${partition}`)
    if (p === undefined) throw new Error(`${stream}/${partition} was never followed upstream`)
    let missing = 0
    let mismatched = 0
    for (const [offset, print] of local.fingerprints) {
      const upstream = p.firstCopies.get(offset)
      if (upstream === undefined) {
        if (missing++ < 5) this.#problem(`${stream}/${partition} local offset ${offset} is not upstream`)
      } else if (upstream !== print) {
        if (mismatched++ < 5) this.#problem(`${stream}/${partition} local offset ${offset} differs upstream`)
      }
    }
    for (const offset of p.firstCopies.keys()) {
      if (offset >= local.logEnd) this.#problem(`upstream claims local offset ${offset} ≥ log end ${local.logEnd}`)
    }
    if (p.unread > 0) {
      this.#problem(
        `${p.unread} upstream record(s) of ${p.upstreamTopic}[${p.upstreamPartition}] trimmed by the mock before read`,
      )
    }
    return {
      stream,
      partition,
      upstreamTopic: p.upstreamTopic,
      upstreamPartition: p.upstreamPartition,
      localRecords: local.fingerprints.size,
      upstreamRecords: p.read,
      mirrored: local.fingerprints.size - missing,
      missing,
      duplicates: p.duplicates,
      redelivered: p.redelivered,
      unread: p.unread,
      mismatched,
    }
  }

  #problem(message: string): void {
    if (this.problems.length < maxProblems) this.problems.push(message)
  }
}
