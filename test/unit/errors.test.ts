import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { BrokerError, errorCodes, hasErrorCode, isBrokerError } from '../../src/errors.ts'
import { toHttpStatus } from '../../src/http/http-errors.ts'
import { toMqttReasonCode } from '../../src/mqtt/reason-codes.ts'
import { toNativeFailure } from '../../src/native/status.ts'

describe('errors', () => {
  it('errors - README lists exactly the error codes', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
    const section = readme.split('## Error codes')[1]?.split('\n## ')[0] ?? ''
    const listed = [...section.matchAll(/^\| `(CAIRN_[A-Z_]+)` \|/gm)].map((m) => m[1])
    expect(listed).toEqual([...errorCodes])
  })

  it('errors - classification survives a foreign copy of the class (brand, not identity)', () => {
    const error = new BrokerError('CAIRN_STORAGE_FULL', 'disk full')
    const lookalike = Object.assign(new Error('x'), { [Symbol.for('cairn.error')]: true, code: 'CAIRN_STORAGE_FULL' })
    expect(isBrokerError(error)).toBe(true)
    expect(error.retriable).toBe(true)
    expect(isBrokerError(lookalike)).toBe(true)
    expect(lookalike instanceof BrokerError).toBe(true)
    expect(hasErrorCode(error, 'CAIRN_STORAGE_FULL')).toBe(true)
    expect(isBrokerError(new Error('plain'))).toBe(false)
  })

  it('errors - the cause is kept', () => {
    const cause = new Error('SQLITE_FULL')
    expect(new BrokerError('CAIRN_STORAGE_FULL', 'append', { cause }).cause).toBe(cause)
  })

  it('errors - authentication and authorization codes map to each protocol', () => {
    const wire = (code: 'CAIRN_AUTH_FAILED' | 'CAIRN_NOT_AUTHORIZED' | 'CAIRN_AUTH_RATE_LIMITED') => {
      const error = new BrokerError(code, 'x')
      return [toNativeFailure(error).status, toHttpStatus(error), toMqttReasonCode(error), error.retriable]
    }
    expect(wire('CAIRN_AUTH_FAILED')).toEqual([38, 401, 0x86, false])
    expect(wire('CAIRN_NOT_AUTHORIZED')).toEqual([39, 403, 0x87, false])
    expect(wire('CAIRN_AUTH_RATE_LIMITED')).toEqual([40, 429, 0x9f, true])
  })
})
