// The device-side fleet simulator (device/README.md): runFleet drives N MQTT devices against a broker
// and reports every message per device, topic and sequence number; checkArrivals compares what a
// receiver got with that report.
export { runFleet, type RunFleetControl } from './fleet.ts'
export { checkArrivals, type Arrival, type ArrivalCheck, type MessageRef } from './check.ts'
export { defaultFleetOptions, resolveFleetOptions, type FleetInput, type FleetOptions } from './options.ts'
export { decodePayload, encodePayload, payloadFormats, type PayloadFormat, type Reading } from './payload.ts'
export type { Counts, DeviceReport, FleetReport, LatencySummary, TopicReport } from './report.ts'
