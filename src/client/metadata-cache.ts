import { BrokerError } from '../errors.ts'
import type { OpName, OpRequest, OpResponse, StreamInfoBody } from '../native/wire/ops.ts'
import type { RequestOptions } from './types.ts'

export interface Requester {
  request<K extends OpName>(op: K, body: OpRequest<K>, options?: RequestOptions): Promise<OpResponse<K>>
}

/**
 * Stream metadata (partition count, config) as last seen, from the `metadata` operation. The
 * producer partitions with it; it is dropped on reconnect and refreshed once when the broker says
 * CAIRN_STREAM_NOT_FOUND or CAIRN_PARTITION_NOT_FOUND. Concurrent lookups of one stream share a
 * request.
 */
export class MetadataCache {
  readonly #requester: Requester
  readonly #streams = new Map<string, StreamInfoBody>()
  readonly #loading = new Map<string, Promise<StreamInfoBody>>()
  #generation = 0

  constructor(requester: Requester) {
    this.#requester = requester
  }

  /** What is cached for `stream`, without asking the broker. */
  cached(stream: string): StreamInfoBody | undefined {
    return this.#streams.get(stream)
  }

  /**
   * The stream's metadata, from the cache unless `refresh`; CAIRN_STREAM_NOT_FOUND when the broker
   * does not know it.
   */
  async stream(stream: string, options: { refresh?: boolean } = {}): Promise<StreamInfoBody> {
    if (options.refresh !== true) {
      const cached = this.#streams.get(stream)
      if (cached !== undefined) return cached
    }
    let loading = this.#loading.get(stream)
    if (loading === undefined || options.refresh === true) {
      loading = this.#load(stream)
      this.#loading.set(stream, loading)
    }
    return loading
  }

  async #load(stream: string): Promise<StreamInfoBody> {
    const generation = this.#generation
    try {
      const [info] = await this.#fetch([stream], generation)
      if (info === undefined) {
        throw new BrokerError('CAIRN_STREAM_NOT_FOUND', `stream "${stream}" does not exist`, { details: { stream } })
      }
      return info
    } finally {
      this.#loading.delete(stream)
    }
  }

  /** Asks the broker for these streams (all when absent), caches and returns what it knows. */
  refresh(streams?: readonly string[]): Promise<StreamInfoBody[]> {
    return this.#fetch(streams, this.#generation)
  }

  async #fetch(streams: readonly string[] | undefined, generation: number): Promise<StreamInfoBody[]> {
    const response = await this.#requester.request('metadata', streams === undefined ? {} : { streams: [...streams] })
    // Results from before an invalidate() (e.g. a reconnect to a restarted broker) are not kept.
    if (generation === this.#generation) {
      for (const info of response.streams) this.#streams.set(info.name, info)
      if (streams !== undefined) {
        for (const name of streams) if (!response.streams.some((s) => s.name === name)) this.#streams.delete(name)
      }
    }
    return response.streams
  }

  /** Forgets one stream, or everything. */
  invalidate(stream?: string): void {
    if (stream === undefined) {
      this.#streams.clear()
      this.#generation++
    } else {
      this.#streams.delete(stream)
    }
  }
}
