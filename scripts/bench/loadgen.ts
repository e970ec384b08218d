// The load generator's driver: starts the subscriber and publisher workers against a broker, runs one bounded
// load, and returns what both sides saw. The harness thread itself only coordinates (and samples the broker).

import { Worker } from 'node:worker_threads'
import type { PublisherConfig, PublisherResult } from './publisher-worker.ts'
import type { SubscriberConfig, SubscriberResult } from './subscriber-worker.ts'
import { nowMs } from './wire.ts'

export interface LoadOptions {
  port: number
  publishers: number
  /** Publisher connections are split over this many worker threads. */
  publisherThreads?: number
  qos: 0 | 1
  payloadBytes: number
  durationMs: number
  /** Total messages per second; 0 = flat out; -1 = connect and hold, send nothing. */
  ratePerSec: number
  window: number
  topicPattern?: string
  /** Filter of the one subscriber; null = no subscriber. */
  subscribe: string | null
  subscriberQos?: 0 | 1
  collectLatency?: boolean
  /** Flat out: most messages sent but not yet received by the subscriber (default 20 000; 0 = no cap). */
  maxLag?: number
  /** Called once every connection is up, before the load starts (e.g. to sample the broker). */
  onReady?: () => void
  /** Called after `go`, while the load runs. */
  onGo?: () => void
}

export interface LoadResult {
  publishers: PublisherResult
  subscriber: SubscriberResult | null
  /** Messages the subscriber received per second, from go to its last message. */
  deliveredPerSec: number
  /** Publishes written per second (QoS 1: acknowledged, up to the last PUBACK). */
  ingestPerSec: number
  goAt: number
}

interface Message<T> {
  type: string
  result?: T
}

function startWorker<T>(file: string, data: PublisherConfig | SubscriberConfig) {
  const worker = new Worker(new URL(file, import.meta.url), { workerData: data })
  let onReady: () => void = () => {}
  let onDone: (result: T) => void = () => {}
  let onError: (err: Error) => void = () => {}
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve
    onError = reject
  })
  const done = new Promise<T>((resolve, reject) => {
    onDone = resolve
    worker.on('error', reject)
  })
  worker.on('error', (err: Error) => onError(err))
  worker.on('message', (message: Message<T> & T) => {
    if (message.type === 'ready') onReady()
    if (message.type === 'done') onDone(message)
  })
  return { worker, ready, done }
}

/** One subscriber alone (e.g. a replay subscription): resolves when `count` messages arrived or idleMs passed. */
export async function subscribeOnly(
  port: number,
  filter: string,
  qos: 0 | 1,
  count: number,
  idleMs: number,
): Promise<{ result: SubscriberResult; subackAt: number }> {
  const sub = startWorker<SubscriberResult>('./subscriber-worker.ts', {
    host: '127.0.0.1',
    port,
    filter,
    qos,
    collectLatency: false,
    progress: new SharedArrayBuffer(8),
  })
  try {
    await sub.ready
    const subackAt = nowMs()
    sub.worker.postMessage({ type: 'expect', count, idleMs })
    return { result: await sub.done, subackAt }
  } finally {
    await sub.worker.terminate()
  }
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const host = '127.0.0.1'
  const progress = new SharedArrayBuffer(8)
  const subscriber =
    options.subscribe === null
      ? null
      : startWorker<SubscriberResult>('./subscriber-worker.ts', {
          host,
          port: options.port,
          filter: options.subscribe,
          qos: options.subscriberQos ?? options.qos,
          collectLatency: options.collectLatency ?? false,
          progress,
        })
  try {
    await subscriber?.ready
    const threads = Math.min(options.publisherThreads ?? 1, options.publishers)
    const pubs = Array.from({ length: threads }, (_, t) => {
      const first = Math.floor((options.publishers * t) / threads)
      const next = Math.floor((options.publishers * (t + 1)) / threads)
      return startWorker<PublisherResult>('./publisher-worker.ts', {
        host,
        port: options.port,
        conns: next - first,
        firstIndex: first,
        qos: options.qos,
        payloadBytes: options.payloadBytes,
        topicPattern: options.topicPattern ?? 'bench/{i}',
        durationMs: options.durationMs,
        ratePerSec:
          options.ratePerSec <= 0 ? options.ratePerSec : (options.ratePerSec * (next - first)) / options.publishers,
        window: options.window,
        collectLatency: options.collectLatency ?? false,
        drainTimeoutMs: 30_000,
        progress,
        maxLag: options.subscribe === null ? 0 : (options.maxLag ?? 20_000),
      })
    })
    try {
      await Promise.all(pubs.map((p) => p.ready))
      options.onReady?.()
      const goAt = nowMs()
      for (const p of pubs) p.worker.postMessage({ type: 'go' })
      options.onGo?.()
      const results = await Promise.all(pubs.map((p) => p.done))
      const publishers = mergePublishers(results)
      let sub: SubscriberResult | null = null
      if (subscriber !== null) {
        subscriber.worker.postMessage({ type: 'expect', count: publishers.sent, idleMs: 3000 })
        sub = await subscriber.done
      }
      const delivered = sub === null || sub.received === 0 ? NaN : sub.received / ((sub.lastAt - goAt) / 1000)
      const ingest =
        options.qos === 1 ? publishers.acked / publishers.completeSec : publishers.sent / publishers.sendSec
      return { publishers, subscriber: sub, deliveredPerSec: delivered, ingestPerSec: ingest, goAt }
    } finally {
      await Promise.all(pubs.map((p) => p.worker.terminate()))
    }
  } finally {
    await subscriber?.worker.terminate()
  }
}

function mergePublishers(results: readonly PublisherResult[]): PublisherResult {
  const latencies = new Float64Array(results.reduce((n, r) => n + r.pubackMs.length, 0))
  let at = 0
  for (const r of results) {
    latencies.set(r.pubackMs, at)
    at += r.pubackMs.length
  }
  return {
    sent: results.reduce((n, r) => n + r.sent, 0),
    acked: results.reduce((n, r) => n + r.acked, 0),
    sendSec: Math.max(...results.map((r) => r.sendSec)),
    completeSec: Math.max(...results.map((r) => r.completeSec)),
    pubackMs: latencies,
    connectErrors: results.reduce((n, r) => n + r.connectErrors, 0),
  }
}
