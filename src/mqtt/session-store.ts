import type Database from 'better-sqlite3'
import type { QoS } from 'mqtt-packet'
import type { SqliteDatabase } from '../log/open-database.ts'

/** A subscription as persisted; `fromOffsets[p]` is the first session-stream offset it applies to. */
export interface StoredSubscription {
  filter: string
  qos: QoS
  noLocal: boolean
  retainAsPublished: boolean
  retainHandling: number
  subscriptionId?: number
  fromOffsets: number[]
  /** Created with the replay extension: historical deliveries carry their original timestamp. */
  replay?: boolean
}

export interface StoredInflight {
  packetId: number
  partition: number
  offset: number
  qos: QoS
  /** `publish`: PUBLISH sent, awaiting PUBACK/PUBREC. `pubrel`: PUBREL sent, awaiting PUBCOMP. */
  state: 'publish' | 'pubrel'
  /** Sent for a shared subscription: its group's key, so that it goes back to the group if the session ends. */
  shareKey?: string
}

export interface StoredSession {
  clientId: string
  protocolVersion: number
  expirySec: number
  subscriptions: StoredSubscription[]
  cursors: number[]
  nextPacketId: number
  disconnectedMs: number | null
  inflight: StoredInflight[]
  qos2Received: number[]
}

/**
 * Persistent MQTT sessions (session expiry > 0 / clean session = 0) live in the broker's one
 * database, beside the log their queues point into. Writes happen only inside LogStore.enqueueWrite
 * work, so a session's cursor, its in-flight packet ids and the appends of the same turn commit together.
 */
export class SessionStore {
  readonly #db: SqliteDatabase
  readonly #upsert: Database.Statement
  readonly #delete: Database.Statement[]
  readonly #insertInflight: Database.Statement
  readonly #updateInflight: Database.Statement
  readonly #deleteInflight: Database.Statement
  readonly #insertQos2: Database.Statement
  readonly #deleteQos2: Database.Statement
  readonly #saveCursors: Database.Statement
  readonly #saveGroup: Database.Statement
  readonly #deleteGroup: Database.Statement

  constructor(db: SqliteDatabase) {
    this.#db = db
    db.exec(`
      CREATE TABLE IF NOT EXISTS mqtt_session (
        client_id        TEXT PRIMARY KEY,
        protocol_version INTEGER NOT NULL,
        expiry_sec       INTEGER NOT NULL,
        subscriptions    TEXT NOT NULL,
        cursors          TEXT NOT NULL,
        next_packet_id   INTEGER NOT NULL,
        disconnected_ms  INTEGER
      ) STRICT;
      CREATE TABLE IF NOT EXISTS mqtt_inflight (
        client_id TEXT NOT NULL, packet_id INTEGER NOT NULL,
        partition INTEGER NOT NULL, offset INTEGER NOT NULL, qos INTEGER NOT NULL, state TEXT NOT NULL,
        PRIMARY KEY (client_id, packet_id)
      ) STRICT, WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS mqtt_qos2_received (
        client_id TEXT NOT NULL, packet_id INTEGER NOT NULL,
        PRIMARY KEY (client_id, packet_id)
      ) STRICT, WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS mqtt_shared_group (
        key     TEXT PRIMARY KEY,
        cursors TEXT NOT NULL
      ) STRICT;
    `)
    // Databases created before shared groups were log consumers lack the column.
    const inflightColumns = db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all('mqtt_inflight')
    if (!inflightColumns.includes('share_key')) db.exec('ALTER TABLE mqtt_inflight ADD COLUMN share_key TEXT')
    this.#upsert = db.prepare(
      `INSERT OR REPLACE INTO mqtt_session (client_id, protocol_version, expiry_sec, subscriptions, cursors, next_packet_id, disconnected_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    )
    this.#delete = ['mqtt_session', 'mqtt_inflight', 'mqtt_qos2_received'].map((t) =>
      db.prepare(`DELETE FROM ${t} WHERE client_id = ?`),
    )
    this.#insertInflight = db.prepare(
      'INSERT OR REPLACE INTO mqtt_inflight (client_id, packet_id, partition, offset, qos, state, share_key) VALUES (?, ?, ?, ?, ?, ?, ?)',
    )
    this.#updateInflight = db.prepare('UPDATE mqtt_inflight SET state = ? WHERE client_id = ? AND packet_id = ?')
    this.#deleteInflight = db.prepare('DELETE FROM mqtt_inflight WHERE client_id = ? AND packet_id = ?')
    this.#insertQos2 = db.prepare('INSERT OR IGNORE INTO mqtt_qos2_received (client_id, packet_id) VALUES (?, ?)')
    this.#deleteQos2 = db.prepare('DELETE FROM mqtt_qos2_received WHERE client_id = ? AND packet_id = ?')
    this.#saveCursors = db.prepare('UPDATE mqtt_session SET cursors = ?, next_packet_id = ? WHERE client_id = ?')
    this.#saveGroup = db.prepare('INSERT OR REPLACE INTO mqtt_shared_group (key, cursors) VALUES (?, ?)')
    this.#deleteGroup = db.prepare('DELETE FROM mqtt_shared_group WHERE key = ?')
  }

  /** Shared-subscription groups (`<share name>/<filter>`) and their cursors in the session stream. */
  loadSharedGroups(): Map<string, number[]> {
    const rows = this.#db.prepare('SELECT key, cursors FROM mqtt_shared_group').all() as Array<{
      key: string
      cursors: string
    }>
    return new Map(rows.map((r) => [r.key, JSON.parse(r.cursors) as number[]]))
  }

  loadAll(): StoredSession[] {
    const rows = this.#db.prepare('SELECT * FROM mqtt_session').all() as Array<{
      client_id: string
      protocol_version: number
      expiry_sec: number
      subscriptions: string
      cursors: string
      next_packet_id: number
      disconnected_ms: number | null
    }>
    const inflight = this.#db.prepare('SELECT * FROM mqtt_inflight WHERE client_id = ? ORDER BY partition, offset')
    const qos2 = this.#db.prepare('SELECT packet_id FROM mqtt_qos2_received WHERE client_id = ?').pluck()
    return rows.map((r) => ({
      clientId: r.client_id,
      protocolVersion: r.protocol_version,
      expirySec: r.expiry_sec,
      subscriptions: JSON.parse(r.subscriptions) as StoredSubscription[],
      cursors: JSON.parse(r.cursors) as number[],
      nextPacketId: r.next_packet_id,
      disconnectedMs: r.disconnected_ms,
      inflight: (
        inflight.all(r.client_id) as Array<{
          packet_id: number
          partition: number
          offset: number
          qos: QoS
          state: string
          share_key: string | null
        }>
      ).map((i) => {
        const row: StoredInflight = {
          packetId: i.packet_id,
          partition: i.partition,
          offset: i.offset,
          qos: i.qos,
          state: i.state === 'pubrel' ? 'pubrel' : 'publish',
        }
        if (i.share_key !== null) row.shareKey = i.share_key
        return row
      }),
      qos2Received: qos2.all(r.client_id) as number[],
    }))
  }

  // The methods below run inside enqueueWrite work.

  saveSession(s: Omit<StoredSession, 'inflight' | 'qos2Received'>): void {
    this.#upsert.run(
      s.clientId,
      s.protocolVersion,
      s.expirySec,
      JSON.stringify(s.subscriptions),
      JSON.stringify(s.cursors),
      s.nextPacketId,
      s.disconnectedMs,
    )
  }

  saveCursors(clientId: string, cursors: readonly number[], nextPacketId: number): void {
    this.#saveCursors.run(JSON.stringify(cursors), nextPacketId, clientId)
  }

  saveSharedGroup(key: string, cursors: readonly number[]): void {
    this.#saveGroup.run(key, JSON.stringify(cursors))
  }

  deleteSharedGroup(key: string): void {
    this.#deleteGroup.run(key)
  }

  deleteSession(clientId: string): void {
    for (const statement of this.#delete) statement.run(clientId)
  }

  addInflight(clientId: string, i: StoredInflight): void {
    this.#insertInflight.run(clientId, i.packetId, i.partition, i.offset, i.qos, i.state, i.shareKey ?? null)
  }

  markPubrel(clientId: string, packetId: number): void {
    this.#updateInflight.run('pubrel', clientId, packetId)
  }

  removeInflight(clientId: string, packetId: number): void {
    this.#deleteInflight.run(clientId, packetId)
  }

  addQos2Received(clientId: string, packetId: number): void {
    this.#insertQos2.run(clientId, packetId)
  }

  removeQos2Received(clientId: string, packetId: number): void {
    this.#deleteQos2.run(clientId, packetId)
  }
}
