import type { Logger } from 'pino'
import { BrokerError } from '../errors.ts'
import type { RecordInBody } from '../native/wire/ops.ts'

/** Bytes as the application gives them: strings are sent as UTF-8. */
export type Bytes = Uint8Array | string

export interface StreamPartition {
  stream: string
  partition: number
}

export interface ProducerRecord {
  key?: Bytes | null
  value: Bytes | null
  /** A map (one value per name) or name/value pairs (order and repeats kept). */
  headers?: Readonly<Record<string, Bytes>> | readonly (readonly [string, Bytes])[]
  /** Milliseconds since the epoch; the broker's clock when absent. */
  timestamp?: number
  /** Explicit partition; otherwise by key (murmur2) or sticky for keyless records. */
  partition?: number
}

export interface RecordMetadata {
  stream: string
  partition: number
  /** -1n when the broker does not answer (acks 0). */
  offset: bigint
  timestamp: number
}

export interface ConsumerRecord {
  stream: string
  partition: number
  offset: bigint
  timestamp: number
  key: Uint8Array | null
  value: Uint8Array | null
  headers: [string, Uint8Array][]
  /** MQTT origin (qos, retain, v5 properties) for records published over MQTT; null otherwise. */
  meta: unknown
}

export interface CommitOffset {
  stream: string
  partition: number
  /** The next offset to consume. */
  offset: bigint
  metadata?: string
}

/** The logger type components accept (pino's). */
export type ClientLogger = Logger

const encoder = new TextEncoder()

export function toBytes(value: Bytes): Uint8Array {
  return typeof value === 'string' ? encoder.encode(value) : value
}

/** Converts an application record into its wire form, with its approximate encoded size. */
export function toWireRecord(record: ProducerRecord): { wire: RecordInBody; bytes: number } {
  if (typeof record !== 'object' || record === null) throw new TypeError('a record must be an object')
  if (record.value === undefined) throw new TypeError('a record needs a value (null for a tombstone)')
  const value = record.value === null ? null : toBytes(record.value)
  const wire: RecordInBody = { value }
  let bytes = 16 + (value?.length ?? 0)
  if (record.key !== undefined && record.key !== null) {
    const key = toBytes(record.key)
    wire.key = key
    bytes += key.length
  }
  if (record.headers !== undefined) {
    const pairs: [string, Uint8Array][] = []
    const entries: Iterable<readonly [string, Bytes]> = Array.isArray(record.headers)
      ? (record.headers as readonly (readonly [string, Bytes])[])
      : Object.entries(record.headers as Readonly<Record<string, Bytes>>)
    for (const [name, headerValue] of entries) {
      if (typeof name !== 'string') throw new TypeError('header names must be strings')
      const headerBytes = toBytes(headerValue)
      pairs.push([name, headerBytes])
      bytes += name.length + headerBytes.length + 4
    }
    wire.headers = pairs
  }
  if (record.timestamp !== undefined) {
    if (!Number.isSafeInteger(record.timestamp) || record.timestamp < 0) {
      throw new RangeError(`timestamp must be a non-negative integer (got ${record.timestamp})`)
    }
    wire.timestamp = record.timestamp
  }
  return { wire, bytes }
}

export function partitionKey(stream: string, partition: number): string {
  return `${partition}:${stream}`
}

export function notAssigned(stream: string, partition: number): BrokerError {
  return new BrokerError('CAIRN_PARTITION_NOT_ASSIGNED', `partition ${partition} of "${stream}" is not assigned`, {
    details: { stream, partition },
  })
}

export interface RequestOptions {
  /** Overrides the client's requestTimeoutMs; covers waiting for a connection too. */
  timeoutMs?: number
}

/** Groups partitions by stream, as the wire's stream-partitions lists do. */
export function toStreamPartitions(partitions: Iterable<StreamPartition>): { stream: string; partitions: number[] }[] {
  const byStream = new Map<string, number[]>()
  for (const { stream, partition } of partitions) {
    const list = byStream.get(stream) ?? []
    list.push(partition)
    byStream.set(stream, list)
  }
  return [...byStream].map(([stream, list]) => ({ stream, partitions: list.sort((a, b) => a - b) }))
}

export function fromStreamPartitions(lists: readonly { stream: string; partitions: number[] }[]): StreamPartition[] {
  return lists.flatMap(({ stream, partitions }) => partitions.map((partition) => ({ stream, partition })))
}
