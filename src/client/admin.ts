import { BrokerError } from '../errors.ts'
import type { OpRequest, OpResponse, StreamInfoBody, StreamSettingsBody } from '../native/wire/ops.ts'
import { errorFromWire } from './client-errors.ts'
import type { Requester } from './metadata-cache.ts'
import type { CommitOffset, RequestOptions } from './types.ts'

export type StreamInfo = StreamInfoBody
export type StreamSettings = StreamSettingsBody
export type GroupDescription = OpResponse<'describeGroup'>
export type GroupSummary = OpResponse<'listGroups'>['groups'][number]
export type GroupOffset = OpResponse<'offsetFetch'>['offsets'][number]
export type ResetTo = OpRequest<'resetOffsets'>['to']
export type OffsetSpec = { earliest: true } | { latest: true } | { timestamp: number }
/** One upstream link: state, last error, and per mirrored partition its cursor, lag and gaps. */
export type MirrorLinkStatus = OpResponse<'mirrorStatus'>['links'][number]
export type MirrorPartitionStatus = MirrorLinkStatus['partitions'][number]
export type MirrorTranslateRequest = OpRequest<'mirrorTranslate'>
export type MirrorTranslation = OpResponse<'mirrorTranslate'>
export type MirrorResolveRequest = OpRequest<'mirrorResolve'>
export type MirrorResolution = OpResponse<'mirrorResolve'>

export interface ListOffsetsResult {
  stream: string
  partition: number
  /** For a timestamp: the first record at or after it, or logEndOffset when there is none. */
  offset: bigint
  /** The found record's timestamp (by timestamp only). */
  timestamp?: number
}

/**
 * Administrative operations: thin, typed wrappers over single requests. Per-partition errors in
 * listOffsets are raised (the first one) rather than returned.
 */
export class Admin {
  readonly #client: Requester & { metadata: { invalidate(stream?: string): void } }

  constructor(client: Requester & { metadata: { invalidate(stream?: string): void } }) {
    this.#client = client
  }

  async createStream(name: string, config?: StreamSettings, options?: RequestOptions): Promise<StreamInfo> {
    const response = await this.#client.request(
      'createStream',
      config === undefined ? { name } : { name, config },
      options,
    )
    this.#client.metadata.invalidate(name)
    return response.stream
  }

  async alterStream(name: string, config: StreamSettings, options?: RequestOptions): Promise<StreamInfo> {
    const response = await this.#client.request('alterStream', { name, config }, options)
    this.#client.metadata.invalidate(name)
    return response.stream
  }

  async deleteStream(name: string, options?: RequestOptions): Promise<void> {
    await this.#client.request('deleteStream', { name }, options)
    this.#client.metadata.invalidate(name)
  }

  /** Every stream (or the named ones that exist). */
  async listStreams(names?: readonly string[], options?: RequestOptions): Promise<StreamInfo[]> {
    const response = await this.#client.request('metadata', names === undefined ? {} : { streams: [...names] }, options)
    return response.streams
  }

  /** One stream; CAIRN_STREAM_NOT_FOUND when it does not exist. */
  async describeStream(name: string, options?: RequestOptions): Promise<StreamInfo> {
    const [info] = await this.listStreams([name], options)
    if (info === undefined) {
      throw new BrokerError('CAIRN_STREAM_NOT_FOUND', `stream "${name}" does not exist`, { details: { stream: name } })
    }
    return info
  }

  async listOffsets(
    partitions: readonly { stream: string; partition: number; at: OffsetSpec }[],
    options?: RequestOptions,
  ): Promise<ListOffsetsResult[]> {
    const response = await this.#client.request(
      'listOffsets',
      { partitions: partitions.map((p) => ({ stream: p.stream, partition: p.partition, at: p.at })) },
      options,
    )
    return response.partitions.map((p) => {
      if (p.error !== undefined) throw errorFromWire(p.error, 'listOffsets')
      if (p.offset === undefined) {
        throw new BrokerError('CAIRN_FRAME_MALFORMED', `listOffsets gave no offset for ${p.stream}/${p.partition}`)
      }
      const result: ListOffsetsResult = { stream: p.stream, partition: p.partition, offset: p.offset }
      if (p.timestamp !== undefined) result.timestamp = p.timestamp
      return result
    })
  }

  async listGroups(options?: RequestOptions): Promise<GroupSummary[]> {
    return (await this.#client.request('listGroups', {}, options)).groups
  }

  async describeGroup(group: string, options?: RequestOptions): Promise<GroupDescription> {
    return this.#client.request('describeGroup', { group }, options)
  }

  /** Committed offsets of a group (for the given streams, or all). */
  async fetchOffsets(group: string, streams?: readonly string[], options?: RequestOptions): Promise<GroupOffset[]> {
    const body = streams === undefined ? { group } : { group, streams: [...streams] }
    return (await this.#client.request('offsetFetch', body, options)).offsets
  }

  /** Commits offsets for a group without a member (only while the group has no members). */
  async commitOffsets(group: string, offsets: readonly CommitOffset[], options?: RequestOptions): Promise<void> {
    await this.#client.request('offsetCommit', { group, offsets: offsets.map(wireCommitOffset) }, options)
  }

  async resetOffsets(
    request: { group: string; stream: string; partitions?: number[]; to: ResetTo; dryRun?: boolean },
    options?: RequestOptions,
  ): Promise<OpResponse<'resetOffsets'>['offsets']> {
    return (await this.#client.request('resetOffsets', request, options)).offsets
  }

  async deleteGroup(group: string, options?: RequestOptions): Promise<void> {
    await this.#client.request('deleteGroup', { group }, options)
  }

  /** The upstream mirror's links; CAIRN_REQUEST_INVALID when the broker runs without a mirror. */
  async mirrorStatus(options?: RequestOptions): Promise<MirrorLinkStatus[]> {
    return (await this.#client.request('mirrorStatus', {}, options)).links
  }

  /**
   * Where a record (`kind: 'record'`) or a consumer position (`kind: 'position'`, the next offset to
   * read) of a local partition is on the other side of the mirror: `direction: 'to-upstream'` takes a
   * local offset, `'to-local'` an upstream one. CAIRN_OFFSET_NOT_MIRRORED when there is no image.
   */
  async mirrorTranslate(request: MirrorTranslateRequest, options?: RequestOptions): Promise<MirrorTranslation> {
    const body: MirrorTranslateRequest = {
      stream: request.stream,
      partition: request.partition,
      kind: request.kind,
      direction: request.direction,
      offset: BigInt(request.offset),
    }
    if (request.link !== undefined) body.link = request.link
    return this.#client.request('mirrorTranslate', body, options)
  }

  /**
   * An operator's answer to a partition the mirror stopped: `retry`/`skip` (blocked-poison),
   * `remirror`/`continue` (paused-upstream-reset), `remirror` (paused-stream-recreated), `rebase`
   * (diverged). CAIRN_REQUEST_INVALID, naming the actions that apply, for any other pair.
   */
  async mirrorResolve(request: MirrorResolveRequest, options?: RequestOptions): Promise<MirrorResolution> {
    return this.#client.request('mirrorResolve', { ...request }, options)
  }
}

export function wireCommitOffset(offset: CommitOffset): CommitOffset {
  const out: CommitOffset = { stream: offset.stream, partition: offset.partition, offset: BigInt(offset.offset) }
  if (offset.metadata !== undefined) out.metadata = offset.metadata
  return out
}
