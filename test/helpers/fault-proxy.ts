// A TCP proxy on 127.0.0.1 that the tests put between a client and a server (the Kafka mock, via the
// sink's brokerAddressMap) to break the link on purpose, the way a cellular uplink breaks:
// - refuse:    the port stops listening (connection refused), existing connections live on;
// - blackhole: nothing moves, connections stay open (as with a dead NAT entry or a radio gap); bytes
//              wait in the kernel buffers and flow again when it is lifted. `'responses'` holds only the
//              server→client direction: requests still arrive and are acted on, their answers do not
//              come back (the "appended, ack lost" case);
// - cutAll:    every connection is reset now;
// - cutAfterRequestBytes(n): the next n client→server bytes pass, then that connection is cut — the
//              server sees half a request, the client has written all of it.
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net'

export interface FaultProxy {
  readonly port: number
  /** `127.0.0.1:<port>`. */
  readonly address: string
  refuse(on: boolean): Promise<void>
  blackhole(on: boolean, direction?: 'both' | 'responses'): void
  cutAll(): void
  cutAfterRequestBytes(n: number): void
  /** Connections accepted so far, and bytes forwarded each way. */
  stats(): { connections: number; open: number; clientToServerBytes: number; serverToClientBytes: number }
  close(): Promise<void>
}

interface Pair {
  client: Socket
  server: Socket
}

export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  const pairs = new Set<Pair>()
  let blackholed: 'both' | 'responses' | null = null
  let cutBudget: number | null = null
  let connections = 0
  let clientToServerBytes = 0
  let serverToClientBytes = 0
  let server: Server | null = null
  let port = 0

  const drop = (pair: Pair): void => {
    pairs.delete(pair)
    if (!pair.client.destroyed) pair.client.resetAndDestroy()
    if (!pair.server.destroyed) pair.server.destroy()
  }

  const onConnection = (client: Socket): void => {
    connections++
    const upstream = connect({ host: target.host, port: target.port })
    const pair: Pair = { client, server: upstream }
    pairs.add(pair)
    client.setNoDelay(true)
    upstream.setNoDelay(true)
    if (blackholed === 'both') client.pause()
    if (blackholed !== null) upstream.pause()
    client.on('data', (chunk: Buffer) => {
      if (cutBudget !== null) {
        if (chunk.length >= cutBudget) {
          const head = chunk.subarray(0, cutBudget)
          cutBudget = null
          clientToServerBytes += head.length
          pairs.delete(pair)
          // The server gets exactly the head, then EOF; the client gets a reset.
          upstream.end(head)
          client.resetAndDestroy()
          return
        }
        cutBudget -= chunk.length
      }
      clientToServerBytes += chunk.length
      upstream.write(chunk)
    })
    upstream.on('data', (chunk: Buffer) => {
      serverToClientBytes += chunk.length
      client.write(chunk)
    })
    client.on('error', () => drop(pair))
    upstream.on('error', () => drop(pair))
    client.on('close', () => drop(pair))
    upstream.on('close', () => drop(pair))
  }

  const listen = (onPort: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const s = createServer(onConnection)
      s.once('error', reject)
      s.listen(onPort, '127.0.0.1', () => {
        s.off('error', reject)
        server = s
        port = (s.address() as AddressInfo).port
        resolve()
      })
    })

  const stopListening = (): void => {
    // close() stops accepting at once; its callback would wait for the open connections, so it is not awaited.
    server?.close()
    server = null
  }

  await listen(0)

  return {
    get port() {
      return port
    },
    get address() {
      return `127.0.0.1:${port}`
    },
    refuse: async (on) => {
      if (on) stopListening()
      else if (server === null) await listen(port)
    },
    blackhole: (on, direction = 'both') => {
      blackholed = on ? direction : null
      for (const { client, server: upstream } of pairs) {
        if (on && direction === 'both') client.pause()
        else client.resume()
        if (on) upstream.pause()
        else upstream.resume()
      }
    },
    cutAll: () => {
      for (const pair of [...pairs]) drop(pair)
    },
    cutAfterRequestBytes: (n) => {
      if (!(Number.isInteger(n) && n > 0)) throw new RangeError('cutAfterRequestBytes needs a positive integer')
      cutBudget = n
    },
    stats: () => ({ connections, open: pairs.size, clientToServerBytes, serverToClientBytes }),
    close: async () => {
      stopListening()
      for (const pair of [...pairs]) drop(pair)
      await Promise.resolve()
    },
  }
}
