import { pino } from 'pino'
import { describe, expect, test } from 'vitest'
import { ProducerRegistry } from '../../../src/native/producers.ts'
import { openTempStore, thrownBy } from '../../helpers/temp-store.ts'

const logger = pino({ level: 'silent' })
const dayMs = 24 * 3_600_000

describe('native producers', () => {
  test('producers - an id unused for producerExpiryMs is forgotten, also in the database', async () => {
    const temp = openTempStore()
    const registry = new ProducerRegistry(temp.store, temp.clock, logger, { producerExpiryMs: 2 * dayMs })
    const idle = await registry.init(undefined, 60_000)
    const busy = await registry.init(undefined, 60_000)
    temp.clock.advance(dayMs)
    registry.get(busy.id, busy.epoch)
    temp.clock.advance(1.5 * dayMs)
    await temp.store.flush()
    expect(thrownBy(() => registry.get(idle.id, idle.epoch))).toMatchObject({ code: 'CAIRN_PRODUCER_UNKNOWN' })
    expect(registry.get(busy.id, busy.epoch).id).toBe(busy.id)
    registry.close()
    const reopened = new ProducerRegistry(await temp.reopen(), temp.clock, logger, { producerExpiryMs: 2 * dayMs })
    expect(thrownBy(() => reopened.get(idle.id, idle.epoch))).toMatchObject({ code: 'CAIRN_PRODUCER_UNKNOWN' })
    expect(reopened.get(busy.id, busy.epoch).id).toBe(busy.id)
    reopened.close()
  })
})
