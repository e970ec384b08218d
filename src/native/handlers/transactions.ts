import type { Handler } from './index.ts'

// Producer ids and transactions. initProducer with a transactionalId fences the previous
// instance: its epoch is bumped (commit first) and its open transaction aborted.

export const handleInitProducer: Handler<'initProducer'> = async ({ frontEnd }, body) => {
  const { producers, transactions } = frontEnd
  const timeoutMs = transactions.timeoutFor(body.transactionTimeoutMs)
  const producer = await producers.init(body.transactionalId, timeoutMs)
  transactions.abortFor(producer)
  return { producerId: producer.id, producerEpoch: producer.epoch }
}

export const handleTxnBegin: Handler<'txnBegin'> = ({ frontEnd }, body) => {
  frontEnd.transactions.begin(frontEnd.producers.get(body.producerId, body.producerEpoch))
  return {}
}

export const handleTxnAddOffsets: Handler<'txnAddOffsets'> = ({ frontEnd }, body) => {
  const producer = frontEnd.producers.get(body.producerId, body.producerEpoch)
  frontEnd.transactions.addOffsets(producer, body.group, body.memberId, body.memberEpoch, body.offsets)
  return {}
}

export const handleTxnEnd: Handler<'txnEnd'> = async ({ frontEnd }, body) => {
  const producer = frontEnd.producers.get(body.producerId, body.producerEpoch)
  const committed = await frontEnd.transactions.end(producer, body.commit)
  return { results: committed }
}
