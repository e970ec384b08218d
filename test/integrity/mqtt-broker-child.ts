// The process that mqtt-kill9.test.ts kills: a whole MQTT broker (log store + MQTT front end + TCP
// listener on 127.0.0.1) on <dataDir>, with frequent checkpoints so that kills land in them too.
//   node test/integrity/mqtt-broker-child.ts <dataDir> [port]
// stdout: `listening <port>` once the store is open and the listener is bound (port 0 or none: any free one).
// Any failure is printed to stderr and exits with status 2; only SIGKILL (or SIGTERM, cleanly) should stop it.
import { createServer, type AddressInfo } from 'node:net'
import { LogStore } from '../../src/log/log-store.ts'
import { MqttFrontEnd } from '../../src/mqtt/mqtt-front-end.ts'

function fail(message: string): never {
  process.stderr.write(`mqtt-broker-child: ${message}\n`)
  process.exit(2)
}

const [dataDir, portArg = '0'] = process.argv.slice(2)
if (dataDir === undefined || !/^\d+$/.test(portArg)) fail('usage: <dataDir> [port]')

const store = LogStore.open({
  dataDir,
  checkpoint: { intervalMs: 50, passiveAfterBytes: 128 * 1024, truncateAboveBytes: 1024 * 1024 },
  segment: { segmentRecords: 100, segmentBytes: 64 * 1024 },
})
const frontEnd = new MqttFrontEnd({ store, options: { sysIntervalMs: 0 } })
const server = createServer((socket) => {
  socket.on('error', () => undefined) // resets from clients that the test drops are expected
  frontEnd.handle(socket, socket.remoteAddress === undefined ? {} : { remoteAddress: socket.remoteAddress })
})
server.on('error', (error) => fail(`listener: ${String(error)}`))
server.listen(Number(portArg), '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`)
})

process.on('uncaughtException', (error) => fail(`uncaught exception: ${error.stack ?? String(error)}`))
process.on('unhandledRejection', (reason) => fail(`unhandled rejection: ${String(reason)}`))
process.on('SIGTERM', () => {
  server.close()
  frontEnd
    .close()
    .then(() => store.close())
    .then(
      () => process.exit(0),
      (error: unknown) => fail(`clean shutdown failed: ${String(error)}`),
    )
})
