import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import {
  CairnClient,
  isBrokerError,
  type Consumer,
  type ConsumerRecord,
  type StreamPartition,
} from '../../../src/client/index.ts'
import { startNativeBroker, type NativeBroker } from '../../helpers/native-broker.ts'

const dec = (b: Uint8Array | null): string => (b === null ? '' : new TextDecoder().decode(b))
const keyOf = (p: StreamPartition): string => `${p.stream}/${p.partition}`

let broker: NativeBroker
const clients: CairnClient[] = []

beforeEach(async () => {
  broker = await startNativeBroker({ groupDefaults: { heartbeatIntervalMs: 100 } })
})

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close()
  await broker.close()
})

function newClient(clientId: string): CairnClient {
  const client = new CairnClient({ port: broker.port, clientId, reconnect: { initialDelayMs: 10, maxDelayMs: 100 } })
  clients.push(client)
  return client
}

async function waitUntil(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 20))
}

async function produce(client: CairnClient, from: number, count: number): Promise<void> {
  const producer = client.producer({ lingerMs: 2 })
  await producer.send(
    'jobs',
    Array.from({ length: count }, (_, i) => ({ key: `job-${from + i}`, value: `${from + i}` })),
  )
  await producer.close()
}

/** Shared bookkeeping: who owns what (checked on every assignment) and what was processed. */
class Ledger {
  readonly owners = new Map<string, string>()
  readonly violations: string[] = []
  readonly processed = new Map<string, string>() // value -> worker
  readonly duplicates: string[] = []

  assigned(worker: string, partitions: StreamPartition[]): void {
    for (const p of partitions) {
      const owner = this.owners.get(keyOf(p))
      if (owner !== undefined && owner !== worker)
        this.violations.push(`${keyOf(p)} given to ${worker} while ${owner} owns it`)
      this.owners.set(keyOf(p), worker)
    }
  }

  released(worker: string, partitions: StreamPartition[]): void {
    for (const p of partitions) if (this.owners.get(keyOf(p)) === worker) this.owners.delete(keyOf(p))
  }

  crashed(worker: string): void {
    for (const [key, owner] of [...this.owners]) if (owner === worker) this.owners.delete(key)
  }

  count(worker: string, records: ConsumerRecord[]): void {
    for (const r of records) {
      const value = dec(r.value)
      if (this.processed.has(value)) this.duplicates.push(`${value} by ${worker} and ${this.processed.get(value)}`)
      this.processed.set(value, worker)
    }
  }
}

/**
 * A group member that processes then commits: a record counts as processed only once its offset
 * is committed. Before a partition is released (onRevoke) its processed records are committed;
 * records of a partition lost before their commit are not counted (the next owner gets them again).
 */
class Worker {
  readonly name: string
  readonly client: CairnClient
  readonly consumer: Consumer
  readonly #ledger: Ledger
  readonly #buffer = new Map<string, ConsumerRecord[]>()
  #committing: Promise<void> = Promise.resolve()
  #stopping = false
  readonly #loop: Promise<void>

  constructor(name: string, ledger: Ledger) {
    this.name = name
    this.#ledger = ledger
    this.client = newClient(name)
    this.consumer = this.client.consumer({
      group: 'workers',
      streams: ['jobs'],
      maxWaitMs: 100,
      sessionTimeoutMs: 1000,
      onAssign: (partitions) => ledger.assigned(name, partitions),
      onRevoke: async (partitions) => {
        await this.#committing
        await this.#commit(partitions)
        for (const p of partitions) this.#buffer.delete(keyOf(p))
        ledger.released(name, partitions)
      },
    })
    this.#loop = this.#run()
  }

  get assignment(): StreamPartition[] {
    return this.consumer.assignment()
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      const records = await this.consumer.poll()
      for (const r of records) {
        const list = this.#buffer.get(keyOf(r)) ?? []
        list.push(r)
        this.#buffer.set(keyOf(r), list)
      }
      this.#committing = this.#commit(this.consumer.assignment())
      await this.#committing
    }
  }

  async #commit(partitions: StreamPartition[]): Promise<void> {
    const batches = partitions
      .map((p) => this.#buffer.get(keyOf(p)) ?? [])
      .filter((list) => list.length > 0)
      .map((list) => [...list])
    if (batches.length === 0) return
    try {
      await this.consumer.commit(
        batches.map((list) => {
          const last = list.at(-1) as ConsumerRecord
          return { stream: last.stream, partition: last.partition, offset: last.offset + 1n }
        }),
      )
    } catch (error) {
      if (isBrokerError(error)) return // refused (no longer ours, stale epoch): not processed
      throw error
    }
    for (const list of batches) {
      const key = keyOf(list[0] as ConsumerRecord)
      this.#buffer.set(key, (this.#buffer.get(key) ?? []).slice(list.length))
      this.#ledger.count(this.name, list)
    }
  }

  /** Leaves the group cleanly (revoke + commit + leave). */
  async leave(): Promise<void> {
    this.#stopping = true
    await this.#loop
    await this.consumer.close()
  }

  /** Dies without a word to the broker, right after a commit cycle. */
  async crash(): Promise<void> {
    this.#stopping = true
    await this.#loop
    await this.client.close()
    this.#ledger.crashed(this.name)
  }
}

describe('client - consumer groups', () => {
  test('client - members join, leave and crash: no partition owned twice, every record processed once', async () => {
    const admin = newClient('admin')
    await admin.admin().createStream('jobs', { partitions: 6 })
    const ledger = new Ledger()
    await produce(admin, 0, 400)

    const a = new Worker('a', ledger)
    await waitUntil(() => ledger.processed.size >= 100)
    const b = new Worker('b', ledger)
    await waitUntil(() => b.assignment.length > 0 && a.assignment.length > 0)
    await produce(admin, 400, 400)
    const c = new Worker('c', ledger)
    await waitUntil(() => c.assignment.length > 0 && b.assignment.length > 0 && a.assignment.length > 0)
    expect(a.assignment.length + b.assignment.length + c.assignment.length).toBeLessThanOrEqual(6)

    await b.leave()
    await waitUntil(() => a.assignment.length + c.assignment.length === 6)
    await produce(admin, 800, 400)
    await c.crash()
    // c's session (1 s) expires and a takes everything over from the committed offsets.
    await waitUntil(() => ledger.processed.size === 1200 && a.assignment.length === 6)

    const described = await admin.admin().describeGroup('workers')
    expect(described.members.map((m) => m.clientId)).toEqual(['a'])
    expect(ledger.violations).toEqual([])
    expect(ledger.duplicates).toEqual([])
    expect([...ledger.processed.keys()].map(Number).sort((x, y) => x - y)).toEqual(
      Array.from({ length: 1200 }, (_, i) => i),
    )
    expect(new Set(ledger.processed.values())).toEqual(new Set(['a', 'b', 'c']))
    await a.leave()
    expect((await admin.admin().describeGroup('workers')).members).toEqual([])
    const committed = await admin.admin().fetchOffsets('workers', ['jobs'])
    expect(committed.reduce((sum, o) => sum + o.offset, 0n)).toBe(1200n)
  }, 60_000)

  test('client - a new member starts at the committed offset; autoCommit commits on close', async () => {
    const admin = newClient('admin')
    await admin.admin().createStream('jobs', { partitions: 2 })
    await produce(admin, 0, 10)
    const first = newClient('first').consumer({ group: 'resume', streams: ['jobs'], autoCommit: true, maxWaitMs: 50 })
    const seen: string[] = []
    for await (const record of first) {
      seen.push(dec(record.value))
      if (seen.length === 10) break
    }
    await first.close()
    await produce(admin, 10, 5)
    const second = newClient('second').consumer({ group: 'resume', maxWaitMs: 50 })
    second.subscribe(['jobs'])
    const later: string[] = []
    while (later.length < 5) for (const r of await second.poll()) later.push(dec(r.value))
    expect(later.map(Number).sort((x, y) => x - y)).toEqual([10, 11, 12, 13, 14])
    expect(await second.lag()).toEqual(expect.arrayContaining([expect.objectContaining({ stream: 'jobs', lag: 0n })]))
    await second.close()
  })

  test('client - assign() without membership commits as a simple consumer; admin reads and resets offsets', async () => {
    const admin = newClient('admin')
    await admin.admin().createStream('jobs', { partitions: 1 })
    await produce(admin, 0, 6)
    const consumer = newClient('simple').consumer({ group: 'manual', maxWaitMs: 50 })
    consumer.assign([{ stream: 'jobs', partition: 0 }])
    const records: ConsumerRecord[] = []
    while (records.length < 6) records.push(...(await consumer.poll()))
    await consumer.commit()
    const [committed] = await admin.admin().fetchOffsets('manual')
    expect(committed).toMatchObject({ stream: 'jobs', partition: 0, offset: 6n, lag: 0 })
    const reset = await admin.admin().resetOffsets({ group: 'manual', stream: 'jobs', to: { offset: 2n } })
    expect(reset).toEqual([{ stream: 'jobs', partition: 0, previous: 6n, offset: 2n }])
    const again = newClient('again').consumer({ group: 'manual', maxWaitMs: 50 })
    again.assign([{ stream: 'jobs', partition: 0 }])
    const replay: ConsumerRecord[] = []
    while (replay.length < 4) replay.push(...(await again.poll()))
    expect(replay.map((r) => r.offset)).toEqual([2n, 3n, 4n, 5n])
    expect((await admin.admin().listGroups()).map((g) => g.group)).toContain('manual')
    await admin.admin().deleteGroup('manual')
    expect(await admin.admin().fetchOffsets('manual')).toEqual([])
  })

  test('client - a static member that leaves for a while gets its partitions back on return', async () => {
    const admin = newClient('admin')
    await admin.admin().createStream('jobs', { partitions: 4 })
    const options = { group: 'static', streams: ['jobs'], maxWaitMs: 50, sessionTimeoutMs: 20_000 }
    const first = newClient('s1').consumer({ ...options, instanceId: 'gateway-7' })
    const other = newClient('s2').consumer(options)
    const pollBoth = async (): Promise<void> => {
      await Promise.all([first.poll(), other.poll()])
    }
    while (first.assignment().length !== 2 || other.assignment().length !== 2) await pollBoth()
    const mine = first.assignment()
    const theirs = other.assignment()
    await first.close() // static: leaves with epoch -2, its partitions wait for it
    const described = await admin.admin().describeGroup('static')
    expect(described.members.find((m) => m.instanceId === 'gateway-7')?.memberEpoch).toBe(-2)
    const back = newClient('s1-again').consumer({ ...options, instanceId: 'gateway-7' })
    while (back.assignment().length !== 2) await back.poll()
    expect(back.assignment()).toEqual(expect.arrayContaining(mine))
    await other.poll()
    expect(other.assignment()).toEqual(expect.arrayContaining(theirs))
    expect(other.assignment()).toHaveLength(2)
    await back.close()
    await other.close()
  })
})
