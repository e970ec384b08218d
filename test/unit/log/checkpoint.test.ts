import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { pino } from 'pino'
import { describe, expect, onTestFinished, test } from 'vitest'
import { LogStore } from '../../../src/log/log-store.ts'
import { FakeClock } from '../../helpers/fake-clock.ts'
import { bytes, openTempStore, text, thrownBy } from '../../helpers/temp-store.ts'

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-log-'))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A logger that keeps what it writes, to see what the store reported on open. */
function recordingLogger() {
  const lines: Array<Record<string, unknown>> = []
  const logger = pino(
    { level: 'info' },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  )
  return { logger, lines }
}

const cleanShutdownSql = "SELECT value FROM cairn_meta WHERE name = 'clean_shutdown'"

/** The flag of a closed store's file. */
function cleanShutdownFlag(file: string): unknown {
  const db = new Database(file, { readonly: true })
  try {
    return db.prepare(cleanShutdownSql).pluck().get()
  } finally {
    db.close()
  }
}

/** The flag of an open store, through its own connection: it holds the file exclusively. */
const openStoreFlag = (store: LogStore): unknown => store.database.prepare(cleanShutdownSql).pluck().get()

describe('checkpoint - WAL', () => {
  test('checkpoint - TRUNCATE empties the WAL; the records stay readable', async () => {
    const { store } = openTempStore()
    store.createStream('s')
    await store.append('s', 0, [{ value: new Uint8Array(50_000) }, { value: bytes('last') }])
    expect(store.stats().walBytes).toBeGreaterThan(50_000)
    store.checkpoint('TRUNCATE')
    expect(store.stats().walBytes).toBe(0)
    expect(store.read('s', 0, 1n).records.map((r) => text(r.value))).toEqual(['last'])
    // Appends after a checkpoint go on as usual.
    await store.append('s', 0, [{ value: bytes('after') }])
    expect(store.stats().walBytes).toBeGreaterThan(0)
    store.checkpoint() // PASSIVE
    expect(store.read('s', 0, 2n).records.map((r) => text(r.value))).toEqual(['after'])
  })

  test('checkpoint - a WAL past truncateAboveBytes is truncated by the background timer', async () => {
    const { store, clock } = openTempStore({ checkpoint: { intervalMs: 1000, truncateAboveBytes: 10_000 } })
    store.createStream('s')
    await store.append('s', 0, [{ value: new Uint8Array(20_000) }])
    expect(store.stats().walBytes).toBeGreaterThan(10_000)
    clock.advance(1000)
    expect(store.stats().walBytes).toBe(0)
  })
})

describe('checkpoint - shutdown and open', () => {
  test('checkpoint - close marks a clean shutdown; an open store is marked unclean', async () => {
    const temp = openTempStore()
    const file = temp.store.file
    temp.store.createStream('s')
    await temp.store.append('s', 0, [{ value: bytes('x') }])
    expect(openStoreFlag(temp.store)).toBe(0)
    await temp.store.close()
    expect(existsSync(`${file}-wal`)).toBe(false)
    expect(cleanShutdownFlag(file)).toBe(1)
    await temp.store.close() // closing twice is harmless

    const { logger, lines } = recordingLogger()
    const store = await temp.reopen({ logger })
    expect(lines.find((l) => l['msg'] === 'log store opened')).toMatchObject({ cleanShutdown: true, streams: 1 })
    expect(openStoreFlag(store)).toBe(0)
    expect(store.read('s', 0, 0n).records.map((r) => text(r.value))).toEqual(['x'])
  })

  test('checkpoint - a copy taken while open (a crash) opens with every committed record', async () => {
    const { store, dir } = openTempStore()
    store.createStream('s', { durability: 'fsync' })
    store.createStream('fast', { durability: 'os' })
    await store.append('s', 0, [{ value: bytes('a') }, { value: bytes('b') }])
    await store.append('fast', 0, [{ value: bytes('c') }])
    const crashed = tempDir()
    for (const name of readdirSync(dir).filter((n) => !n.endsWith('-shm'))) {
      copyFileSync(join(dir, name), join(crashed, name))
    }

    const { logger, lines } = recordingLogger()
    const recovered = LogStore.open({ dataDir: crashed, logger, clock: new FakeClock() })
    try {
      expect(lines.find((l) => l['msg'] === 'log store opened')).toMatchObject({ cleanShutdown: false })
      expect(recovered.read('s', 0, 0n).records.map((r) => text(r.value))).toEqual(['a', 'b'])
      expect(recovered.read('fast', 0, 0n).records.map((r) => text(r.value))).toEqual(['c'])
      expect(await recovered.append('s', 0, [{ value: bytes('d') }])).toMatchObject({ baseOffset: 2n })
    } finally {
      await recovered.close()
    }
  })

  test('checkpoint - a file that is not a database is CAIRN_STORAGE_CORRUPT and left unchanged', () => {
    const dir = tempDir()
    const file = join(dir, 'cairn.db')
    const garbage = Buffer.alloc(16_384, 'this is not an SQLite database\n')
    writeFileSync(file, garbage)
    const error = thrownBy(() => LogStore.open({ dataDir: dir, clock: new FakeClock() }))
    expect(error).toMatchObject({ code: 'CAIRN_STORAGE_CORRUPT', details: { sqliteCode: 'SQLITE_NOTADB' } })
    expect(readFileSync(file).equals(garbage)).toBe(true)
    expect(readdirSync(dir)).toEqual(['cairn.db'])
  })

  test('checkpoint - a partition row that disagrees with its records is CAIRN_STORAGE_CORRUPT', async () => {
    const temp = openTempStore()
    temp.store.createStream('s')
    await temp.store.append('s', 0, [{ value: bytes('a') }, { value: bytes('b') }, { value: bytes('c') }])
    await temp.store.close()
    const db = new Database(temp.store.file)
    db.prepare('UPDATE partition SET log_end_offset = 1').run()
    db.close()
    expect(thrownBy(() => LogStore.open({ dataDir: temp.dir, clock: temp.clock }))).toMatchObject({
      code: 'CAIRN_STORAGE_CORRUPT',
      message: expect.stringContaining('partition 0') as string,
    })
  })

  test('checkpoint - a database from a newer Cairn is refused', async () => {
    const temp = openTempStore()
    await temp.store.close()
    const db = new Database(temp.store.file)
    db.pragma('user_version = 99')
    db.close()
    expect(thrownBy(() => LogStore.open({ dataDir: temp.dir, clock: temp.clock }))).toMatchObject({
      code: 'CAIRN_STORAGE_FAILED',
      message: expect.stringContaining('newer') as string,
    })
  })
})

describe('open - one broker per database', () => {
  test('open - a second open of a store in use is refused at once; after close it opens', async () => {
    const temp = openTempStore()
    const second = thrownBy(() => LogStore.open({ dataDir: temp.dir, clock: temp.clock }))
    expect(second).toMatchObject({
      code: 'CAIRN_STORAGE_BUSY',
      message: expect.stringContaining('in use by another process') as string,
    })
    await temp.store.close()
    const again = LogStore.open({ dataDir: temp.dir, clock: temp.clock })
    await again.close()
  })
})
