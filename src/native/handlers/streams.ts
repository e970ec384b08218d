import type { StreamInfo, StreamSettings } from '../../log/types.ts'
import type { StreamInfoBody, StreamSettingsBody } from '../wire/ops.ts'
import type { Handler } from './index.ts'

// Stream administration and metadata. On the wire a missing limit is -1 (Kafka's convention),
// in the store it is null.

export function streamInfoBody(info: StreamInfo): StreamInfoBody {
  const { config } = info
  return {
    name: info.name,
    config: {
      ...config,
      retentionMs: config.retentionMs ?? -1,
      retentionBytes: config.retentionBytes ?? -1,
      subjects: [...config.subjects],
    },
    createdMs: info.createdMs,
    partitions: info.partitions.map((p) => ({ ...p })),
  }
}

export function streamSettings(body: StreamSettingsBody): StreamSettings {
  const settings: StreamSettings = {}
  if (body.partitions !== undefined) settings.partitions = body.partitions
  if (body.retentionMs !== undefined) settings.retentionMs = body.retentionMs === -1 ? null : body.retentionMs
  if (body.retentionBytes !== undefined)
    settings.retentionBytes = body.retentionBytes === -1 ? null : body.retentionBytes
  if (body.cleanupPolicy !== undefined) settings.cleanupPolicy = body.cleanupPolicy
  if (body.durability !== undefined) settings.durability = body.durability
  if (body.deleteRetentionMs !== undefined) settings.deleteRetentionMs = body.deleteRetentionMs
  if (body.subjects !== undefined) settings.subjects = body.subjects
  return settings
}

export const handleMetadata: Handler<'metadata'> = ({ frontEnd: { store } }, body) => {
  const infos =
    body.streams === undefined
      ? store.listStreams()
      : body.streams.filter((name) => store.hasStream(name)).map((name) => store.describeStream(name))
  return { streams: infos.map(streamInfoBody) }
}

export const handleCreateStream: Handler<'createStream'> = ({ frontEnd: { store } }, body) => ({
  stream: streamInfoBody(store.createStream(body.name, streamSettings(body.config ?? {}))),
})

/** Alters settings; a larger `partitions` grows the stream (partitions never shrink). */
export const handleAlterStream: Handler<'alterStream'> = ({ frontEnd: { store } }, body) => {
  const { partitions, ...rest } = streamSettings(body.config)
  // Settings first: they are validated as a whole, so a bad one leaves the partition count alone too.
  let info = Object.keys(rest).length > 0 ? store.alterStream(body.name, rest) : store.describeStream(body.name)
  if (partitions !== undefined && partitions !== store.partitionCount(body.name)) {
    info = store.addPartitions(body.name, partitions)
  }
  return { stream: streamInfoBody(info) }
}

export const handleDeleteStream: Handler<'deleteStream'> = ({ frontEnd: { store } }, body) => {
  store.deleteStream(body.name)
  return {}
}
