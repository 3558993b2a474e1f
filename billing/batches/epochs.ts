/**
 * Epochs are fixed windows of time counted from a genesis instant. A batch belongs to exactly one
 * epoch and holds only records whose timestamp falls in its window, so the oracle can check
 * timestamps against bounds it computes itself rather than trusting the batch.
 */

export interface EpochBounds {
  /** Inclusive, ms since 1970. */
  startMs: number;
  /** Exclusive, ms since 1970. */
  endMs: number;
}

export class EpochSchedule {
  constructor(
    readonly genesisMs: number,
    readonly lengthMs: number,
  ) {
    if (!Number.isSafeInteger(genesisMs) || genesisMs < 0)
      throw new RangeError("genesisMs must be a non-negative integer");
    if (!Number.isSafeInteger(lengthMs) || lengthMs <= 0) throw new RangeError("lengthMs must be a positive integer");
  }

  epochOf(timestamp: number): number {
    if (!Number.isFinite(timestamp) || timestamp < this.genesisMs) {
      throw new RangeError(`timestamp ${timestamp} is before the first epoch (${this.genesisMs})`);
    }
    return Math.floor((timestamp - this.genesisMs) / this.lengthMs);
  }

  /** Undefined for anything but a non-negative integer epoch. */
  bounds(epoch: number): EpochBounds | undefined {
    if (!Number.isSafeInteger(epoch) || epoch < 0) return undefined;
    const startMs = this.genesisMs + epoch * this.lengthMs;
    return { startMs, endMs: startMs + this.lengthMs };
  }
}
