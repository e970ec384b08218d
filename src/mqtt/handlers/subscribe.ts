import type { ISubackPacket, ISubscribePacket } from 'mqtt-packet'
import { parseSharedSubscription, validateTopicFilter } from '../../topics/topics.ts'
import type { MqttConnection } from '../connection.ts'
import type { OutgoingMessage } from '../message.ts'
import { ReasonCode, SUBACK_FAILURE_V3 } from '../reason-codes.ts'
import { parseReplaySpec, replayStartOffsets, replayUserProperty, splitReplayFilter } from '../replay.ts'
import type { Subscription } from '../session.ts'

/**
 * SUBSCRIBE: validate each filter, register it, answer SUBACK with a code per filter (in order
 * [MQTT-3.8.4-?]), then send matching retained messages per Retain Handling, then start any replay.
 */
export function handleSubscribe(connection: MqttConnection, packet: ISubscribePacket): void {
  const frontEnd = connection.frontEnd
  const session = connection.session
  if (session === null) return
  const v5 = connection.protocolVersion === 5
  const subscriptionId = packet.properties?.subscriptionIdentifier
  const replayProperty = packet.properties?.userProperties?.[replayUserProperty]
  const replaySpecV5 = Array.isArray(replayProperty) ? replayProperty[0] : replayProperty
  const limits = { maxLength: frontEnd.options.maxTopicLength, maxLevels: frontEnd.options.maxTopicLevels }
  const granted: number[] = []
  const retainedToSend: Array<{ sub: Subscription; messages: OutgoingMessage[] }> = []
  const replays: Array<{ sub: Subscription; offsets: number[] }> = []
  const now = frontEnd.clock.now()

  for (const requested of packet.subscriptions) {
    let filter = requested.topic
    let replaySpec = replaySpecV5
    const prefixed = splitReplayFilter(filter)
    if (prefixed !== undefined) {
      filter = prefixed.filter
      replaySpec = prefixed.spec
    }
    const check = validateTopicFilter(filter, limits)
    if (!check.ok) {
      frontEnd.limitCounters.topicsRefused++
      granted.push(v5 ? ReasonCode.TOPIC_FILTER_INVALID : SUBACK_FAILURE_V3)
      continue
    }
    const shared = parseSharedSubscription(filter)
    if (shared !== null && requested.nl === true) {
      // [MQTT-3.8.3-4] No Local on a shared subscription is a protocol error.
      return connection.protocolFailure(ReasonCode.PROTOCOL_ERROR, 'No Local on a shared subscription')
    }
    // Checked on the filter that matches (a share's or a replay's inner one): a read rule must cover
    // every topic it can match, so no delivery needs its own check.
    if (connection.principal?.canSubscribe(shared?.filter ?? filter) === false) {
      frontEnd.counters.subscriptionsDenied++
      connection.logger.debug({ filter }, 'subscribe not authorized')
      granted.push(v5 ? ReasonCode.NOT_AUTHORIZED : SUBACK_FAILURE_V3)
      continue
    }
    const replayStart = replaySpec === undefined ? undefined : parseReplaySpec(replaySpec, now)
    if (replaySpec !== undefined && (replayStart === undefined || shared !== null)) {
      granted.push(v5 ? ReasonCode.IMPLEMENTATION_SPECIFIC_ERROR : SUBACK_FAILURE_V3)
      continue
    }
    const previous = session.subscriptions.get(filter)
    const existed = previous !== undefined
    const maxSubscriptions = frontEnd.options.maxSubscriptionsPerClient
    if (!existed && maxSubscriptions > 0 && session.subscriptions.size >= maxSubscriptions) {
      // Replacing one of its filters is still allowed; only a new one past the quota is refused.
      frontEnd.limitCounters.subscriptionsOverLimit++
      granted.push(v5 ? ReasonCode.QUOTA_EXCEEDED : SUBACK_FAILURE_V3)
      continue
    }
    const sub: Subscription = {
      filter,
      matchFilter: shared?.filter ?? filter,
      shareName: shared?.shareName ?? null,
      qos: requested.qos,
      noLocal: v5 && requested.nl === true,
      retainAsPublished: v5 && requested.rap === true,
      retainHandling: v5 ? (requested.rh ?? 0) : 0,
      // [MQTT-3.8.4-3] replacing a subscription must not interrupt its flow: a resumed session that
      // subscribes again (most clients do) still gets the backlog its cursors have not reached yet.
      fromOffsets: previous?.fromOffsets ?? frontEnd.routedEnds(),
    }
    if (subscriptionId !== undefined) sub.subscriptionId = subscriptionId
    if (replayStart !== undefined) sub.replay = true
    // [MQTT-3.8.4-3] a subscription with the same filter replaces the old one.
    frontEnd.addSubscription(session, sub)
    granted.push(requested.qos)
    if (replayStart !== undefined) {
      replays.push({ sub, offsets: replayStartOffsets(frontEnd.store, frontEnd.sessionStream, replayStart) })
    }
    // [MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11] retained messages per Retain Handling; none for shared ones.
    const sendRetained = shared === null && (sub.retainHandling === 0 || (sub.retainHandling === 1 && !existed))
    if (sendRetained) retainedToSend.push({ sub, messages: frontEnd.retained.match(sub.matchFilter, now) })
  }

  const suback: ISubackPacket = { cmd: 'suback', messageId: packet.messageId ?? 0, granted }
  // A persistent session's subscriptions are committed before SUBACK: a kill -9 right after it must not
  // lose them, as the client, told at reconnect that its session is present, would not subscribe again.
  // Enqueued before the retained deliveries below, so SUBACK still goes out first.
  frontEnd.saveSession(session, (error) => {
    if (error === null) connection.write(suback)
    else connection.fail(ReasonCode.UNSPECIFIED_ERROR, `session state could not be saved: ${error.message}`)
  })
  // Queued, not best effort: more retained messages than the client's window must still all arrive.
  for (const { sub, messages } of retainedToSend) for (const m of messages) session.offerQueued(m, [sub])
  for (const { sub, offsets } of replays) session.replayFrom(sub, offsets)
}
