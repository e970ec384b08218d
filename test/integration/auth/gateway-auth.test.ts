// The real gateway process with a `security:` section: users made with `cairn users`, credentials checked on MQTT,
// native and HTTP, and SIGHUP re-reading the password and ACL files.

import { spawnSync } from 'node:child_process'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { CairnClient } from '../../../src/client/index.ts'
import { repoRoot, servedPorts, startCairn, stopCairn, tempDir } from '../../gateway/cairn-process.ts'
import { connectClient, connectRefused } from '../mqtt/mqttjs/clients.ts'

const cli = join(repoRoot, 'gateway', 'cli.ts')

function users(args: string[], input?: string) {
  const result = spawnSync(process.execPath, [cli, 'users', ...args], { input: input ?? '', encoding: 'utf8' })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

const basic = (user: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
})

describe('gateway auth', () => {
  test('users - the CLI edits the file it is given, password from stdin', () => {
    const file = join(tempDir(), 'passwd')
    expect(users(['add', '--file', file, 'alice'], 'first\n')).toMatchObject({ code: 0 })
    expect(readFileSync(file, 'utf8')).toMatch(/^alice:\$scrypt\$ln=14,r=8,p=1\$/m)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(users(['add', '--file', file, 'carol', 'secret']).code).toBe(2)
  })

  test('gateway - the security section turns on authentication everywhere; SIGHUP reloads users and ACLs', async () => {
    const dir = tempDir()
    const passwordFile = join(dir, 'passwd')
    const aclFile = join(dir, 'acl')
    expect(users(['add', '--file', passwordFile, 'alice'], 'alice-pw\n').code).toBe(0)
    writeFileSync(aclFile, 'user alice\ntopic readwrite a/#\nstream all mqtt\n')
    const config = join(dir, 'cairn.yaml')
    writeFileSync(
      config,
      'listeners: { mqtt: "127.0.0.1:0", native: "127.0.0.1:0", http: "127.0.0.1:0" }\n' +
        `security:\n  passwordFile: ${passwordFile}\n  aclFile: ${aclFile}\n`,
    )
    const cairn = startCairn(['serve', '--config', config, '--data-dir', join(dir, 'data')])
    const ports = await servedPorts(cairn)
    const url = `mqtt://127.0.0.1:${ports.mqtt}`

    expect(await connectRefused(url, { protocolVersion: 5 })).toBe(0x87)
    expect(await connectRefused(url, { protocolVersion: 5, username: 'alice', password: 'nope' })).toBe(0x86)
    const alice = await connectClient(url, { protocolVersion: 5, username: 'alice', password: 'alice-pw' })
    await alice.client.publishAsync('a/1', 'x', { qos: 1 })
    await expect(alice.client.publishAsync('b/1', 'x', { qos: 1 })).rejects.toMatchObject({ code: 0x87 })

    const native = new CairnClient({
      host: '127.0.0.1',
      port: ports.native ?? 0,
      username: 'alice',
      password: 'alice-pw',
    })
    try {
      const fetched = await native.request('fetch', { partitions: [{ stream: 'mqtt', partition: 0, offset: 0n }] })
      expect(fetched.partitions[0]?.records).toHaveLength(1)
    } finally {
      await native.close()
    }
    const http = `http://127.0.0.1:${ports.http}`
    expect((await fetch(`${http}/api/v1/streams`)).status).toBe(401)
    expect((await fetch(`${http}/api/v1/streams`, { headers: basic('alice', 'alice-pw') })).status).toBe(200)
    expect((await fetch(`${http}/healthz`)).status).toBe(200)

    // The client tools log in from CAIRN_USERNAME / CAIRN_PASSWORD (native, and HTTP Basic for `status`).
    const tool = (args: string[], login: Record<string, string>) =>
      spawnSync(process.execPath, [cli, ...args], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH, CAIRN_BROKER: `127.0.0.1:${ports.native}`, ...login },
      })
    const alicesLogin = { CAIRN_USERNAME: 'alice', CAIRN_PASSWORD: 'alice-pw' }
    const listed = tool(['streams', 'list'], alicesLogin)
    expect(listed.status).toBe(0)
    expect(listed.stdout).toMatch(/mqtt/)
    const anonymous = tool(['streams', 'list'], {})
    expect(anonymous.status).toBe(1)
    expect(anonymous.stderr).toMatch(/CAIRN_NOT_AUTHORIZED/)
    expect(tool(['streams', 'list'], { CAIRN_USERNAME: 'alice', CAIRN_PASSWORD: 'x' }).stderr).toMatch(
      /CAIRN_AUTH_FAILED/,
    )
    const statusArgs = ['status', '--http', `127.0.0.1:${ports.http}`, '--sample-ms', '0']
    expect(tool(statusArgs, alicesLogin).status).toBe(0)
    expect(tool(statusArgs, {}).stderr).toMatch(/401/)

    // New password and new rules, applied by SIGHUP; the open connection keeps its login and gets the new rules.
    expect(users(['passwd', '--file', passwordFile, 'alice'], 'new-pw\n').code).toBe(0)
    writeFileSync(aclFile, 'user alice\ntopic readwrite b/#\n')
    cairn.child.kill('SIGHUP')
    await cairn.waitForLine((line) => line.msg === 'users and ACLs reloaded')
    expect(await connectRefused(url, { protocolVersion: 4, username: 'alice', password: 'alice-pw' })).toBe(4)
    await connectClient(url, { protocolVersion: 4, username: 'alice', password: 'new-pw' })
    await alice.client.publishAsync('b/1', 'x', { qos: 1 })
    await expect(alice.client.publishAsync('a/1', 'x', { qos: 1 })).rejects.toMatchObject({ code: 0x87 })
    // No password reached the log.
    const log = cairn.lines.map((line) => JSON.stringify(line)).join('\n')
    for (const secret of ['alice-pw', 'new-pw']) expect(log).not.toContain(secret)
    expect(await stopCairn(cairn)).toEqual({ code: 0, signal: null })
  })

  test('gateway - a password file that cannot be read stops the start with exit code 2', async () => {
    const dir = tempDir()
    const config = join(dir, 'cairn.yaml')
    writeFileSync(
      config,
      'listeners: { mqtt: "127.0.0.1:0", native: null, http: null }\n' +
        `security:\n  passwordFile: ${join(dir, 'missing')}\n`,
    )
    const cairn = startCairn(['serve', '--config', config, '--data-dir', join(dir, 'data')])
    expect((await cairn.exited).code).toBe(2)
    expect(cairn.lines.some((line) => String(line.msg).includes('cannot read'))).toBe(true)
  })
})
