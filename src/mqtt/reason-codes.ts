import { isBrokerError } from '../errors.ts'

/** MQTT 5 reason codes used by Cairn (MQTT 5.0 §2.4). */
export const ReasonCode = {
  SUCCESS: 0x00,
  GRANTED_QOS_1: 0x01,
  GRANTED_QOS_2: 0x02,
  DISCONNECT_WITH_WILL: 0x04,
  NO_MATCHING_SUBSCRIBERS: 0x10,
  NO_SUBSCRIPTION_EXISTED: 0x11,
  UNSPECIFIED_ERROR: 0x80,
  MALFORMED_PACKET: 0x81,
  PROTOCOL_ERROR: 0x82,
  IMPLEMENTATION_SPECIFIC_ERROR: 0x83,
  UNSUPPORTED_PROTOCOL_VERSION: 0x84,
  CLIENT_IDENTIFIER_NOT_VALID: 0x85,
  BAD_USER_NAME_OR_PASSWORD: 0x86,
  NOT_AUTHORIZED: 0x87,
  SERVER_UNAVAILABLE: 0x88,
  SERVER_BUSY: 0x89,
  BAD_AUTHENTICATION_METHOD: 0x8c,
  KEEP_ALIVE_TIMEOUT: 0x8d,
  SESSION_TAKEN_OVER: 0x8e,
  TOPIC_FILTER_INVALID: 0x8f,
  TOPIC_NAME_INVALID: 0x90,
  PACKET_IDENTIFIER_IN_USE: 0x91,
  PACKET_IDENTIFIER_NOT_FOUND: 0x92,
  RECEIVE_MAXIMUM_EXCEEDED: 0x93,
  TOPIC_ALIAS_INVALID: 0x94,
  PACKET_TOO_LARGE: 0x95,
  MESSAGE_RATE_TOO_HIGH: 0x96,
  QUOTA_EXCEEDED: 0x97,
  PAYLOAD_FORMAT_INVALID: 0x99,
  RETAIN_NOT_SUPPORTED: 0x9a,
  QOS_NOT_SUPPORTED: 0x9b,
  SERVER_SHUTTING_DOWN: 0x8b,
  SHARED_SUBSCRIPTIONS_NOT_SUPPORTED: 0x9e,
  SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED: 0xa1,
  WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED: 0xa2,
  CONNECTION_RATE_EXCEEDED: 0x9f,
} as const

export type ReasonCodeValue = (typeof ReasonCode)[keyof typeof ReasonCode]

/** MQTT 3.1.1 CONNACK return codes (§3.2.2.3). */
export const ConnackReturnCode = {
  ACCEPTED: 0,
  UNACCEPTABLE_PROTOCOL_VERSION: 1,
  IDENTIFIER_REJECTED: 2,
  SERVER_UNAVAILABLE: 3,
  BAD_USER_NAME_OR_PASSWORD: 4,
  NOT_AUTHORIZED: 5,
} as const

/** MQTT 3.1.1 SUBACK failure return code. */
export const SUBACK_FAILURE_V3 = 0x80

/** The v3.1.1 CONNACK code for a v5 CONNACK reason (§3.2.2.3 has only six). */
export function connackCodeV3(reason: number): number {
  switch (reason) {
    case ReasonCode.SUCCESS:
      return ConnackReturnCode.ACCEPTED
    case ReasonCode.UNSUPPORTED_PROTOCOL_VERSION:
      return ConnackReturnCode.UNACCEPTABLE_PROTOCOL_VERSION
    case ReasonCode.CLIENT_IDENTIFIER_NOT_VALID:
      return ConnackReturnCode.IDENTIFIER_REJECTED
    case ReasonCode.BAD_USER_NAME_OR_PASSWORD:
      return ConnackReturnCode.BAD_USER_NAME_OR_PASSWORD
    case ReasonCode.NOT_AUTHORIZED:
      return ConnackReturnCode.NOT_AUTHORIZED
    default:
      return ConnackReturnCode.SERVER_UNAVAILABLE
  }
}

/** The one place where Cairn's error vocabulary becomes an MQTT reason code (PUBACK/PUBREC, DISCONNECT). */
export function toMqttReasonCode(error: unknown): number {
  if (!isBrokerError(error)) return ReasonCode.UNSPECIFIED_ERROR
  switch (error.code) {
    case 'CAIRN_STORAGE_FULL':
      return ReasonCode.QUOTA_EXCEEDED
    case 'CAIRN_STORAGE_BUSY':
      return ReasonCode.SERVER_BUSY
    case 'CAIRN_STORE_CLOSED':
      return ReasonCode.SERVER_SHUTTING_DOWN
    case 'CAIRN_RECORD_INVALID':
      return ReasonCode.PAYLOAD_FORMAT_INVALID
    case 'CAIRN_AUTH_FAILED':
      return ReasonCode.BAD_USER_NAME_OR_PASSWORD
    case 'CAIRN_NOT_AUTHORIZED':
      return ReasonCode.NOT_AUTHORIZED
    case 'CAIRN_AUTH_RATE_LIMITED':
      return ReasonCode.CONNECTION_RATE_EXCEEDED
    default:
      return ReasonCode.IMPLEMENTATION_SPECIFIC_ERROR
  }
}
