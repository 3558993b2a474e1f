/**
 * Collects usage records (pushed in, or pulled from the store's ledger) and cuts signed batches
 * every `intervalMs` or as soon as `maxRecords` are waiting, whichever comes first. Records are
 * grouped by the epoch of their timestamp, so one cut can give several batches.
 *
 * A batch whose submission fails is kept, unchanged (same root, same signature), and submitted
 * again before anything newer: the oracle claims job ids only when it accepts them, so a resent
 * batch is never taken for a replay.
 */
import type { WalletKeypair } from "../receipts/ed25519.ts";
import type { UsageFilter, UsageRecord } from "../store/types.ts";
import { buildBatch, type SignedBatch } from "./batch.ts";
import type { EpochSchedule } from "./epochs.ts";

/** The slice of `BillingStore` the batcher reads from. */
export interface UsageSource {
  listUsage(filter: UsageFilter, limit?: number): Promise<UsageRecord[]>;
}

export interface EpochBatcherOptions {
  gatewayKeypair: WalletKeypair;
  schedule: EpochSchedule;
  submit(batch: SignedBatch): Promise<void> | void;
  /** Cut at least this often while started. */
  intervalMs: number;
  /** Cut as soon as this many records wait; also the largest batch. */
  maxRecords: number;
  now?: () => number;
  /** Where `pull` reads records from; without it only `push` feeds the batcher. */
  source?: UsageSource;
  /** First timestamp `pull` reads (inclusive); defaults to the schedule's genesis. */
  pullFrom?: number;
  /**
   * `pull` stops this far behind now: a record is stamped when its job finished but lands in the
   * ledger a little later, and a cursor that already passed its timestamp would never see it.
   */
  pullLagMs?: number;
  /** Failures of background cuts (timer, size trigger) land here instead of being lost. */
  onError?(error: unknown): void;
}

const DEFAULT_PULL_LAG_MS = 5_000;

export class EpochBatcher {
  private readonly pending = new Map<string, UsageRecord>();
  private readonly unsubmitted: SignedBatch[] = [];
  private timer: NodeJS.Timeout | undefined;
  private cursor: number;
  // Cuts run one after another so batches reach `submit` in the order they were cut.
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: EpochBatcherOptions) {
    if (!Number.isSafeInteger(options.maxRecords) || options.maxRecords < 1) {
      throw new RangeError("maxRecords must be a positive integer");
    }
    if (!Number.isFinite(options.intervalMs) || options.intervalMs <= 0) {
      throw new RangeError("intervalMs must be positive");
    }
    this.cursor = options.pullFrom ?? options.schedule.genesisMs;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  get unsubmittedCount(): number {
    return this.unsubmitted.length;
  }

  /** Queues a record; false when the same job is already waiting. Throws before genesis. */
  push(record: UsageRecord): boolean {
    this.options.schedule.epochOf(record.timestamp);
    if (this.pending.has(record.jobId)) return false;
    this.pending.set(record.jobId, record);
    if (this.pending.size >= this.options.maxRecords) this.background(() => this.flush());
    return true;
  }

  /** Reads records stamped in [cursor, now − lag) from the source and queues them. */
  async pull(): Promise<number> {
    const source = this.options.source;
    if (!source) return 0;
    const to = this.now() - (this.options.pullLagMs ?? DEFAULT_PULL_LAG_MS);
    if (to <= this.cursor) return 0;
    const records = await source.listUsage({ from: this.cursor, to });
    this.cursor = to;
    let added = 0;
    for (const record of records) if (this.push(record)) added += 1;
    return added;
  }

  /**
   * Resubmits what failed before, then cuts everything waiting into batches (one or more per
   * epoch, at most `maxRecords` each) and submits them. Returns the batches submitted now.
   */
  flush(): Promise<SignedBatch[]> {
    const run = this.queue.then(() => this.cutAndSubmit());
    this.queue = run.catch(() => undefined);
    return run;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.background(async () => {
        await this.pull();
        await this.flush();
      });
    }, this.options.intervalMs);
    // The batcher must never be what keeps a process alive.
    this.timer.unref();
  }

  /** Stops the timer and waits for a cut in progress; `flush` afterwards sends what is left. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.queue;
  }

  private async cutAndSubmit(): Promise<SignedBatch[]> {
    this.cut();
    const submitted: SignedBatch[] = [];
    while (this.unsubmitted.length > 0) {
      const batch = this.unsubmitted[0] as SignedBatch;
      await this.options.submit(batch);
      this.unsubmitted.shift();
      submitted.push(batch);
    }
    return submitted;
  }

  private cut(): void {
    if (this.pending.size === 0) return;
    const byEpoch = new Map<number, UsageRecord[]>();
    for (const record of this.pending.values()) {
      const epoch = this.options.schedule.epochOf(record.timestamp);
      const group = byEpoch.get(epoch);
      if (group) group.push(record);
      else byEpoch.set(epoch, [record]);
    }
    this.pending.clear();
    const createdAt = Math.floor(this.now());
    for (const epoch of [...byEpoch.keys()].sort((left, right) => left - right)) {
      const records = byEpoch.get(epoch) as UsageRecord[];
      for (let start = 0; start < records.length; start += this.options.maxRecords) {
        this.unsubmitted.push(
          buildBatch({
            epoch,
            records: records.slice(start, start + this.options.maxRecords),
            gatewayKeypair: this.options.gatewayKeypair,
            createdAt,
          }),
        );
      }
    }
  }

  private background(task: () => Promise<unknown>): void {
    task().catch((error: unknown) => this.options.onError?.(error));
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}
