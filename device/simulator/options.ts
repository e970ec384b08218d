import { payloadFormats, type PayloadFormat } from './payload.ts'

export interface FleetOptions {
  /** Broker URL: `mqtt://host:port`, `mqtts://...`, `ws://host:port/mqtt`. */
  url: string
  /** Number of devices; device i (from 1) has id and client id `${idPrefix}${i, 4 digits}`. */
  devices: number
  idPrefix: string
  /** Each device publishes to `${topicPrefix}/${deviceId}/${topic}` for every topic, round-robin. */
  topicPrefix: string
  topics: string[]
  /** Messages per second per device (a ceiling: a device never has more than `inflight` unacknowledged). */
  ratePerSec: number
  /** Stop each device after this many messages (undefined: no limit). */
  messagesPerDevice: number | undefined
  /** Stop producing after this long (undefined: no limit). */
  durationMs: number | undefined
  qos: 0 | 1 | 2
  format: PayloadFormat
  /** Payloads are padded up to this size; never cut below what their fields need. */
  payloadBytes: number
  /** 4 = MQTT 3.1.1, 5 = MQTT 5. */
  protocolVersion: 4 | 5
  /** Persistent session: 3.1.1 clean session 0; v5 clean start 0 with `sessionExpirySec`. */
  persistent: boolean
  sessionExpirySec: number
  keepaliveSec: number
  /** Unacknowledged QoS 1/2 publishes a device keeps going (also its memory bound while offline). */
  inflight: number
  /** Wait before reconnecting after a connection is lost (other than by a flap). */
  reconnectMs: number
  connectTimeoutMs: number
  /** Mean time between link flaps per device (exponential); 0 turns flaps off. */
  flapMeanIntervalMs: number
  /** How long the link stays down after a flap, uniform in [min, max]. */
  flapDowntimeMs: [number, number]
  seed: number
  /** After producing stops, how long to wait for the last acknowledgements before giving up. */
  drainTimeoutMs: number
  username: string | undefined
  password: string | undefined
}

export const defaultFleetOptions: Omit<FleetOptions, 'url'> = {
  devices: 1,
  idPrefix: 'sim-',
  topicPrefix: 'sensors',
  topics: ['temp'],
  ratePerSec: 1,
  messagesPerDevice: undefined,
  durationMs: undefined,
  qos: 1,
  format: 'json',
  payloadBytes: 64,
  protocolVersion: 4,
  persistent: true,
  sessionExpirySec: 3600,
  keepaliveSec: 30,
  inflight: 16,
  reconnectMs: 1000,
  connectTimeoutMs: 10_000,
  flapMeanIntervalMs: 0,
  flapDowntimeMs: [100, 1000],
  seed: 1,
  drainTimeoutMs: 10_000,
  username: undefined,
  password: undefined,
}

/** Any option left out, or given as undefined, takes its default. */
export type FleetInput = { [K in keyof FleetOptions]?: FleetOptions[K] | undefined } & { url: string }

/** Fills in defaults and checks every option; throws a RangeError naming each one that is wrong. */
export function resolveFleetOptions(input: FleetInput): FleetOptions {
  const o: FleetOptions = {
    ...defaultFleetOptions,
    ...(stripUndefined(input) as Partial<FleetOptions>),
    url: input.url,
  }
  const problems: string[] = []
  const check = (ok: boolean, problem: string) => {
    if (!ok) problems.push(problem)
  }
  const positiveInt = (name: keyof FleetOptions, value: unknown) =>
    check(Number.isInteger(value) && (value as number) > 0, `${name} must be a positive integer, got ${String(value)}`)
  const nonNegative = (name: keyof FleetOptions, value: unknown) =>
    check(
      typeof value === 'number' && Number.isFinite(value) && value >= 0,
      `${name} must be a number >= 0, got ${String(value)}`,
    )

  check(/^(mqtts?|wss?|tcp|ssl):\/\/./.test(o.url), `url must be mqtt://, mqtts://, ws:// or wss://, got ${o.url}`)
  positiveInt('devices', o.devices)
  // The id goes into topics and the text payload: no separators, no wildcards.
  check(/^[A-Za-z0-9_.-]{1,16}$/.test(o.idPrefix), `idPrefix must be 1-16 of A-Z a-z 0-9 _ . -, got ${o.idPrefix}`)
  check(!/[+#]/.test(o.topicPrefix) && o.topicPrefix !== '', `topicPrefix must be a topic without wildcards`)
  check(
    o.topics.length > 0 && o.topics.every((t) => t !== '' && !/[+#/]/.test(t)),
    `topics must be one or more topic levels without / + #, got ${o.topics.join(',')}`,
  )
  check(
    typeof o.ratePerSec === 'number' && o.ratePerSec > 0 && o.ratePerSec <= 100_000,
    `ratePerSec must be in (0, 100000], got ${o.ratePerSec}`,
  )
  if (o.messagesPerDevice !== undefined) positiveInt('messagesPerDevice', o.messagesPerDevice)
  if (o.durationMs !== undefined) nonNegative('durationMs', o.durationMs)
  check([0, 1, 2].includes(o.qos), `qos must be 0, 1 or 2, got ${o.qos}`)
  check(payloadFormats.includes(o.format), `format must be one of ${payloadFormats.join(', ')}, got ${o.format}`)
  check(
    Number.isInteger(o.payloadBytes) && o.payloadBytes >= 0 && o.payloadBytes <= 256 * 1024 * 1024,
    `payloadBytes must be an integer in [0, 256 MiB], got ${o.payloadBytes}`,
  )
  check(o.protocolVersion === 4 || o.protocolVersion === 5, `protocolVersion must be 4 or 5, got ${o.protocolVersion}`)
  check(
    Number.isInteger(o.sessionExpirySec) && o.sessionExpirySec >= 0 && o.sessionExpirySec <= 0xffffffff,
    `sessionExpirySec must be an integer in [0, 4294967295], got ${o.sessionExpirySec}`,
  )
  // Keep Alive is a 16-bit number of seconds (MQTT 3.1.1 §3.1.2.10).
  check(
    Number.isInteger(o.keepaliveSec) && o.keepaliveSec >= 0 && o.keepaliveSec <= 65535,
    `keepaliveSec must be an integer in [0, 65535], got ${o.keepaliveSec}`,
  )
  // Packet identifiers are 16-bit and non-zero [MQTT-2.3.1-1]: at most 65535 can be in flight.
  check(
    Number.isInteger(o.inflight) && o.inflight >= 1 && o.inflight <= 65535,
    `inflight must be an integer in [1, 65535], got ${o.inflight}`,
  )
  positiveInt('reconnectMs', o.reconnectMs)
  positiveInt('connectTimeoutMs', o.connectTimeoutMs)
  nonNegative('flapMeanIntervalMs', o.flapMeanIntervalMs)
  const [downMin, downMax] = o.flapDowntimeMs
  check(
    Number.isFinite(downMin) && Number.isFinite(downMax) && downMin >= 1 && downMax >= downMin,
    `flapDowntimeMs must be [min, max] with 1 <= min <= max, got ${o.flapDowntimeMs.join(',')}`,
  )
  check(Number.isInteger(o.seed) && o.seed >= 0 && o.seed < 2 ** 32, `seed must be an integer in [0, 2^32)`)
  nonNegative('drainTimeoutMs', o.drainTimeoutMs)
  if (problems.length > 0) throw new RangeError(`invalid fleet options:\n  ${problems.join('\n  ')}`)
  return o
}

/** `{ durationMs: undefined }` means "not given" here, so it must not override a default. */
function stripUndefined(input: object): object {
  return Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined))
}

export function deviceIdOf(options: Pick<FleetOptions, 'idPrefix'>, index: number): string {
  return `${options.idPrefix}${String(index + 1).padStart(4, '0')}`
}

export function topicOf(options: Pick<FleetOptions, 'topicPrefix'>, deviceId: string, topic: string): string {
  return `${options.topicPrefix}/${deviceId}/${topic}`
}
