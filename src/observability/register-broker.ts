import type { GroupCoordinator } from '../groups/group-coordinator.ts'
import type { LogStore } from '../log/log-store.ts'
import type { Mirror } from '../mirror/mirror.ts'
import type { MqttFrontEnd } from '../mqtt/mqtt-front-end.ts'
import type { NativeFrontEnd } from '../native/native-front-end.ts'
import { registerGroupMetrics, registerMqttMetrics, registerStoreMetrics } from './broker-metrics.ts'
import { registerMirrorMetrics } from './mirror-metrics.ts'
import { registerProcessMetrics } from './process-metrics.ts'
import type { MetricsRegistry } from './registry.ts'
import { registerTrafficMetrics, type HttpTraffic } from './traffic.ts'

export interface BrokerParts {
  store: LogStore
  groups: GroupCoordinator
  mqtt: MqttFrontEnd
  native: NativeFrontEnd
  http: { traffic: HttpTraffic }
  mirror: Mirror | null
}

/** Every metric of a running broker (docs/metrics.md lists them), registered in one call from the gateway. */
export function registerBrokerMetrics(registry: MetricsRegistry, parts: BrokerParts): void {
  const { store, mqtt, native, http } = parts
  registerTrafficMetrics(registry, [
    { protocol: 'mqtt', counters: () => mqtt.counters, connections: () => mqtt.connectionCount },
    { protocol: 'native', counters: () => native.counters, connections: () => native.connectionCount },
    { protocol: 'http', counters: () => http.traffic.counters(), connections: () => http.traffic.connections() },
  ])
  registerMqttMetrics(registry, mqtt)
  registerStoreMetrics(registry, store)
  registerGroupMetrics(registry, parts.groups)
  if (parts.mirror !== null) registerMirrorMetrics(registry, parts.mirror, store)
  registerProcessMetrics(registry)
}
