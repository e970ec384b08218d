// Cairn as a library: the log store, the front ends (each takes a Duplex; listeners belong to gateway/),
// and the one error vocabulary.
export { LogStore, type LogStoreOptions, type CommittedBatch, type AppendWatcher } from './log/log-store.ts'
export type * from './log/types.ts'
export { defaultStreamConfig, validateStreamName, maxPartitions } from './log/stream-config.ts'
export { MqttFrontEnd, type MqttFrontEndOptions, type Authenticator, type AuthDecision } from './mqtt/mqtt-front-end.ts'
export { defaultMqttOptions, type MqttOptions } from './mqtt/options.ts'
export {
  BrokerError,
  ConfigError,
  ConfigErrors,
  errorCodes,
  isBrokerError,
  hasErrorCode,
  type ErrorCode,
} from './errors.ts'
export { systemClock, type Clock } from './util/clock.ts'
