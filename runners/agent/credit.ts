/**
 * Credit-based flow control for one streaming job: each chunk frame spends one credit, the
 * gateway's `credit` messages add more. With none left the job waits here instead of pulling the
 * engine's iterator, which backpressures the engine's HTTP stream all the way to the GPU.
 */

export class CreditGate {
  private available: number;
  private waiter: (() => void) | undefined;

  constructor(initialCredit: number) {
    this.available = initialCredit;
  }

  get remaining(): number {
    return this.available;
  }

  grant(chunks: number): void {
    this.available += chunks;
    if (this.available > 0) this.wake();
  }

  /** Spends one credit; callers first wait with {@link whenAvailable}. */
  spend(): void {
    this.available -= 1;
  }

  /** Resolves once at least one credit is available, or as soon as `signal` aborts. */
  whenAvailable(signal: AbortSignal): Promise<void> {
    if (this.available > 0 || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const onAbort = (): void => this.wake();
      this.waiter = () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      };
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }
}
