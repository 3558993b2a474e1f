/**
 * Throughput of two paths compared fairly: both warmed up, then rounds of equal segments whose
 * order alternates (A B, B A, …) so that drift on the machine falls on both sides alike.
 */
import { closedLoop, emptyRun, type LoadRun, merge, type Outcome } from "./load.ts";

export interface AlternatingPlan {
  concurrency: number;
  warmupMs: number;
  segmentMs: number;
  rounds: number;
}

export async function alternateClosedLoops(
  plan: AlternatingPlan,
  first: { label: string; once: () => Promise<Outcome> },
  second: { label: string; once: () => Promise<Outcome> },
  log: (line: string) => void,
): Promise<[LoadRun, LoadRun]> {
  const totals: [LoadRun, LoadRun] = [emptyRun(), emptyRun()];
  const paths = [first, second] as const;
  for (const path of paths) {
    log(`  warm-up ${path.label}: ${plan.warmupMs} ms at ${plan.concurrency} connections`);
    await closedLoop({ concurrency: plan.concurrency, durationMs: plan.warmupMs, once: path.once });
  }
  for (let round = 0; round < plan.rounds; round++) {
    const order = round % 2 === 0 ? [0, 1] : [1, 0];
    for (const index of order) {
      const path = paths[index as 0 | 1];
      const run = await closedLoop({ concurrency: plan.concurrency, durationMs: plan.segmentMs, once: path.once });
      merge(totals[index as 0 | 1], run);
      log(
        `  round ${round + 1}/${plan.rounds} ${path.label}: ${((run.completed * 1000) / run.elapsedMs).toFixed(0)} req/s, ${run.failed} failed`,
      );
    }
  }
  return totals;
}
