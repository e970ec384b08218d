// Cairn as a library: the log store, the front ends (each takes a Duplex, or a request for HTTP;
// listeners belong to gateway/), the group coordinator, and the one error vocabulary. The native
// client is its own entry point: `cairn/client` (src/client/index.ts).
export { LogStore, type LogStoreOptions, type CommittedBatch, type AppendWatcher } from './log/log-store.ts'
export type * from './log/types.ts'
export { defaultStreamConfig, validateStreamName, maxPartitions } from './log/stream-config.ts'
export { MqttFrontEnd, type MqttFrontEndOptions, type Authenticator, type AuthDecision } from './mqtt/mqtt-front-end.ts'
export { defaultMqttOptions, type MqttOptions } from './mqtt/options.ts'
export { NativeFrontEnd, defaultNativeMaxFrameBytes, type NativeFrontEndOptions } from './native/native-front-end.ts'
export { nativeStatus, toNativeFailure } from './native/status.ts'
export { GroupCoordinator, type GroupCoordinatorOptions, type GroupDefaults } from './groups/group-coordinator.ts'
export { createHttpApi, type HttpApiOptions, type HttpApiHandler } from './http/http-api.ts'
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
