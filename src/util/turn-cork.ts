import type { Writable } from 'node:stream'

/**
 * Corks a socket for the rest of the current turn of the event loop, so everything written during
 * one turn (acks, deliveries, responses) leaves in as few segments and syscalls as possible. Call
 * `hold()` before each write.
 */
export class TurnCork {
  readonly #socket: Writable
  #corked = false

  constructor(socket: Writable) {
    this.#socket = socket
  }

  hold(): void {
    if (this.#corked) return
    this.#corked = true
    this.#socket.cork()
    process.nextTick(() => {
      this.#corked = false
      this.#socket.uncork()
    })
  }
}
