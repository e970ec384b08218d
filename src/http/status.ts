import type { RouteHandler } from './context.ts'
import { sendJson } from './respond.ts'

// GET /api/v1/status: one document summing up the running broker for `cairn status`: what the gateway knows
// (listeners, connections, version) from the StatusSource it injects, and what the API already has (streams,
// groups with lag, mirror links with backlog), condensed. Offsets are plain totals so that a client can sample
// twice and compute rates.

/** Facts only the composition root has (sockets are gateway business). */
export interface GatewayStatus {
  version: string
  startedMs: number
  /** Every configured listener: its bound address (null: off) and open connections (sockets, HTTP included). */
  listeners: Array<{ name: string; address: string | null; connections: number }>
  /** MQTT clients past CONNECT. */
  mqttClients: number
}

export type StatusSource = () => GatewayStatus

export interface StatusDocument extends GatewayStatus {
  nowMs: number
  store: { usedBytes: number; fileBytes: number; walBytes: number; commits: number; appendedRecords: number }
  streams: Array<{
    name: string
    partitions: number
    records: number
    bytes: number
    /** Sum over partitions of the next offset to be written: its growth is the append rate. */
    endOffsetSum: number
  }>
  groups: Array<{ group: string; state: string; members: number; lag: number }>
  /** null: no mirror configured. */
  mirror: Array<{
    link: string
    state: string
    lastError: string | null
    partitions: number
    lagRecords: number
    oldestUnmirroredMs: number | null
  }> | null
}

export function createStatusRoute(source: StatusSource): RouteHandler {
  return async (ctx, { res }) => {
    const stats = ctx.store.stats()
    const streams = ctx.store.listStreams().map((s) => ({
      name: s.name,
      partitions: s.partitions.length,
      records: s.partitions.reduce((sum, p) => sum + p.records, 0),
      bytes: s.partitions.reduce((sum, p) => sum + p.bytes, 0),
      endOffsetSum: s.partitions.reduce((sum, p) => sum + Number(p.logEndOffset), 0),
    }))
    const groups = []
    for (const { group, state, members } of (await ctx.groups.listGroups()).groups) {
      let lag = 0
      try {
        for (const offset of (await ctx.groups.describeGroup(group)).offsets) lag += Number(offset.lag)
      } catch {
        // Deleted between the list and the describe: it is simply gone.
        continue
      }
      groups.push({ group, state, members, lag })
    }
    const mirror =
      ctx.mirror === undefined
        ? null
        : ctx.mirror.status().map((link) => {
            const oldest = link.partitions.map((p) => p.oldestUnmirroredMs).filter((ms): ms is number => ms !== null)
            return {
              link: link.link,
              state: link.state,
              lastError: link.lastError === null ? null : `${link.lastError.code}: ${link.lastError.message}`,
              partitions: link.partitions.length,
              lagRecords: link.partitions.reduce((sum, p) => sum + Number(p.lagRecords), 0),
              oldestUnmirroredMs: oldest.length === 0 ? null : Math.min(...oldest),
            }
          })
    const document: StatusDocument = {
      ...source(),
      nowMs: ctx.clock.now(),
      store: {
        usedBytes: stats.usedBytes,
        fileBytes: stats.fileBytes,
        walBytes: stats.walBytes,
        commits: stats.commits,
        appendedRecords: stats.appendedRecords,
      },
      streams,
      groups,
      mirror,
    }
    sendJson(res, 200, document)
  }
}
