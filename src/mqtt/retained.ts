import type Database from 'better-sqlite3'
import type { SqliteDatabase } from '../log/open-database.ts'
import { decodeHeaders, encodeHeaders, decodeMeta, encodeMeta } from '../log/record-codec.ts'
import { topicMatchesFilter } from '../topics/topics.ts'
import { remainingExpirySec, type MqttRecordMeta, type OutgoingMessage } from './message.ts'

/**
 * Retained messages: one per topic, in memory for SUBSCRIBE-time matching and in the database so
 * they survive restart. Persistent copies are written in the group commit of the PUBLISH that set
 * them; `volatile` ones ($SYS) are memory only.
 */
export class RetainedStore {
  readonly #messages = new Map<string, OutgoingMessage>()
  readonly #upsert: Database.Statement
  readonly #delete: Database.Statement

  constructor(db: SqliteDatabase) {
    db.exec(`CREATE TABLE IF NOT EXISTS mqtt_retained (
      topic TEXT PRIMARY KEY, payload BLOB NOT NULL, qos INTEGER NOT NULL, ts INTEGER NOT NULL, meta BLOB, headers BLOB
    ) STRICT`)
    this.#upsert = db.prepare(
      'INSERT OR REPLACE INTO mqtt_retained (topic, payload, qos, ts, meta, headers) VALUES (?, ?, ?, ?, ?, ?)',
    )
    this.#delete = db.prepare('DELETE FROM mqtt_retained WHERE topic = ?')
    const rows = db.prepare('SELECT * FROM mqtt_retained').all() as Array<{
      topic: string
      payload: Uint8Array
      qos: 0 | 1 | 2
      ts: number
      meta: Uint8Array | null
      headers: Uint8Array | null
    }>
    for (const r of rows) {
      const meta = (decodeMeta(r.meta) ?? { q: r.qos }) as MqttRecordMeta
      this.#messages.set(r.topic, {
        topic: r.topic,
        payload: r.payload,
        qos: r.qos,
        retain: true,
        timestamp: r.ts,
        meta,
        headers: decodeHeaders(r.headers),
        partition: -1,
        offset: -1,
      })
    }
  }

  get size(): number {
    return this.#messages.size
  }

  /** The database half of set/clear, to run inside the PUBLISH's group commit. */
  persist(message: OutgoingMessage): void {
    // [MQTT-3.3.1-6] [MQTT-3.3.1-7] an empty payload clears the topic's retained message.
    if (message.payload.length === 0) {
      this.#delete.run(message.topic)
      return
    }
    this.#upsert.run(
      message.topic,
      message.payload,
      message.qos,
      message.timestamp,
      encodeMeta(message.meta),
      encodeHeaders(message.headers),
    )
  }

  /** The memory half, after the commit (or at once for volatile messages). */
  apply(message: OutgoingMessage): void {
    if (message.payload.length === 0) this.#messages.delete(message.topic)
    else this.#messages.set(message.topic, { ...message, retain: true, partition: -1, offset: -1 })
  }

  match(filter: string, nowMs: number): OutgoingMessage[] {
    const found: OutgoingMessage[] = []
    for (const message of this.#messages.values()) {
      if (!topicMatchesFilter(message.topic, filter)) continue
      const left = remainingExpirySec(message, nowMs)
      if (left !== undefined && left <= 0) {
        this.#messages.delete(message.topic)
        continue
      }
      found.push(message)
    }
    return found
  }
}
