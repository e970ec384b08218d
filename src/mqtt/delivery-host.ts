import type { Logger } from 'pino'
import type { LogStore } from '../log/log-store.ts'
import type { Durability } from '../log/types.ts'
import type { Clock } from '../util/clock.ts'
import type { MqttOptions } from './options.ts'
import type { SessionStore } from './session-store.ts'

export interface MqttCounters {
  connectionsAccepted: number
  messagesReceived: number
  messagesSent: number
  bytesReceived: number
  bytesSent: number
  publishesRefused: number
  /** PUBLISHes the ACL did not allow (dropped; v5 told 0x87). */
  publishesDenied: number
  /** Topic filters of SUBSCRIBEs the ACL did not allow. */
  subscriptionsDenied: number
  sessionRecordsSkipped: number
  sharedUndelivered: number
}

/** What sessions and handlers need from the front end, kept narrow so sessions stay testable. */
export interface DeliveryHost {
  readonly store: LogStore
  readonly sessionStream: string
  readonly sessionStore: SessionStore
  readonly options: MqttOptions
  readonly clock: Clock
  readonly logger: Logger
  readonly counters: MqttCounters
  /** Durability of session-state writes: that of the session stream. */
  readonly durability: Durability
  /** Per partition of the session stream: the offset after the last record the router has handled. */
  routedEnds(): number[]
  /** Per partition of the session stream: the committed log end. */
  logEnds(): number[]
  /** Session bookkeeping that may ride on the next group commit (ack deletions); failures are logged there. */
  writeLater(work: () => void): void
}
