import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { CairnClient } from '../../../src/client/index.ts'
import { nativeStatus } from '../../../src/native/status.ts'
import { ops } from '../../../src/native/wire/ops.ts'
import { check } from '../../../src/native/wire/schema.ts'
import { startNativeBroker, type NativeBroker } from '../../helpers/native-broker.ts'
import { RawNativePeer } from '../../helpers/raw-native.ts'
import { stubMirror, stubNowMs, type StubMirror } from '../../helpers/stub-mirror.ts'

// The native mirrorStatus, mirrorTranslate and mirrorResolve operations, frame by frame and through the client's
// admin. The mirror behind them is a stand-in (test/helpers/stub-mirror.ts) with fixed answers: these
// tests check the exposure (wire shapes, errors), the real mirror is tested in its own suites.

let broker: NativeBroker
let bare: NativeBroker
let mirror: StubMirror
const peers: RawNativePeer[] = []

async function peer(on: NativeBroker = broker): Promise<RawNativePeer> {
  const p = await RawNativePeer.connect(on.port)
  peers.push(p)
  return p
}

beforeAll(async () => {
  mirror = stubMirror()
  broker = await startNativeBroker({ mirror })
  bare = await startNativeBroker()
})

afterAll(async () => {
  for (const p of peers.splice(0)) p.close()
  await broker.close()
  await bare.close()
})

describe('native - mirror operations', () => {
  test('native mirror - mirrorStatus answers every link with offsets as 8-byte integers and nulls kept', async () => {
    const p = await peer()
    const reply = await p.call('mirrorStatus', {})
    expect(reply.status).toBe(0)
    const body = check(ops.mirrorStatus.response, reply.body)
    expect(body).toEqual({ links: mirror.status() })
    const [link] = body.links
    expect(link?.lastError).toEqual({
      code: 'CAIRN_UPSTREAM_UNAVAILABLE',
      message: 'kafka:9092 refused',
      atMs: stubNowMs - 12_000,
    })
    const fresh = link?.partitions.find((x) => x.partition === 1)
    // Raw (before the schema): offsets are bigint, -1 before the first mirrored record survives.
    const raw = (reply.body as { links: Array<{ partitions: Array<Record<string, unknown>> }> }).links[0]?.partitions
    expect(raw?.find((x) => x['partition'] === 0)?.['nextLocal']).toBe(40n)
    expect(raw?.find((x) => x['partition'] === 1)?.['lastUpstream']).toBe(-1n)
    expect(fresh?.oldestUnmirroredMs).toBeNull()
  })

  test('native mirror - mirrorTranslate: records and positions, both directions', async () => {
    const p = await peer()
    const base = { link: 'central', stream: 'sensors', partition: 0 }
    const record = await p.ok('mirrorTranslate', { ...base, kind: 'record', direction: 'to-upstream', offset: 12n })
    expect(record).toEqual({
      ...base,
      upstreamTopic: 'gw1.sensors',
      upstreamPartition: 0,
      kind: 'record',
      direction: 'to-upstream',
      from: 12n,
      to: 112n,
      clamped: false,
    })
    const back = await p.ok('mirrorTranslate', { ...base, kind: 'record', direction: 'to-local', offset: 112n })
    expect(back).toMatchObject({ from: 112n, to: 12n, clamped: false })
    const beyond = await p.ok('mirrorTranslate', { ...base, kind: 'position', direction: 'to-upstream', offset: 41n })
    expect(beyond).toMatchObject({ kind: 'position', to: 140n, clamped: true })
    // A foreign client may send a small offset in shortest form, and may leave out the link.
    const short = await p.ok('mirrorTranslate', {
      stream: 'sensors',
      partition: 0,
      kind: 'position',
      direction: 'to-local',
      offset: 120,
    })
    expect(short).toMatchObject({ link: 'central', from: 120n, to: 20n })
    expect(mirror.requests.at(-1)).toEqual({
      stream: 'sensors',
      partition: 0,
      kind: 'position',
      direction: 'to-local',
      offset: 120n,
    })
  })

  test('native mirror - no image is CAIRN_OFFSET_NOT_MIRRORED, a bad body names the field; the connection stays', async () => {
    const p = await peer()
    const notMirrored = await p.call('mirrorTranslate', {
      stream: 'sensors',
      partition: 0,
      kind: 'record',
      direction: 'to-upstream',
      offset: 40n,
    })
    expect(notMirrored.status).toBe(nativeStatus.CAIRN_OFFSET_NOT_MIRRORED)
    expect(notMirrored.error).toEqual({
      code: 'CAIRN_OFFSET_NOT_MIRRORED',
      message: 'local offset 40 has no upstream copy',
      retriable: false,
    })
    const otherPartition = await p.call('mirrorTranslate', {
      stream: 'sensors',
      partition: 7,
      kind: 'record',
      direction: 'to-upstream',
      offset: 1n,
    })
    expect(otherPartition.error?.code).toBe('CAIRN_OFFSET_NOT_MIRRORED')
    const bad = await p.call('mirrorTranslate', {
      stream: 'sensors',
      partition: 0,
      kind: 'offset',
      direction: 'to-upstream',
      offset: 1n,
    })
    expect(bad.status).toBe(nativeStatus.CAIRN_REQUEST_INVALID)
    expect(bad.error?.message).toMatch(/^body\.kind must be one of "record", "position"/)
    const negative = await p.call('mirrorTranslate', {
      stream: 'sensors',
      partition: 0,
      kind: 'record',
      direction: 'to-upstream',
      offset: -1,
    })
    expect(negative.error?.message).toMatch(/^body\.offset must be an unsigned 64-bit integer/)
    expect((await p.call('mirrorStatus', {})).status).toBe(0)
  })

  test('native mirror - a broker without a mirror answers CAIRN_REQUEST_INVALID, saying so', async () => {
    const p = await peer(bare)
    for (const [op, body] of [
      ['mirrorStatus', {}],
      ['mirrorTranslate', { stream: 's', partition: 0, kind: 'record', direction: 'to-upstream', offset: 0n }],
    ] as const) {
      const reply = await p.call(op, body)
      expect(reply.status).toBe(nativeStatus.CAIRN_REQUEST_INVALID)
      expect(reply.error).toEqual({
        code: 'CAIRN_REQUEST_INVALID',
        message: 'no mirror is configured (cairn serve --mirror-to ...)',
        retriable: false,
      })
    }
  })

  test('native mirror - client admin: mirrorStatus, mirrorTranslate and mirrorResolve, errors as BrokerError', async () => {
    const client = new CairnClient({ port: broker.port })
    const noMirror = new CairnClient({ port: bare.port })
    try {
      const admin = client.admin()
      const links = await admin.mirrorStatus()
      expect(links.map((l) => [l.link, l.state, l.partitions.length])).toEqual([['central', 'backoff', 2]])
      const translated = await admin.mirrorTranslate({
        stream: 'sensors',
        partition: 0,
        kind: 'record',
        direction: 'to-upstream',
        offset: 5n,
      })
      expect(translated).toMatchObject({ link: 'central', upstreamTopic: 'gw1.sensors', from: 5n, to: 105n })
      await expect(
        admin.mirrorTranslate({ stream: 'sensors', partition: 0, kind: 'record', direction: 'to-local', offset: 99n }),
      ).rejects.toMatchObject({ code: 'CAIRN_OFFSET_NOT_MIRRORED' })
      await expect(
        admin.mirrorTranslate({
          link: 'backup',
          stream: 'sensors',
          partition: 0,
          kind: 'record',
          direction: 'to-upstream',
          offset: 1n,
        }),
      ).rejects.toMatchObject({ code: 'CAIRN_REQUEST_INVALID', message: 'no mirror link backup' })
      await expect(noMirror.admin().mirrorStatus()).rejects.toMatchObject({
        code: 'CAIRN_REQUEST_INVALID',
        message: expect.stringMatching(/no mirror is configured/) as string,
      })
      const resolved = await admin.mirrorResolve({ stream: 'sensors', partition: 0, action: 'skip' })
      expect(resolved).toEqual({
        link: 'central',
        stream: 'sensors',
        partition: 0,
        action: 'skip',
        previousState: 'blocked-poison',
        state: 'active',
        nextLocal: 41n,
        mapEpoch: 0,
      })
      await expect(admin.mirrorResolve({ stream: 'sensors', partition: 0, action: 'rebase' })).rejects.toMatchObject({
        code: 'CAIRN_REQUEST_INVALID',
        message: expect.stringMatching(/rebase does not apply \(use retry or skip\)/) as string,
      })
      expect(mirror.resolved.at(-1)).toEqual({ stream: 'sensors', partition: 0, action: 'rebase' })
    } finally {
      await client.close()
      await noMirror.close()
    }
  })
})
