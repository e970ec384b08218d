import type { BrokerError } from '../errors.ts'
import type { OpResponse } from '../native/wire/ops.ts'
import type { PendingRecord } from './record-accumulator.ts'
import { partitionKey, type RecordMetadata } from './types.ts'

/**
 * The records of a producer's open transaction. The broker holds them until txnEnd and assigns
 * offsets only at commit (one range per partition, in the order they were added), so the records
 * are kept in send order and, per partition, in the order the broker took them; commit() maps the
 * committed ranges back onto them and resolves their promises.
 */
export class TransactionLedger {
  #records: { stream: string; partition: number; record: PendingRecord }[] = []
  #taken = new Map<string, PendingRecord[]>()
  /** The first failure inside the transaction: it can then only be aborted. */
  error: BrokerError | undefined

  add(stream: string, partition: number, record: PendingRecord): void {
    this.#records.push({ stream, partition, record })
  }

  /** The broker took these records (in this order) into the transaction. */
  taken(stream: string, partition: number, records: readonly PendingRecord[]): void {
    const key = partitionKey(stream, partition)
    const list = this.#taken.get(key) ?? []
    list.push(...records)
    this.#taken.set(key, list)
  }

  /** Resolves every record with its committed offset; returns their metadata in send order. */
  committed(response: OpResponse<'txnEnd'>, nowMs: number): RecordMetadata[] {
    const ranges = new Map<string, OpResponse<'txnEnd'>['results']>()
    for (const result of response.results) {
      const key = partitionKey(result.stream, result.partition)
      ranges.set(key, [...(ranges.get(key) ?? []), result])
    }
    const offsets = new Map<PendingRecord, { offset: bigint; timestamp: number }>()
    for (const [key, taken] of this.#taken) {
      const list = (ranges.get(key) ?? []).sort((a, b) => (a.baseOffset < b.baseOffset ? -1 : 1))
      let index = 0
      for (const range of list) {
        for (let offset = range.baseOffset; offset <= range.lastOffset && index < taken.length; offset++) {
          offsets.set(taken[index++] as PendingRecord, { offset, timestamp: range.timestamp })
        }
      }
    }
    const metadata = this.#records.map(({ stream, partition, record }) => {
      const found = offsets.get(record)
      const m: RecordMetadata = {
        stream,
        partition,
        offset: found?.offset ?? -1n,
        timestamp: record.wire.timestamp ?? found?.timestamp ?? nowMs,
      }
      record.resolve(m)
      return m
    })
    this.reset()
    return metadata
  }

  /** Rejects every record of the transaction (abort, fatal error) and starts afresh. */
  rejectAll(error: unknown): void {
    for (const { record } of this.#records) record.reject(error)
    this.reset()
  }

  reset(): void {
    this.#records = []
    this.#taken.clear()
    this.error = undefined
  }
}
