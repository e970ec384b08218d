// A broker with users and ACLs on every protocol for the auth integration tests: one log store, the MQTT
// front end (authenticator from the policy), the native front end and the HTTP API, each on a TCP port of
// 127.0.0.1, all with one SecurityPolicy read from files in a temporary directory. Closed when the test ends.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { onTestFinished } from 'vitest'
import { mqttAuthenticator } from '../../../src/auth/mqtt.ts'
import { formatPasswordFile, hashPassword } from '../../../src/auth/password-file.ts'
import { SecurityPolicy, type SecurityPolicyOptions } from '../../../src/auth/security-policy.ts'
import { GroupCoordinator } from '../../../src/groups/group-coordinator.ts'
import { createHttpApi } from '../../../src/http/http-api.ts'
import { LogStore } from '../../../src/log/log-store.ts'
import { MqttFrontEnd } from '../../../src/mqtt/mqtt-front-end.ts'
import { NativeFrontEnd } from '../../../src/native/native-front-end.ts'

export interface SecureBrokerConfig {
  /** user name -> password, written as a scrypt password file (cheap parameters: tests need not pay for the defaults). */
  users: Record<string, string>
  /** ACL file text; none: authenticated clients may do everything. */
  acl?: string
  policy?: Omit<SecurityPolicyOptions, 'passwordFile' | 'aclFile' | 'logger'>
  /** Stands in for a TLS listener that verified a client certificate: every connection carries this identity. */
  certificateIdentity?: string
}

export interface SecureBroker {
  readonly dir: string
  readonly passwordFile: string
  readonly aclFile: string
  readonly store: LogStore
  readonly mqtt: MqttFrontEnd
  readonly policy: SecurityPolicy
  readonly mqttPort: number
  readonly nativePort: number
  readonly httpPort: number
  /** Rewrites the password file with these users (then call policy.reload()). */
  writeUsers(users: Record<string, string>): Promise<void>
}

const fast = { ln: 8, r: 8, p: 1 }

async function passwordFileText(users: Record<string, string>): Promise<string> {
  return formatPasswordFile(await Promise.all(Object.entries(users).map(([u, p]) => hashPassword(u, p, fast))))
}

function listenOn(server: Server | HttpServer): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port))
  })
}

export async function startSecureBroker(config: SecureBrokerConfig): Promise<SecureBroker> {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-auth-'))
  const passwordFile = join(dir, 'passwd')
  const aclFile = join(dir, 'acl')
  writeFileSync(passwordFile, await passwordFileText(config.users))
  if (config.acl !== undefined) writeFileSync(aclFile, config.acl)
  const logger = pino({ level: 'silent' })
  const policy = await SecurityPolicy.open({
    ...config.policy,
    passwordFile,
    ...(config.acl === undefined ? {} : { aclFile }),
    logger,
  })
  const store = LogStore.open({ dataDir: join(dir, 'data'), logger })
  const groups = new GroupCoordinator({ store, logger })
  const mqtt = new MqttFrontEnd({ store, logger, authenticate: mqttAuthenticator(policy) })
  const native = new NativeFrontEnd({ store, groups, logger, security: policy })
  const http = createHttpApi({
    store,
    groups,
    logger,
    security: policy,
    certificateIdentity: () => config.certificateIdentity,
  })
  const sockets = new Set<Socket>()
  const track = (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  }
  const mqttServer = createServer((socket) => {
    track(socket)
    mqtt.handle(socket, {
      ...(socket.remoteAddress === undefined ? {} : { remoteAddress: socket.remoteAddress }),
      ...(config.certificateIdentity === undefined ? {} : { certificateIdentity: config.certificateIdentity }),
    })
  })
  const nativeServer = createServer((socket) => {
    track(socket)
    native.handle(socket, { certificateIdentity: config.certificateIdentity })
  })
  const httpServer = createHttpServer(http)
  httpServer.on('connection', track)
  const [mqttPort, nativePort, httpPort] = await Promise.all([
    listenOn(mqttServer),
    listenOn(nativeServer),
    listenOn(httpServer),
  ])
  onTestFinished(async () => {
    for (const server of [mqttServer, nativeServer, httpServer]) server.close()
    http.close()
    await mqtt.close()
    await native.close()
    for (const socket of sockets) socket.destroy()
    groups.close()
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return {
    dir,
    passwordFile,
    aclFile,
    store,
    mqtt,
    policy,
    mqttPort,
    nativePort,
    httpPort,
    async writeUsers(users) {
      writeFileSync(passwordFile, await passwordFileText(users))
    },
  }
}
