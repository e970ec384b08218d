/**
 * Tracks MQTT packet boundaries in the raw byte stream (fixed header + Remaining Length varint) so
 * that an oversized packet is refused as soon as its length is known, before the parser buffers it:
 * a client announcing 256 MB must not make the gateway allocate 256 MB.
 */
export class PacketSizeGuard {
  readonly #maxPacketBytes: number
  /** Bytes still to skip in the current packet's body. */
  #bodyRemaining = 0
  /** Position inside the fixed header: 0 = expecting the first byte, 1..4 = reading the length varint. */
  #headerPos = 0
  #length = 0
  #multiplier = 1

  constructor(maxPacketBytes: number) {
    this.#maxPacketBytes = maxPacketBytes
  }

  /** Returns the size of the first packet that is too large or has a malformed length, or 0 if the chunk is fine. */
  check(chunk: Uint8Array): number {
    let i = 0
    while (i < chunk.length) {
      if (this.#bodyRemaining > 0) {
        const skip = Math.min(this.#bodyRemaining, chunk.length - i)
        this.#bodyRemaining -= skip
        i += skip
        continue
      }
      const byte = chunk[i++] as number
      if (this.#headerPos === 0) {
        this.#headerPos = 1
        this.#length = 0
        this.#multiplier = 1
        continue
      }
      this.#length += (byte & 0x7f) * this.#multiplier
      this.#multiplier *= 128
      if (byte & 0x80) {
        // [MQTT-1.5.5-1] at most four bytes of Remaining Length.
        if (++this.#headerPos > 4) return Number.MAX_SAFE_INTEGER
        continue
      }
      const total = this.#length + 1 + this.#headerPos
      if (total > this.#maxPacketBytes) return total
      this.#headerPos = 0
      this.#bodyRemaining = this.#length
    }
    return 0
  }
}
