/**
 * Many concurrent SSE streams: started evenly over a ramp, each timed chunk by chunk, then
 * analysed (TTFT, inter-chunk gaps, stalls) by a pure function.
 */
import { setMaxListeners } from "node:events";
import { MAX_ERROR_EXAMPLES, type StreamOutcome, type Target, timedStream } from "./load.ts";
import { detectStalls, gapsOf, peakOverlap, type StallOptions, summarize } from "./stats.ts";

export interface StreamRun {
  outcomes: StreamOutcome[];
  /** Most streams in flight (sent, not finished) at one moment. */
  peakInFlight: number;
  elapsedMs: number;
}

export async function runStreams(options: {
  target: Target;
  path: string;
  body: string;
  count: number;
  rampMs: number;
  expectedChunks: number;
  /** Hard bound on the whole run; streams still open then are aborted (and fail). */
  deadlineMs: number;
}): Promise<StreamRun> {
  const started = performance.now();
  const signal = AbortSignal.timeout(options.deadlineMs);
  // Every stream listens on the one deadline signal.
  setMaxListeners(options.count + 16, signal);
  let inFlight = 0;
  let peakInFlight = 0;
  const one = async (index: number): Promise<StreamOutcome> => {
    const delay = options.count > 1 ? (options.rampMs * index) / (options.count - 1) : 0;
    await new Promise((resolve) => setTimeout(resolve, delay));
    inFlight++;
    peakInFlight = Math.max(peakInFlight, inFlight);
    try {
      return await timedStream(options.target, options.path, options.body, options.expectedChunks, signal);
    } finally {
      inFlight--;
    }
  };
  const outcomes = await Promise.all(Array.from({ length: options.count }, (_, index) => one(index)));
  return { outcomes, peakInFlight, elapsedMs: performance.now() - started };
}

export interface StreamAnalysis {
  streams: number;
  completed: number;
  failed: number;
  /** TTFT of every stream that showed text, ms. */
  ttfts: number[];
  /** Gaps examined across all streams. */
  gaps: number;
  /** Undefined when no gap could be examined: "0 stalls" must rest on measured gaps. */
  stalls: number | undefined;
  maxGapMs: number | undefined;
  gapP99Ms: number | undefined;
  /** Most streams receiving chunks at one moment (first to last chunk); undefined without chunks. */
  peakStreaming: number | undefined;
  errorExamples: string[];
}

export function analyseStreams(outcomes: readonly StreamOutcome[], stallOptions: StallOptions): StreamAnalysis {
  const ttfts: number[] = [];
  const allGaps: number[] = [];
  let stalls = 0;
  let gaps = 0;
  let maxGapMs: number | undefined;
  let completed = 0;
  const errorExamples: string[] = [];
  const streaming: Array<[number, number]> = [];
  for (const outcome of outcomes) {
    const first = outcome.arrivals[0];
    const last = outcome.arrivals[outcome.arrivals.length - 1];
    if (first !== undefined && last !== undefined)
      streaming.push([outcome.startedAtMs + first, outcome.startedAtMs + last]);
    if (outcome.ok) completed++;
    else if (outcome.error && errorExamples.length < MAX_ERROR_EXAMPLES) errorExamples.push(outcome.error);
    if (outcome.ttftMs !== undefined) ttfts.push(outcome.ttftMs);
    const report = detectStalls(outcome.arrivals, stallOptions);
    stalls += report.stalls;
    gaps += report.gaps;
    if (report.maxGapMs !== undefined && (maxGapMs === undefined || report.maxGapMs > maxGapMs))
      maxGapMs = report.maxGapMs;
    for (const gap of gapsOf(outcome.arrivals)) allGaps.push(gap);
  }
  return {
    streams: outcomes.length,
    completed,
    failed: outcomes.length - completed,
    ttfts,
    gaps,
    stalls: gaps > 0 ? stalls : undefined,
    maxGapMs,
    gapP99Ms: summarize(allGaps)?.p99,
    peakStreaming: streaming.length > 0 ? peakOverlap(streaming) : undefined,
    errorExamples,
  };
}
