/**
 * Deterministic pseudo-random numbers and fast non-cryptographic hashes. Seeds and cache keys
 * only need good spread, never secrecy, so cheap integer mixing is enough.
 */

const TWO_POW_32 = 4294967296;

/** cyrb53: a 53-bit string hash, safe to use as a Map key or a seed. */
export function hashText(text: string, seed = 0): number {
  let high = 0xdeadbeef ^ seed;
  let low = 0x41c6ce57 ^ seed;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    high = Math.imul(high ^ code, 2654435761);
    low = Math.imul(low ^ code, 1597334677);
  }
  return finishHash(high, low);
}

/**
 * Hash of `tokens[start..end)` chained onto `previousHash`, so a block's identity depends on every
 * token before it (how a prefix cache names its blocks).
 */
export function hashTokenBlock(tokens: ArrayLike<number>, start: number, end: number, previousHash: number): number {
  let high = 0xdeadbeef ^ (previousHash % TWO_POW_32);
  let low = 0x41c6ce57 ^ Math.floor(previousHash / TWO_POW_32);
  for (let index = start; index < end; index++) {
    const token = tokens[index] ?? 0;
    high = Math.imul(high ^ token, 2654435761);
    low = Math.imul(low ^ token, 1597334677);
  }
  return finishHash(high, low);
}

function finishHash(high: number, low: number): number {
  high = Math.imul(high ^ (high >>> 16), 2246822507);
  high ^= Math.imul(low ^ (low >>> 13), 3266489909);
  low = Math.imul(low ^ (low >>> 16), 2246822507);
  low ^= Math.imul(high ^ (high >>> 13), 3266489909);
  return TWO_POW_32 * (2097151 & low) + (high >>> 0);
}

/** Seed for a request that named none: differs per call, like sampling at temperature > 0. */
export function freshSeed(): number {
  return Math.floor(Math.random() * Number.MAX_SAFE_INTEGER);
}

/** mulberry32: tiny, fast, and good enough to pick words. */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    // Fold both halves of a 53-bit seed into the 32-bit state.
    this.state = ((seed % TWO_POW_32) ^ Math.floor(seed / TWO_POW_32)) >>> 0;
  }

  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let mixed = this.state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return (mixed ^ (mixed >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / TWO_POW_32;
  }

  /** Uniform integer in [minimum, maximum], both included. */
  integer(minimum: number, maximum: number): number {
    return minimum + Math.floor(this.next() * (maximum - minimum + 1));
  }

  pick<Item>(items: readonly Item[]): Item {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error("cannot pick from an empty list");
    return item;
  }

  /** Lowercase hex of `length` characters, for deterministic ids. */
  hex(length: number): string {
    let text = "";
    while (text.length < length) text += this.nextUint32().toString(16).padStart(8, "0");
    return text.slice(0, length);
  }
}
