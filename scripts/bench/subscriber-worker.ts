// The counting subscriber, in a worker thread of its own: one connection, one filter; counts PUBLISHes, checks
// each publisher's sequence (per-topic order: one topic per publisher), measures end-to-end latency from the
// send time in the payload, and PUBACKs QoS 1 deliveries (one write per incoming chunk).
// Protocol with the parent: posts {type:'ready'} after the SUBACK; on {type:'expect', count, idleMs} it posts
// {type:'done', ...SubscriberResult} once `count` messages arrived or none arrived for idleMs.

import net from 'node:net'
import { parentPort, workerData } from 'node:worker_threads'
import { connectPacket, FrameReader, nowMs, pubackPacket, publishPayloadAt, Samples, subscribePacket } from './wire.ts'

export interface SubscriberConfig {
  host: string
  port: number
  filter: string
  qos: 0 | 1
  collectLatency: boolean
  /** [0] messages received, for the publishers' lag cap (Atomics). */
  progress: SharedArrayBuffer
}

export interface SubscriberResult {
  received: number
  /** Messages whose sequence was not above the last one from the same publisher (reordered or duplicated). */
  outOfOrder: number
  /** Sequences skipped (messages lost, or still to come when the subscriber stopped). */
  gaps: number
  firstAt: number
  lastAt: number
  e2eMs: Float64Array
}

const config = workerData as SubscriberConfig
if (parentPort === null) throw new Error('subscriber-worker must run in a worker thread')
const port = parentPort

const progress = new Int32Array(config.progress)
const lastSeq = new Float64Array(65536).fill(-1)
const latency = new Samples()
let received = 0
let outOfOrder = 0
let gaps = 0
let firstAt = 0
let lastAt = 0
let expect: { count: number; idleMs: number } | null = null
let idleTimer: NodeJS.Timeout | null = null

const reader = new FrameReader()
const socket = net.connect({ host: config.host, port: config.port, noDelay: true })
socket.on('connect', () => socket.write(connectPacket(`bench-sub-${process.pid}-${Date.now()}`)))
socket.on('error', (err) => {
  throw err
})
socket.on('data', (chunk: Buffer) => {
  const acks: Buffer[] = []
  const now = nowMs()
  const before = received
  reader.push(chunk, (type, flags, buf, body) => {
    if (type === 2) {
      socket.write(subscribePacket(config.filter, config.qos))
      return
    }
    if (type === 9) {
      port.postMessage({ type: 'ready' })
      return
    }
    if (type !== 3) return
    const { payload, id } = publishPayloadAt(flags, buf, body)
    if (id !== 0) acks.push(pubackPacket(id))
    const seq = buf.readUInt32LE(payload)
    const publisher = buf.readUInt16LE(payload + 4)
    const last = lastSeq[publisher] as number
    if (seq <= last) outOfOrder++
    else {
      if (seq > last + 1) gaps += seq - last - 1
      lastSeq[publisher] = seq
    }
    if (config.collectLatency) latency.push(now - buf.readDoubleLE(payload + 6))
    received++
  })
  if (acks.length > 0) socket.write(Buffer.concat(acks))
  if (received > before) {
    Atomics.store(progress, 0, received)
    if (firstAt === 0) firstAt = now
    lastAt = now
    checkDone()
  }
})

function finish(): void {
  if (idleTimer !== null) clearTimeout(idleTimer)
  expect = null
  const result: SubscriberResult = { received, outOfOrder, gaps, firstAt, lastAt, e2eMs: latency.toArray() }
  socket.destroy()
  port.postMessage({ type: 'done', ...result })
}

function checkDone(): void {
  if (expect === null) return
  if (received >= expect.count) {
    finish()
    return
  }
  if (idleTimer !== null) clearTimeout(idleTimer)
  idleTimer = setTimeout(finish, expect.idleMs)
}

port.on('message', (message: { type: string; count: number; idleMs: number }) => {
  if (message.type !== 'expect') return
  expect = { count: message.count, idleMs: message.idleMs }
  checkDone()
})
