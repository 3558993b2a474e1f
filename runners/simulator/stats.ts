/** Counters behind `handle.stats()` and `GET /sim/stats`. */
import type { KvCacheCounters } from "./kv-cache.ts";
import type { SimulatorCancelledJob, SimulatorStats } from "./server.ts";

const KEPT_CANCELLED_JOBS = 1000;

export class StatsRecorder {
  /** Generation requests admitted and not yet finished, cancelled or failed. */
  activeRequests = 0;
  completedRequests = 0;
  cancelledRequests = 0;
  private readonly recentCancelled: SimulatorCancelledJob[] = [];

  recordCancelled(job: SimulatorCancelledJob): void {
    this.cancelledRequests++;
    this.recentCancelled.push(job);
    if (this.recentCancelled.length > KEPT_CANCELLED_JOBS) this.recentCancelled.shift();
  }

  snapshot(kvCache: KvCacheCounters): SimulatorStats {
    return {
      activeRequests: this.activeRequests,
      completedRequests: this.completedRequests,
      cancelledRequests: this.cancelledRequests,
      cancelled: this.recentCancelled.slice(),
      kvCache,
    };
  }
}
