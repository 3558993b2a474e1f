/**
 * Reconnect delays: exponential backoff with full jitter (AWS's "full jitter"), so that a
 * gateway restart does not see every runner of the network dial back in the same instant.
 */

export interface BackoffSettings {
  initialDelayMs: number;
  maxDelayMs: number;
}

export class ReconnectBackoff {
  private attempt = 0;

  constructor(
    private readonly settings: BackoffSettings,
    private readonly random: () => number = Math.random,
  ) {}

  /** Delay before the next dial after an ordinary failure; grows with each consecutive failure. */
  nextDelayMs(): number {
    const ceiling = Math.min(this.settings.maxDelayMs, this.settings.initialDelayMs * 2 ** this.attempt);
    // Cap the exponent's growth once the ceiling is reached so the counter never overflows.
    if (ceiling < this.settings.maxDelayMs) this.attempt += 1;
    return Math.floor(this.random() * ceiling);
  }

  /**
   * Delay after a refusal: nothing will change until an operator acts, so dial back only at the
   * maximum backoff (jittered within its upper half so refused runners still spread out).
   */
  refusedDelayMs(): number {
    const half = this.settings.maxDelayMs / 2;
    return Math.floor(half + this.random() * half);
  }

  /** A welcome proves the path works again: the next failure starts from the initial delay. */
  reset(): void {
    this.attempt = 0;
  }
}
