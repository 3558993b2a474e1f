/**
 * Job id nullifiers: once a job's record is accepted, its id is spent and any later record with
 * that id is a replay. `claim` must be atomic (insert-if-absent) so two verifications racing on
 * the same job cannot both win; a store-backed set (SET NX, INSERT OR IGNORE) gives that.
 */

export interface NullifierSet {
  has(jobId: string): boolean | Promise<boolean>;
  /** Marks the id spent; false when it already was. */
  claim(jobId: string): boolean | Promise<boolean>;
}

export class InMemoryNullifierSet implements NullifierSet {
  private readonly spent = new Set<string>();

  has(jobId: string): boolean {
    return this.spent.has(jobId);
  }

  claim(jobId: string): boolean {
    if (this.spent.has(jobId)) return false;
    this.spent.add(jobId);
    return true;
  }

  get size(): number {
    return this.spent.size;
  }
}
