// Seeded randomness, so a fleet run with the same seed makes the same choices (start phases, flap
// intervals, downtimes, sensor values). Where the choices land in time still depends on the machine.

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number
  /** Uniform in [min, max]. */
  between(min: number, max: number): number
  /** Exponentially distributed with this mean (the gaps of a Poisson process). */
  exponential(mean: number): number
}

/** mulberry32: tiny, fast, and good enough for test schedules (not for anything secret). */
export function makeRng(seed: number): Rng {
  let state = seed >>> 0
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    next,
    between: (min, max) => min + (max - min) * next(),
    exponential: (mean) => -mean * Math.log(1 - next()),
  }
}

/** An independent stream per device: mixing the index in keeps device i's choices the same whatever N is. */
export function deviceSeed(fleetSeed: number, index: number): number {
  let h = (fleetSeed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0
  return (h ^ (h >>> 16)) >>> 0
}
