// KafkaSink over kafkajs 2.2.4 — the only file in the tree that imports kafkajs (architecture.md
// decision 5; enforced by eslint). kafkajs is unmaintained and pinned exactly, which is what makes it
// acceptable to drive its Cluster/Broker layer directly instead of its Producer/Consumer:
//
// - send(): kafkajs's Producer wraps every produce in a retrier whose catch block reconnects and
//   refreshes metadata, so a request that was written and then lost its connection can surface as
//   "ECONNREFUSED" from the reconnect — indistinguishable from "never sent". The mirror needs that
//   distinction exactly (UNCERTAIN means "reconcile before resending", UNAVAILABLE means "resend"), so
//   this sink issues exactly one Produce request per send() through `broker.produce()` and learns
//   whether the request reached the socket from its own socket factory (ProduceWriteLog below).
// - read(): kafkajs has no assign(); a consumer with a throw-away group pays the group join
//   (~3 s per read on the mock: its initial rebalance delay) and leaves group state behind. Fetching
//   by offset with `broker.fetch()` costs one round trip per ~1 MiB and touches no group.
//
// The Cluster comes from the Kafka client's private `createCluster` (looked up by its symbol
// description); a missing or changed internal fails loudly at construction, never silently.

import net from 'node:net'
import tls from 'node:tls'
import kafkajs, { type ISocketFactory, type LogEntry, type SASLOptions } from 'kafkajs'
// @ts-expect-error -- kafkajs ships no types for its internals; used only for the patch below.
import requestQueueModule from 'kafkajs/src/network/requestQueue/index.js'
// @ts-expect-error -- as above: the Produce versions, for produceRequest() below.
import produceDefinitions from 'kafkajs/src/protocol/requests/produce/index.js'
import type { Logger } from 'pino'
import { BrokerError, type ErrorCode } from '../errors.ts'
import type { FetchedRecord, KafkaSink, UpstreamRecord } from './kafka-sink.ts'
import { toRecordBatch, type RecordBatch } from './record-batch.ts'

export interface KafkajsSinkOptions {
  /** Bootstrap brokers, `host:port`. */
  brokers: string[]
  clientId: string
  ssl?: tls.ConnectionOptions | boolean
  sasl?: SASLOptions
  /** TCP (and TLS) connect timeout. Default 3000. */
  connectionTimeoutMs?: number
  /** Client-side timeout of one request, and the broker-side ack timeout of a Produce. Default 30000. */
  requestTimeoutMs?: number
  /** Rewrites broker addresses for every connection (`"10.0.0.5:9092": "127.0.0.1:19092"`): gateways
   *  behind NAT or SSH tunnels, and the fault proxy in tests. Addresses without an entry are used as is. */
  brokerAddressMap?: Record<string, string>
  /** Ask the broker to create unknown topics on metadata requests (Metadata v4+; older brokers and the
   *  librdkafka mock decide by their own config). Default false: a missing topic is a config error. */
  allowAutoTopicCreation?: boolean
  /** Max bytes per Fetch in read(); grows by itself for a single larger batch. Default 1 MiB. */
  fetchMaxBytes?: number
  /** kafkajs's own logs go here (error/warn → warn, info → debug, debug → trace). Default: silent. */
  logger?: Logger
}

const { Kafka, logLevel } = kafkajs
const READ_UNCOMMITTED = 0
const LATEST = -1
const EARLIEST = -2
const MAX_FETCH_BYTES = 64 * 1024 * 1024

// Kafka errors that prove the broker did not append and that a resend cannot fix.
const rejectedTypes: ReadonlySet<string> = new Set([
  'CORRUPT_MESSAGE',
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_TOPIC_EXCEPTION',
  'INVALID_REQUIRED_ACKS',
  'TOPIC_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'INVALID_TIMESTAMP',
  'UNSUPPORTED_VERSION',
  'INVALID_REQUEST',
  'UNSUPPORTED_FOR_MESSAGE_FORMAT',
  'POLICY_VIOLATION',
  'UNSUPPORTED_COMPRESSION_TYPE',
  'INVALID_RECORD',
])

// Kafka errors that prove the broker did not append but that may pass (leadership moves, ISR shrink).
const notAppendedTypes: ReadonlySet<string> = new Set([
  'LEADER_NOT_AVAILABLE',
  'NOT_LEADER_FOR_PARTITION', // NOT_LEADER_OR_FOLLOWER in newer Kafka
  'BROKER_NOT_AVAILABLE',
  'REPLICA_NOT_AVAILABLE',
  'NOT_ENOUGH_REPLICAS', // checked before the append; NOT_ENOUGH_REPLICAS_AFTER_APPEND is uncertain
  'FENCED_LEADER_EPOCH',
  'UNKNOWN_LEADER_EPOCH',
])

// Link-level failures that no amount of backoff fixes without an operator.
const authenticationTypes: ReadonlySet<string> = new Set([
  'SASL_AUTHENTICATION_FAILED',
  'UNSUPPORTED_SASL_MECHANISM',
  'ILLEGAL_SASL_STATE',
])

export class KafkajsSink implements KafkaSink {
  readonly #options: KafkajsSinkOptions
  readonly #connectionTimeoutMs: number
  readonly #requestTimeoutMs: number
  readonly #fetchMaxBytes: number
  readonly #addressMap: ReadonlyMap<string, { host: string; port: number }>
  readonly #writes = new ProduceWriteLog()
  readonly #sendTails = new Map<string, Promise<void>>()
  #link: Link | null = null
  #closed = false

  constructor(options: KafkajsSinkOptions) {
    if (options.brokers.length === 0) throw new RangeError('KafkajsSink needs at least one broker')
    this.#options = options
    this.#connectionTimeoutMs = positive(options.connectionTimeoutMs ?? 3000, 'connectionTimeoutMs')
    this.#requestTimeoutMs = positive(options.requestTimeoutMs ?? 30_000, 'requestTimeoutMs')
    this.#fetchMaxBytes = positive(options.fetchMaxBytes ?? 1024 * 1024, 'fetchMaxBytes')
    const map = new Map<string, { host: string; port: number }>()
    for (const [from, to] of Object.entries(options.brokerAddressMap ?? {})) {
      const source = parseHostPort(from)
      map.set(`${source.host}:${source.port}`, parseHostPort(to))
    }
    this.#addressMap = map
    // Fail at construction, not on the first send, if kafkajs's internals are not what this file expects.
    this.#newLink().retire('probe', 'destroy')
  }

  async connect(): Promise<void> {
    const link = this.#currentLink()
    try {
      await this.#bounded(link, this.#opDeadlineMs, 'connect', async () => {
        await link.cluster.connect()
        await link.cluster.refreshMetadata()
      })
    } catch (error) {
      throw this.#unavailable('connect', error)
    }
  }

  async partitionCount(topic: string): Promise<number> {
    checkTopic(topic)
    const link = this.#currentLink()
    try {
      return await this.#bounded(link, this.#opDeadlineMs, 'metadata', async () => {
        await link.cluster.connect()
        await link.cluster.addTargetTopic(topic)
        await link.cluster.refreshMetadataIfNecessary()
        let partitions = link.cluster.findTopicPartitionMetadata(topic)
        if (partitions.length === 0) {
          await link.cluster.refreshMetadata()
          partitions = link.cluster.findTopicPartitionMetadata(topic)
        }
        if (partitions.length === 0) throw new SinkFailure('CAIRN_UPSTREAM_REJECTED', `topic ${topic} does not exist`)
        return partitions.length
      })
    } catch (error) {
      throw this.#readFailure('metadata', error, topic)
    }
  }

  async send(topic: string, partition: number, input: RecordBatch | readonly UpstreamRecord[]): Promise<bigint> {
    checkTopic(topic)
    checkPartition(partition)
    const batch = toRecordBatch(input)
    // One request in flight per partition: the order guarantee, and what makes ProduceWriteLog exact.
    const key = partitionKey(topic, partition)
    const previous = this.#sendTails.get(key) ?? Promise.resolve()
    const result = previous.then(() => this.#send(topic, partition, batch))
    const tail = result.then(
      () => undefined,
      () => undefined,
    )
    this.#sendTails.set(key, tail)
    void tail.then(() => {
      if (this.#sendTails.get(key) === tail) this.#sendTails.delete(key)
    })
    return await result
  }

  async offsets(topic: string, partition: number): Promise<{ earliest: bigint; latest: bigint }> {
    checkTopic(topic)
    checkPartition(partition)
    const link = this.#currentLink()
    try {
      return await this.#bounded(link, this.#opDeadlineMs, 'list offsets', async () => {
        const broker = await this.#leader(link, topic, partition)
        const [earliest, latest] = await Promise.all([
          listOffset(broker, topic, partition, EARLIEST),
          listOffset(broker, topic, partition, LATEST),
        ])
        return { earliest, latest }
      })
    } catch (error) {
      throw this.#readFailure('list offsets', error, topic, partition)
    }
  }

  async read(
    topic: string,
    partition: number,
    from: bigint,
    until: bigint,
    maxRecords = Number.POSITIVE_INFINITY,
  ): Promise<FetchedRecord[]> {
    checkTopic(topic)
    checkPartition(partition)
    if (from < 0n) throw new RangeError(`read() from must be >= 0, got ${from}`)
    const out: FetchedRecord[] = []
    let next = from
    let maxBytes = this.#fetchMaxBytes
    while (next < until && out.length < maxRecords) {
      const link = this.#currentLink()
      let fetched: KjsFetchPartition
      try {
        fetched = await this.#bounded(link, this.#opDeadlineMs, 'fetch', async () => {
          const broker = await this.#leader(link, topic, partition)
          const response = await broker.fetch({
            isolationLevel: READ_UNCOMMITTED,
            maxWaitTime: 0,
            minBytes: 1,
            maxBytes,
            topics: [{ topic, partitions: [{ partition, fetchOffset: next.toString(), maxBytes }] }],
          })
          const part = response.responses
            .find((r) => r.topicName === topic)
            ?.partitions.find((p) => p.partition === partition)
          if (part === undefined)
            throw new SinkFailure('CAIRN_UPSTREAM_UNAVAILABLE', 'fetch response without the partition')
          return part
        })
      } catch (error) {
        if (protocolType(rootCause(error)) === 'OFFSET_OUT_OF_RANGE') {
          // Below the log start (retention removed [next, earliest)) or above the high watermark.
          const { earliest, latest } = await this.offsets(topic, partition)
          if (next < earliest) {
            next = earliest
            continue
          }
          if (next >= latest) break
        }
        throw this.#readFailure('fetch', error, topic, partition)
      }

      const highWatermark = BigInt(fetched.highWatermark)
      let progressed = false
      let batchEnd = next
      for (const message of fetched.messages) {
        const end = BigInt(message.batchContext.firstOffset) + BigInt(message.batchContext.lastOffsetDelta) + 1n
        if (end > batchEnd) batchEnd = end
        if (message.isControlRecord) continue
        const offset = BigInt(message.offset)
        if (offset < next) continue
        if (offset >= until || out.length >= maxRecords) break
        out.push(fromKafkajsMessage(message, offset))
        next = offset + 1n
        progressed = true
      }
      if (out.length >= maxRecords) break
      // Batches can end in control records or compacted-away offsets: continue after the last batch seen.
      if (batchEnd > next) {
        next = batchEnd
        progressed = true
      }
      if (next >= highWatermark) break
      if (!progressed) {
        // An empty answer below the high watermark: one batch larger than maxBytes (kafkajs drops
        // partial batches). Grow, and never return a short read silently — the caller would resend
        // records it believes absent.
        if (maxBytes >= MAX_FETCH_BYTES) {
          throw new BrokerError(
            'CAIRN_UPSTREAM_UNAVAILABLE',
            `fetch ${topic}[${partition}] made no progress at ${next}`,
            {
              details: { topic, partition, offset: next.toString(), highWatermark: highWatermark.toString() },
            },
          )
        }
        maxBytes = Math.min(MAX_FETCH_BYTES, maxBytes * 4)
      }
    }
    return out
  }

  async close(): Promise<void> {
    this.#closed = true
    const link = this.#link
    this.#link = null
    if (link === null) return
    link.retired = true
    await withTimeout(link.cluster.disconnect(), this.#connectionTimeoutMs).catch(() => undefined)
    link.retire('closed', 'destroy')
  }

  // ---------------------------------------------------------------------------------------------

  get #opDeadlineMs(): number {
    return this.#connectionTimeoutMs + this.#requestTimeoutMs
  }

  async #send(topic: string, partition: number, batch: RecordBatch): Promise<bigint> {
    // Phase 1: metadata and the leader's connection. A failure here proves the Produce was not sent.
    let link: Link
    let broker: KjsBroker
    try {
      link = this.#currentLink()
      const current = link
      broker = await this.#bounded(link, this.#opDeadlineMs, 'produce: find leader', () =>
        this.#leader(current, topic, partition),
      )
    } catch (error) {
      throw this.#beforeSendFailure(error, topic, partition)
    }

    // Phase 2: exactly one Produce request, no retries.
    const key = partitionKey(topic, partition)
    const before = this.#writes.snapshot(key)
    let response: KjsProduceResponse
    try {
      response = await this.#bounded(link, this.#requestTimeoutMs + 1000, 'produce', () =>
        sendRequest(broker, produceRequest(broker, topic, partition, batch, this.#requestTimeoutMs)),
      )
    } catch (error) {
      throw await this.#produceFailure(error, this.#writes.wasWritten(key, before), link, topic, partition)
    }
    const result = response.topics.find((t) => t.topicName === topic)?.partitions.find((p) => p.partition === partition)
    if (result === undefined || result.baseOffset === undefined || BigInt(result.baseOffset) < 0n) {
      throw new BrokerError(
        'CAIRN_UPSTREAM_UNCERTAIN',
        `produce to ${topic}[${partition}]: response without a base offset`,
        {
          details: { topic, partition },
        },
      )
    }
    return BigInt(result.baseOffset)
  }

  /** Metadata for the partition (refreshed once if the partition is unknown) and its leader, connected. */
  async #leader(link: Link, topic: string, partition: number): Promise<KjsBroker> {
    const { cluster } = link
    await cluster.connect()
    await cluster.addTargetTopic(topic)
    await cluster.refreshMetadataIfNecessary()
    let meta = cluster.findTopicPartitionMetadata(topic).find((p) => p.partitionId === partition)
    if (meta === undefined || meta.leader === null || meta.leader < 0) {
      await cluster.refreshMetadata()
      meta = cluster.findTopicPartitionMetadata(topic).find((p) => p.partitionId === partition)
    }
    if (meta === undefined) {
      throw new SinkFailure('CAIRN_UPSTREAM_REJECTED', `${topic}[${partition}] does not exist upstream`, {
        kafkaError: 'UNKNOWN_TOPIC_OR_PARTITION',
      })
    }
    if (meta.leader === null || meta.leader < 0) {
      throw new SinkFailure('CAIRN_UPSTREAM_UNAVAILABLE', `${topic}[${partition}] has no leader`, {
        kafkaError: 'LEADER_NOT_AVAILABLE',
      })
    }
    return cluster.findBroker({ nodeId: String(meta.leader) })
  }

  #beforeSendFailure(error: unknown, topic: string, partition: number): BrokerError {
    const failure = this.#readFailure('produce', error, topic, partition)
    // Nothing was written, so "uncertain" cannot apply: what is not definite is "unavailable".
    const code = failure.code === 'CAIRN_UPSTREAM_REJECTED' ? failure.code : 'CAIRN_UPSTREAM_UNAVAILABLE'
    return new BrokerError(code, failure.message, {
      cause: error,
      retriable: failure.retriable,
      details: { ...failure.details, written: false },
    })
  }

  async #produceFailure(
    error: unknown,
    written: boolean,
    link: Link,
    topic: string,
    partition: number,
  ): Promise<BrokerError> {
    const cause = rootCause(error)
    const kafkaError = protocolType(cause)
    const details: Record<string, unknown> = { topic, partition, written }
    if (kafkaError !== undefined) details['kafkaError'] = kafkaError
    const where = `produce to ${topic}[${partition}]`

    if (kafkaError !== undefined) {
      // The broker answered: its error code decides.
      if (rejectedTypes.has(kafkaError)) {
        return new BrokerError('CAIRN_UPSTREAM_REJECTED', `${where}: ${kafkaError}`, { cause: error, details })
      }
      if (notAppendedTypes.has(kafkaError)) {
        this.#refreshInBackground(link)
        return new BrokerError('CAIRN_UPSTREAM_UNAVAILABLE', `${where}: ${kafkaError}`, { cause: error, details })
      }
      if (kafkaError === 'UNKNOWN_TOPIC_OR_PARTITION') {
        // Definitely not appended; whether it is permanent depends on fresh metadata.
        const exists = await this.#partitionExistsAfterRefresh(link, topic, partition)
        return new BrokerError(
          exists ? 'CAIRN_UPSTREAM_UNAVAILABLE' : 'CAIRN_UPSTREAM_REJECTED',
          `${where}: ${kafkaError}`,
          { cause: error, details },
        )
      }
      // REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS_AFTER_APPEND, NETWORK_EXCEPTION, KAFKA_STORAGE_ERROR, unknown…
      return new BrokerError('CAIRN_UPSTREAM_UNCERTAIN', `${where}: ${kafkaError}`, { cause: error, details })
    }

    if (!written) {
      return new BrokerError('CAIRN_UPSTREAM_UNAVAILABLE', `${where}: not sent: ${describe(cause)}`, {
        cause: error,
        details,
      })
    }
    return new BrokerError('CAIRN_UPSTREAM_UNCERTAIN', `${where}: outcome unknown: ${describe(cause)}`, {
      cause: error,
      details,
    })
  }

  /** Failures of metadata, ListOffsets and Fetch (and of phase 1 of a send): never "uncertain". */
  #readFailure(operation: string, error: unknown, topic: string, partition?: number): BrokerError {
    if (error instanceof BrokerError) return error
    const where = partition === undefined ? `${operation} ${topic}` : `${operation} ${topic}[${partition}]`
    if (error instanceof SinkFailure) {
      return new BrokerError(error.code, `${where}: ${error.message}`, {
        details: { topic, partition, ...error.details },
      })
    }
    const cause = rootCause(error)
    const kafkaError = protocolType(cause)
    const details: Record<string, unknown> = { topic, partition }
    if (kafkaError !== undefined) details['kafkaError'] = kafkaError
    if (kafkaError !== undefined && (rejectedTypes.has(kafkaError) || kafkaError === 'UNKNOWN_TOPIC_OR_PARTITION')) {
      return new BrokerError('CAIRN_UPSTREAM_REJECTED', `${where}: ${kafkaError}`, { cause: error, details })
    }
    if (isAuthenticationFailure(cause)) {
      return new BrokerError('CAIRN_UPSTREAM_UNAVAILABLE', `${where}: ${describe(cause)}`, {
        cause: error,
        details,
        retriable: false,
      })
    }
    if (kafkaError !== undefined && notAppendedTypes.has(kafkaError) && this.#link !== null) {
      this.#refreshInBackground(this.#link)
    }
    return new BrokerError('CAIRN_UPSTREAM_UNAVAILABLE', `${where}: ${describe(cause)}`, { cause: error, details })
  }

  #unavailable(operation: string, error: unknown): BrokerError {
    if (error instanceof BrokerError) return error
    const cause = rootCause(error)
    const kafkaError = protocolType(cause)
    return new BrokerError('CAIRN_UPSTREAM_UNAVAILABLE', `${operation}: ${describe(cause)}`, {
      cause: error,
      retriable: !isAuthenticationFailure(cause),
      details: kafkaError === undefined ? {} : { kafkaError },
    })
  }

  async #partitionExistsAfterRefresh(link: Link, topic: string, partition: number): Promise<boolean> {
    try {
      await withTimeout(link.cluster.refreshMetadata(), this.#opDeadlineMs)
      return link.cluster.findTopicPartitionMetadata(topic).some((p) => p.partitionId === partition)
    } catch {
      return true // cannot tell: treat as transient, never as poison
    }
  }

  #refreshInBackground(link: Link): void {
    void withTimeout(link.cluster.refreshMetadata(), this.#opDeadlineMs).catch(() => undefined)
  }

  /**
   * Runs `fn` against `link`, at most `ms`. Any failure that is not a broker's error answer (a timeout,
   * a refused or dropped connection, …) retires the link: the next operation starts a fresh kafkajs
   * client. kafkajs does not always recover by itself — e.g. a broker whose ApiVersions request timed
   * out stays "connected" without API versions and fails every later request with "Broker not
   * connected". A retired link drains: requests already in flight on it still get their answers.
   * Past the deadline the link's sockets are destroyed instead (something in kafkajs hangs).
   */
  async #bounded<T>(link: Link, ms: number, what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await withTimeout(fn(), ms)
    } catch (error) {
      if (error instanceof DeadlineExceeded) {
        link.retire(`${what} exceeded ${ms} ms`, 'destroy')
        throw new DeadlineExceeded(`${what} exceeded ${ms} ms`)
      }
      if (!(error instanceof SinkFailure) && protocolType(rootCause(error)) === undefined) {
        link.retire(`${what}: ${describe(rootCause(error))}`, 'drain')
      }
      throw error
    }
  }

  #currentLink(): Link {
    if (this.#closed) throw new BrokerError('CAIRN_UPSTREAM_UNAVAILABLE', 'the Kafka sink is closed')
    if (this.#link === null || this.#link.retired) this.#link = this.#newLink()
    return this.#link
  }

  /** A fresh kafkajs client + cluster with its own sockets: "reconnect from scratch". */
  #newLink(): Link {
    const sockets = new Set<net.Socket>()
    const link: Link = {
      cluster: undefined as unknown as KjsCluster,
      retired: false,
      retire: (reason, mode) => {
        const first = !link.retired
        link.retired = true
        if (mode === 'destroy') {
          for (const socket of sockets) socket.destroy(new Error(`connection dropped by Cairn: ${reason}`))
        }
        if (first) {
          this.#options.logger?.debug({ reason }, 'kafka client reset')
          // Waits for requests in flight (each bounded by the request timeout), then closes the sockets.
          void link.cluster.disconnect().catch(() => undefined)
        }
      },
    }
    const logger = this.#options.logger
    const kafka = new Kafka({
      brokers: this.#options.brokers,
      clientId: this.#options.clientId,
      ...(this.#options.ssl === undefined ? {} : { ssl: this.#options.ssl }),
      ...(this.#options.sasl === undefined ? {} : { sasl: this.#options.sasl }),
      connectionTimeout: this.#connectionTimeoutMs,
      requestTimeout: this.#requestTimeoutMs,
      enforceRequestTimeout: true,
      // Used by kafkajs for metadata and connection set-up only; produce never goes through a retrier here.
      retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 },
      socketFactory: this.#socketFactory(link, sockets),
      logLevel: logger === undefined ? logLevel.NOTHING : kafkajsLevel(logger),
      ...(logger === undefined ? {} : { logCreator: () => kafkajsLogEntry(logger.child({ component: 'kafkajs' })) }),
    })
    const createCluster = privateCreateCluster(kafka)
    link.cluster = createCluster({
      allowAutoTopicCreation: this.#options.allowAutoTopicCreation ?? false,
      isolationLevel: READ_UNCOMMITTED,
      metadataMaxAge: 300_000,
      maxInFlightRequests: null,
    })
    return link
  }

  #socketFactory(link: Link, sockets: Set<net.Socket>): ISocketFactory {
    return ({ host, port, ssl, onConnect }) => {
      const target = this.#addressMap.get(`${host}:${port}`) ?? { host, port }
      // kafkajs passes its `ssl` option through: null/undefined/false for plaintext.
      const useTls = (ssl as unknown) !== null && (ssl as unknown) !== undefined && (ssl as unknown) !== false
      const socket: net.Socket = useTls
        ? tls.connect(
            Object.assign(
              { host: target.host, port: target.port },
              net.isIP(host) === 0 ? { servername: host } : {},
              ssl,
            ),
            onConnect,
          )
        : net.connect({ host: target.host, port: target.port }, onConnect)
      socket.setKeepAlive(true, 60_000)
      socket.setNoDelay(true)
      sockets.add(socket)
      socket.once('close', () => sockets.delete(socket))
      // kafkajs writes every request with one write() of the whole frame.
      const write = socket.write.bind(socket) as (...args: unknown[]) => boolean
      socket.write = (...args: unknown[]) => {
        if (!socket.destroyed) this.#writes.observe(args[0])
        return write(...args)
      }
      if (link.retired) socket.destroy(new Error('connection dropped by Cairn: link retired'))
      return socket
    }
  }
}

// -------------------------------------------------------------------------------------------------
// Produce requests seen on the wire, per topic-partition (Produce v0–v8 framing: int32 size, int16
// api key = 0, int16 version, int32 correlation id, string client id, [v3+ nullable string
// transactional id], int16 acks, int32 timeout, [topic: string, [partition: int32, records: bytes]]).

class ProduceWriteLog {
  readonly #counts = new Map<string, number>()
  #unparsed = 0

  observe(chunk: unknown): void {
    if (!(chunk instanceof Uint8Array) || chunk.byteLength < 8) return
    const frame = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    if (frame.readInt16BE(4) !== 0) return
    try {
      for (const key of produceTargets(frame)) this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1)
    } catch {
      this.#unparsed++ // counts as "maybe written" for every partition
    }
  }

  snapshot(key: string): { count: number; unparsed: number } {
    return { count: this.#counts.get(key) ?? 0, unparsed: this.#unparsed }
  }

  wasWritten(key: string, before: { count: number; unparsed: number }): boolean {
    return (this.#counts.get(key) ?? 0) !== before.count || this.#unparsed !== before.unparsed
  }
}

function produceTargets(frame: Buffer): string[] {
  let at = 6
  const version = frame.readInt16BE(at)
  at += 2 + 4 // version, correlation id
  at += 2 + Math.max(0, frame.readInt16BE(at)) // client id
  if (version >= 9) throw new Error('flexible Produce versions are not parsed')
  if (version >= 3) at += 2 + Math.max(0, frame.readInt16BE(at)) // transactional id
  at += 2 + 4 // acks, timeout
  const keys: string[] = []
  const topics = frame.readInt32BE(at)
  at += 4
  for (let t = 0; t < topics; t++) {
    const nameLength = frame.readInt16BE(at)
    at += 2
    if (at + nameLength > frame.length) throw new RangeError('truncated Produce request')
    const topic = frame.toString('utf8', at, at + nameLength)
    at += nameLength
    const partitions = frame.readInt32BE(at)
    at += 4
    for (let p = 0; p < partitions; p++) {
      const partition = frame.readInt32BE(at)
      const size = frame.readInt32BE(at + 4)
      at += 8 + Math.max(0, size)
      keys.push(partitionKey(topic, partition))
    }
  }
  return keys
}

// -------------------------------------------------------------------------------------------------
// The slice of kafkajs's Cluster/Broker this file uses (kafkajs's own `Cluster`/`Broker` typings are
// incomplete: no listOffsets, no fetch response shape).

interface Link {
  cluster: KjsCluster
  /** No new operation uses a retired link. */
  retired: boolean
  retire(reason: string, mode: 'drain' | 'destroy'): void
}

interface KjsCluster {
  connect(): Promise<void>
  disconnect(): Promise<void>
  addTargetTopic(topic: string): Promise<void>
  refreshMetadata(): Promise<void>
  refreshMetadataIfNecessary(): Promise<void>
  findTopicPartitionMetadata(topic: string): Array<{ partitionId: number; leader: number | null }>
  findBroker(node: { nodeId: string }): Promise<KjsBroker>
}

interface KjsBroker {
  lookupRequest(
    apiKey: number,
    definitions: unknown,
  ): (options: { acks: number; timeout: number; topicData: [] }) => {
    request: KjsRequest
    response: unknown
  }
  fetch(request: {
    isolationLevel: number
    maxWaitTime: number
    minBytes: number
    maxBytes: number
    topics: Array<{ topic: string; partitions: Array<{ partition: number; fetchOffset: string; maxBytes: number }> }>
  }): Promise<{ responses: Array<{ topicName: string; partitions: KjsFetchPartition[] }> }>
  listOffsets(request: {
    isolationLevel: number
    topics: Array<{ topic: string; partitions: Array<{ partition: number; timestamp: number }> }>
  }): Promise<{ responses: Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }> }>
}

/** A kafkajs protocol request: `encode` may return anything with the Encoder's `buf`/`buffer` pair. */
interface KjsRequest {
  apiKey: number
  apiVersion: number
  apiName: string
  expectResponse?: () => boolean
  encode: () => Promise<{ buf: Buffer; buffer: Buffer }>
}

interface KjsProduceResponse {
  topics: Array<{ topicName: string; partitions: Array<{ partition: number; baseOffset?: string }> }>
}

interface KjsFetchPartition {
  partition: number
  highWatermark: string
  messages: Array<{
    offset: string
    timestamp: string
    key: Buffer | null
    value: Buffer | null
    headers?: Record<string, Buffer | null | Array<Buffer | null>>
    isControlRecord?: boolean
    batchContext: { firstOffset: string; lastOffsetDelta: number }
  }>
}

type CreateCluster = (options: {
  allowAutoTopicCreation: boolean
  isolationLevel: number
  metadataMaxAge: number
  maxInFlightRequests: number | null
}) => KjsCluster

function privateCreateCluster(kafka: object): CreateCluster {
  const symbol = Object.getOwnPropertySymbols(kafka).find((s) => s.description === 'private:Kafka:createCluster')
  const create = symbol === undefined ? undefined : (kafka as Record<symbol, unknown>)[symbol]
  if (typeof create !== 'function') {
    throw new Error('KafkajsSink needs kafkajs 2.2.4 exactly: Kafka[private:Kafka:createCluster] is missing')
  }
  return (options) => {
    const cluster = (create as (o: typeof options) => unknown)(options) as Partial<KjsCluster>
    for (const method of ['connect', 'disconnect', 'addTargetTopic', 'refreshMetadata', 'findBroker'] as const) {
      if (typeof cluster[method] !== 'function') {
        throw new Error(`KafkajsSink needs kafkajs 2.2.4 exactly: Cluster.${method} is missing`)
      }
    }
    return cluster as KjsCluster
  }
}

async function listOffset(broker: KjsBroker, topic: string, partition: number, timestamp: number): Promise<bigint> {
  const response = await broker.listOffsets({
    isolationLevel: READ_UNCOMMITTED,
    topics: [{ topic, partitions: [{ partition, timestamp }] }],
  })
  const offset = response.responses.find((r) => r.topic === topic)?.partitions.find((p) => p.partition === partition)
  if (offset === undefined)
    throw new SinkFailure('CAIRN_UPSTREAM_UNAVAILABLE', 'ListOffsets response without the partition')
  return BigInt(offset.offset)
}

// -------------------------------------------------------------------------------------------------
// Produce with our own record batch (record-batch.ts): kafkajs picks the version it negotiated with
// the broker and decodes the response, but the request body is ours, so kafkajs never builds objects
// per record. Produce v3–v8 share one body: transactional_id:nullable string, acks:int16,
// timeout:int32, [topic:string [partition:int32 records:bytes]].

const produceApiKey = 0

function produceRequest(
  broker: KjsBroker,
  topic: string,
  partition: number,
  batch: RecordBatch,
  timeoutMs: number,
): { request: KjsRequest; response: unknown } {
  const negotiated = broker.lookupRequest(
    produceApiKey,
    produceDefinitions,
  )({ acks: -1, timeout: timeoutMs, topicData: [] })
  const version = negotiated.request.apiVersion
  if (version < 3 || version > 8) {
    throw new SinkFailure('CAIRN_UPSTREAM_REJECTED', `the broker's Produce v${version} cannot carry record batches`)
  }
  const name = Buffer.from(topic)
  const body = Buffer.allocUnsafe(2 + 2 + 4 + 4 + 2 + name.length + 4 + 4 + 4 + batch.bytes.length)
  let at = body.writeInt16BE(-1, 0) // no transactional id
  at = body.writeInt16BE(-1, at) // acks=all
  at = body.writeInt32BE(timeoutMs, at)
  at = body.writeInt32BE(1, at) // one topic
  at = body.writeInt16BE(name.length, at)
  at += name.copy(body, at)
  at = body.writeInt32BE(1, at) // one partition
  at = body.writeInt32BE(partition, at)
  at = body.writeInt32BE(batch.bytes.length, at)
  batch.bytes.copy(body, at)
  const encoded = { buf: body, buffer: body }
  return { request: { ...negotiated.request, encode: () => Promise.resolve(encoded) }, response: negotiated.response }
}

/** The Broker's private send: the same path its own request methods take (it disconnects on a closed connection). */
function sendRequest(
  broker: KjsBroker,
  request: { request: KjsRequest; response: unknown },
): Promise<KjsProduceResponse> {
  const proto = Object.getPrototypeOf(broker) as Record<symbol, unknown>
  const symbol = Object.getOwnPropertySymbols(proto).find((s) => s.description === 'private:Broker:sendRequest')
  const send = symbol === undefined ? undefined : proto[symbol]
  if (typeof send !== 'function') {
    throw new Error('KafkajsSink needs kafkajs 2.2.4 exactly: Broker[private:Broker:sendRequest] is missing')
  }
  return (send as (r: typeof request) => Promise<KjsProduceResponse>).call(broker, request)
}

// -------------------------------------------------------------------------------------------------
// Records read back. kafkajs returns fetched headers as an object, so (1) repeated names come out
// grouped and (2) integer-like names ("1", "42") sort before the others. The mirror's em.* headers
// are unaffected.

function fromKafkajsMessage(message: KjsFetchPartition['messages'][number], offset: bigint): FetchedRecord {
  const headers: Array<[string, Uint8Array]> = []
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    for (const v of Array.isArray(value) ? value : [value]) headers.push([name, copy(v) ?? new Uint8Array(0)])
  }
  return { offset, key: copy(message.key), value: copy(message.value), headers, timestamp: Number(message.timestamp) }
}

/** A plain Uint8Array copy: kafkajs's Buffers are views into the whole Fetch response. */
function copy(bytes: Buffer | null): Uint8Array | null {
  return bytes === null ? null : new Uint8Array(bytes)
}

// -------------------------------------------------------------------------------------------------
// Errors and timing.

/** A definite outcome decided inside this file (before or without a broker error code). */
class SinkFailure extends Error {
  readonly code: ErrorCode
  readonly details: Record<string, unknown>

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message)
    this.name = 'SinkFailure'
    this.code = code
    this.details = details
  }
}

class DeadlineExceeded extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'DeadlineExceeded'
  }
}

/** Unwraps kafkajs's retrier wrappers (NumberOfRetriesExceeded, NonRetriableError) to the real failure. */
function rootCause(error: unknown): unknown {
  let current = error
  for (let depth = 0; depth < 8; depth++) {
    if (!(current instanceof Error)) return current
    const wrapper = current.name === 'KafkaJSNumberOfRetriesExceeded' || current.name === 'KafkaJSNonRetriableError'
    if (!wrapper || current.cause === undefined || current.cause === current) return current
    current = current.cause
  }
  return current
}

function protocolType(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined
  const type = (error as { type?: unknown }).type
  return typeof type === 'string' ? type : undefined
}

/** SASL failures: link-level and not fixed by retrying (mirror.md §B8: long backoff cap + alert). */
function isAuthenticationFailure(error: unknown): boolean {
  const type = protocolType(error)
  return (
    (type !== undefined && authenticationTypes.has(type)) ||
    (error instanceof Error && error.name === 'KafkaJSSASLAuthenticationError')
  )
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`
  return String(error)
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new DeadlineExceeded(`exceeded ${ms} ms`)), ms)
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(error instanceof Error ? error : new Error(String(error)))
      },
    )
  })
}

// -------------------------------------------------------------------------------------------------
// Logging: kafkajs's entries into pino, demoted one step (kafkajs logs every failed connection attempt
// as an error; the mirror reports link state itself).

function kafkajsLevel(logger: Logger): number {
  if (logger.isLevelEnabled('trace')) return logLevel.DEBUG
  if (logger.isLevelEnabled('debug')) return logLevel.INFO
  return logLevel.WARN
}

function kafkajsLogEntry(logger: Logger): (entry: LogEntry) => void {
  return ({ namespace, level, log }) => {
    const { message, timestamp: _timestamp, logger: _logger, ...extra } = log
    const fields = { kafkajs: namespace, ...(extra as Record<string, unknown>) }
    if (level === logLevel.ERROR || level === logLevel.WARN) logger.warn(fields, message)
    else if (level === logLevel.INFO) logger.debug(fields, message)
    else logger.trace(fields, message)
  }
}

// -------------------------------------------------------------------------------------------------
// kafkajs 2.2.4 bug (tulios/kafkajs#1704, #1751): after any response, RequestQueue re-arms a timer with
// a negative delay forever — a ~1 ms busy loop per connection (≈8 % of a core here while idle) and a
// TimeoutNegativeWarning on Node ≥ 23. Same method, minus the loop: with nothing pending and no
// throttle there is nothing to check.

interface RequestQueueInternals {
  pending: unknown[]
  throttledUntil: number
  throttleCheckTimeoutId: ReturnType<typeof setTimeout> | null
  checkPendingRequests(): void
  scheduleCheckPendingRequests(): void
}

const patched = Symbol.for('cairn.kafkajs.requestQueuePatched')
const requestQueue = requestQueueModule as unknown as { prototype: RequestQueueInternals & { [patched]?: true } }
if (typeof requestQueue.prototype.scheduleCheckPendingRequests !== 'function') {
  throw new Error('KafkajsSink needs kafkajs 2.2.4 exactly: RequestQueue.scheduleCheckPendingRequests is missing')
}
if (requestQueue.prototype[patched] !== true) {
  requestQueue.prototype[patched] = true
  requestQueue.prototype.scheduleCheckPendingRequests = function (this: RequestQueueInternals): void {
    if (this.throttleCheckTimeoutId) return
    let delayMs = this.throttledUntil - Date.now()
    if (this.pending.length > 0) delayMs = delayMs > 0 ? delayMs : 10
    else if (delayMs <= 0) return
    this.throttleCheckTimeoutId = setTimeout(() => {
      this.throttleCheckTimeoutId = null
      this.checkPendingRequests()
    }, delayMs)
  }
}

// -------------------------------------------------------------------------------------------------

function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`
}

function checkTopic(topic: string): void {
  if (typeof topic !== 'string' || topic.length === 0) throw new TypeError('topic must be a non-empty string')
}

function checkPartition(partition: number): void {
  if (!Number.isInteger(partition) || partition < 0 || partition > 0x7fffffff) {
    throw new RangeError(`partition must be a non-negative int32, got ${partition}`)
  }
}

function positive(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be > 0, got ${value}`)
  return value
}

function parseHostPort(address: string): { host: string; port: number } {
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address)
  const port = match === null ? NaN : Number(match[2])
  if (match === null || match[1] === undefined || !(port > 0 && port < 65536)) {
    throw new RangeError(`broker address must be host:port, got ${JSON.stringify(address)}`)
  }
  return { host: match[1], port }
}
