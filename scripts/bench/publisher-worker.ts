// Publisher connections of the load generator, in a worker thread of their own so they share no event loop with
// the subscriber or the harness. Protocol with the parent: it posts {type:'ready'} once every connection has its
// CONNACK, runs on {type:'go'}, and posts {type:'done', ...PublisherResult} when finished.
//
// Modes: flat out (ratePerSec 0: QoS 0 writes as fast as the socket drains, QoS 1 keeps `window` unacknowledged
// publishes per connection), fixed rate (ratePerSec total, spread round-robin over the connections, sent on a
// 1 ms tick), or idle (connect and hold, send nothing).

import net from 'node:net'
import { parentPort, workerData } from 'node:worker_threads'
import { connectPacket, disconnectPacket, FrameReader, nowMs, PublishTemplate, Samples } from './wire.ts'

export interface PublisherConfig {
  host: string
  port: number
  conns: number
  /** Index of this worker's first publisher (payload field, topic, client id). */
  firstIndex: number
  qos: 0 | 1
  payloadBytes: number
  /** Topic of publisher i: the pattern with `{i}` replaced. */
  topicPattern: string
  durationMs: number
  /** Messages per second over all of this worker's connections; 0 = flat out; -1 = idle. */
  ratePerSec: number
  window: number
  collectLatency: boolean
  drainTimeoutMs: number
  /** [0] messages the subscriber received, [1] messages all publishers sent (shared, Atomics). */
  progress: SharedArrayBuffer
  /** Flat out, stop writing while this many sent messages have not reached the subscriber yet; 0 = no limit. */
  maxLag: number
}

export interface PublisherResult {
  sent: number
  acked: number
  sendSec: number
  /** Seconds from go until the last PUBACK (QoS 1) or the last write (QoS 0). */
  completeSec: number
  pubackMs: Float64Array
  connectErrors: number
}

const config = workerData as PublisherConfig
if (parentPort === null) throw new Error('publisher-worker must run in a worker thread')
const port = parentPort

interface Conn {
  index: number
  socket: net.Socket
  template: PublishTemplate
  reader: FrameReader
  seq: number
  inflight: number
  backlog: number
  acked: number
  sentAt: Float64Array
  blocked: boolean
  /** A refill is scheduled for when the subscriber has caught up. */
  waiting: boolean
}

const conns: Conn[] = []
const latency = new Samples()
let stopped = true
let connectErrors = 0
let lastAckAt = 0
let onAllAcked: (() => void) | null = null
const qosAcks = config.qos === 1
const progress = new Int32Array(config.progress)
// Flat-out publishers would otherwise fill the broker's memory and take CPU from the subscriber on a 2-core box;
// capped, they measure the rate the broker sustains end to end.
const lagging = (): boolean =>
  config.maxLag > 0 && Atomics.load(progress, 1) - Atomics.load(progress, 0) >= config.maxLag

function send(conn: Conn, count: number): void {
  if (count <= 0) return
  const buf = conn.template.fill(conn.index, conn.seq, count)
  if (qosAcks) {
    const at = nowMs()
    for (let i = 0; i < count; i++) conn.sentAt[(conn.seq + i) % 65535] = at
    conn.inflight += count
  }
  conn.seq += count
  Atomics.add(progress, 1, count)
  if (!conn.socket.write(buf)) conn.blocked = true
}

function totalInflight(): number {
  let n = 0
  for (const c of conns) n += c.inflight
  return n
}

function onData(conn: Conn, chunk: Buffer): void {
  let acks = 0
  conn.reader.push(chunk, (type, _flags, buf, body) => {
    if (type === 2) {
      connectedOne(buf[body + 1] as number)
      return
    }
    if (type !== 4) return
    const id = buf.readUInt16BE(body)
    acks++
    if (config.collectLatency) latency.push(nowMs() - (conn.sentAt[(id - 1) % 65535] as number))
  })
  if (acks === 0) return
  conn.inflight -= acks
  conn.acked += acks
  lastAckAt = nowMs()
  if (!stopped) {
    if (config.ratePerSec === 0) refill(conn)
    else if (conn.backlog > 0) {
      const n = Math.min(conn.backlog, config.window - conn.inflight)
      conn.backlog -= n
      send(conn, n)
    }
  } else if (onAllAcked !== null && totalInflight() === 0) onAllAcked()
}

let connected = 0
function connectedOne(returnCode: number): void {
  if (returnCode !== 0) connectErrors++
  if (++connected === config.conns) port?.postMessage({ type: 'ready' })
}

for (let i = 0; i < config.conns; i++) {
  const index = config.firstIndex + i
  const socket = net.connect({ host: config.host, port: config.port, noDelay: true })
  const conn: Conn = {
    index,
    socket,
    template: new PublishTemplate(config.topicPattern.replace('{i}', String(index)), config.qos, config.payloadBytes),
    reader: new FrameReader(),
    seq: 0,
    inflight: 0,
    backlog: 0,
    acked: 0,
    sentAt: new Float64Array(65535),
    blocked: false,
    waiting: false,
  }
  socket.on('connect', () => socket.write(connectPacket(`bench-pub-${index}`)))
  socket.on('data', (chunk: Buffer) => onData(conn, chunk))
  socket.on('error', () => {
    connectErrors++
  })
  conns.push(conn)
}

/** QoS 1 flat out: tops the window up, or waits for the subscriber to catch up. */
function refill(conn: Conn): void {
  if (stopped || conn.inflight >= config.window) return
  if (lagging()) {
    if (!conn.waiting) {
      conn.waiting = true
      setTimeout(() => {
        conn.waiting = false
        refill(conn)
      }, 1)
    }
    return
  }
  send(conn, config.window - conn.inflight)
}

/** QoS 0 flat out: a few chunks per turn, then yield, so the stop timer and the socket's drain still run. */
function pumpQos0(conn: Conn): void {
  if (lagging()) {
    setTimeout(() => pumpQos0(conn), 1)
    return
  }
  for (let i = 0; i < 8 && !stopped; i++) {
    send(conn, 64)
    if (conn.blocked) {
      conn.socket.once('drain', () => {
        conn.blocked = false
        pumpQos0(conn)
      })
      return
    }
  }
  if (!stopped) setImmediate(() => pumpQos0(conn))
}

function runFixedRate(startMs: number): void {
  let scheduled = 0
  let next = 0
  const perConn = new Array<number>(conns.length).fill(0)
  const tick = (): void => {
    if (stopped) return
    const due = Math.floor(((nowMs() - startMs) / 1000) * config.ratePerSec) - scheduled
    if (due > 0) {
      scheduled += due
      perConn.fill(0)
      for (let i = 0; i < due; i++) {
        perConn[next] = (perConn[next] as number) + 1
        next = (next + 1) % conns.length
      }
      conns.forEach((conn, i) => {
        let n = perConn[i] as number
        if (qosAcks) {
          // A full window delays the message (it is timed from when it is actually written).
          const room = Math.max(0, config.window - conn.inflight - conn.backlog)
          conn.backlog += n - Math.min(n, room)
          n = Math.min(n, room)
        }
        send(conn, n)
      })
    }
    setTimeout(tick, 1)
  }
  tick()
}

port.on('message', (message: { type: string }) => {
  if (message.type !== 'go') return
  const start = nowMs()
  stopped = false
  if (config.ratePerSec === 0) {
    for (const conn of conns) {
      if (qosAcks) refill(conn)
      else pumpQos0(conn)
    }
  } else if (config.ratePerSec > 0) runFixedRate(start)
  setTimeout(() => {
    stopped = true
    const sendSec = (nowMs() - start) / 1000
    const finish = (): void => {
      const sent = conns.reduce((n, c) => n + c.seq, 0)
      const acked = conns.reduce((n, c) => n + c.acked, 0)
      const completeSec = qosAcks && acked > 0 ? (lastAckAt - start) / 1000 : sendSec
      for (const conn of conns) conn.socket.end(disconnectPacket())
      const result: PublisherResult = {
        sent,
        acked,
        sendSec,
        completeSec,
        pubackMs: latency.toArray(),
        connectErrors,
      }
      port.postMessage({ type: 'done', ...result })
    }
    if (!qosAcks || totalInflight() === 0) {
      finish()
      return
    }
    const timer = setTimeout(finish, config.drainTimeoutMs)
    onAllAcked = () => {
      onAllAcked = null
      clearTimeout(timer)
      finish()
    }
  }, config.durationMs)
})
