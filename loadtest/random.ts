// Seeded randomness for the storm, so a run's choices (offsets, intervals, pauses) can be
// replayed with --seed. Timing still varies from run to run; the choices do not.

export type Random = () => number;

/** mulberry32: small, fast, good enough for load generation. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function uniform(random: Random, min: number, max: number): number {
  return min + random() * (max - min);
}

/** Exponentially distributed with the given mean (the gaps of a Poisson process). */
export function exponential(random: Random, mean: number): number {
  return -mean * Math.log(1 - random());
}

/** An integer in [0, maxExclusive). */
export function randomInt(random: Random, maxExclusive: number): number {
  return Math.floor(random() * maxExclusive);
}
