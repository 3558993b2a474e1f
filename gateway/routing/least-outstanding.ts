/**
 * Default routing rule: the runner with the fewest outstanding tokens, then the fewest active
 * jobs; ties are broken at random so equal runners share load evenly.
 */
import type { RunnerState } from "../runners/registry.ts";

export function pickLeastOutstanding(
  candidates: readonly RunnerState[],
  random: () => number = Math.random,
): RunnerState | undefined {
  let best: RunnerState | undefined;
  let ties = 0;
  for (const candidate of candidates) {
    const order = best === undefined ? -1 : compareLoad(candidate, best);
    if (order < 0) {
      best = candidate;
      ties = 1;
    } else if (order === 0) {
      // Reservoir sampling over the tied runners: each is chosen with equal probability.
      ties++;
      if (random() * ties < 1) best = candidate;
    }
  }
  return best;
}

function compareLoad(left: RunnerState, right: RunnerState): number {
  return left.outstandingTokens - right.outstandingTokens || left.activeJobs - right.activeJobs;
}
