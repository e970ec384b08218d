import { BrokerError } from '../errors.ts'
import { cleanupPolicies, durabilities, type StreamConfig, type StreamSettings } from './types.ts'

const dayMs = 86_400_000

export const defaultStreamConfig: Readonly<StreamConfig> = Object.freeze({
  partitions: 1,
  retentionMs: 7 * dayMs,
  retentionBytes: null,
  cleanupPolicy: 'delete',
  durability: 'fsync',
  deleteRetentionMs: dayMs,
  subjects: [],
})

// Kafka's legal topic characters and length, so a stream can be mirrored under the same name.
const streamNamePattern = /^[A-Za-z0-9._-]{1,249}$/
// Partitions are SQLite tables; thousands of them would bloat the schema that every connection parses.
export const maxPartitions = 1024

export function validateStreamName(name: unknown): string {
  if (typeof name !== 'string' || !streamNamePattern.test(name) || name === '.' || name === '..') {
    throw new BrokerError(
      'CAIRN_STREAM_NAME_INVALID',
      `invalid stream name ${JSON.stringify(name)}: use 1 to 249 of A-Z a-z 0-9 . _ - (not "." or "..")`,
      { details: { stream: name } },
    )
  }
  return name
}

/** Merges settings over a base config and validates the result; every problem names its field. */
export function resolveStreamConfig(
  stream: string,
  settings: StreamSettings,
  base: StreamConfig = defaultStreamConfig,
): StreamConfig {
  const problems: string[] = []
  for (const key of Object.keys(settings)) {
    // Own keys only: `in` would accept inherited names such as "toString" or "__proto__".
    if (!Object.hasOwn(defaultStreamConfig, key)) problems.push(`unknown setting "${key}"`)
  }
  // Copied only when it is a list: spreading a string would split it into valid-looking one-letter subjects.
  const subjects: unknown = settings.subjects ?? base.subjects
  const config: StreamConfig = {
    ...base,
    ...withoutUndefined(settings),
    subjects: Array.isArray(subjects) ? [...(subjects as string[])] : (subjects as string[]),
  }
  const positiveIntOrNull = (field: 'retentionMs' | 'retentionBytes') => {
    const value = config[field]
    if (value !== null && !(Number.isSafeInteger(value) && value > 0))
      problems.push(`${field} must be a positive integer or null (got ${String(value)})`)
  }
  if (!Number.isSafeInteger(config.partitions) || config.partitions < 1 || config.partitions > maxPartitions) {
    problems.push(`partitions must be an integer from 1 to ${maxPartitions} (got ${String(config.partitions)})`)
  }
  positiveIntOrNull('retentionMs')
  positiveIntOrNull('retentionBytes')
  if (!cleanupPolicies.includes(config.cleanupPolicy)) {
    problems.push(`cleanupPolicy must be one of ${cleanupPolicies.join(', ')} (got ${String(config.cleanupPolicy)})`)
  }
  if (!durabilities.includes(config.durability)) {
    problems.push(`durability must be one of ${durabilities.join(', ')} (got ${String(config.durability)})`)
  }
  if (!Number.isSafeInteger(config.deleteRetentionMs) || config.deleteRetentionMs < 0) {
    problems.push(`deleteRetentionMs must be a non-negative integer (got ${String(config.deleteRetentionMs)})`)
  }
  if (!Array.isArray(config.subjects) || config.subjects.some((s) => typeof s !== 'string' || s.length === 0)) {
    problems.push('subjects must be a list of non-empty MQTT topic filters')
  }
  if (problems.length > 0) {
    throw new BrokerError('CAIRN_STREAM_CONFIG_INVALID', `stream "${stream}": ${problems.join('; ')}`, {
      details: { stream, problems },
    })
  }
  return config
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}
