// aedes 1.x as a stand-alone broker for the side-by-side benchmark: in memory, listening on 127.0.0.1 on a port
// the OS picks, announced on stdout as `listening PORT`. Stops on SIGTERM.

import net from 'node:net'
import { Aedes } from 'aedes'

const broker = await Aedes.createBroker()
const server = net.createServer((socket) => broker.handle(socket))
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as net.AddressInfo).port}\n`)
})
process.once('SIGTERM', () => {
  server.close()
  broker.close(() => process.exit(0))
})
