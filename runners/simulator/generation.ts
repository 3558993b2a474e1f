/**
 * The simulated GPU: one `GenerationRun` per request. It waits out the prefill (time to first
 * token), then emits one token per choice per step, spacing steps by the per-token latency
 * stretched by the current batch size. Timers only, never a busy wait. Output flows to a sink
 * that speaks the API's wire format; the run owns timing, stop/length rules, faults,
 * backpressure and cancellation.
 */
import type { ServerResponse } from "node:http";
import type { SimulatorContext } from "./context.ts";
import type { SimulatorFault } from "./server.ts";
import type { StopSequenceMatcher } from "./stop-sequences.ts";
import type { TokenPiece } from "./tokenizer.ts";
import type { TokenSource } from "./vocabulary.ts";

export type FinishReason = "stop" | "length" | "tool_calls";

/** When the event loop stalls, catch up at most this far rather than burst every missed token. */
const MAXIMUM_CATCH_UP_MS = 50;

export interface ToolCallPlan {
  id: string;
  name: string;
}

/** One output sequence (`choices[i]`) and its progress. */
export class GenerationChoice {
  completionTokens = 0;
  finishReason: FinishReason | undefined;
  /** The stop sequence that ended the choice (vLLM's `stop_reason`). */
  stopReason: string | undefined;

  constructor(
    readonly index: number,
    readonly source: TokenSource,
    readonly maxTokens: number,
    readonly stopMatcher: StopSequenceMatcher | undefined,
    /** Set when the choice's tokens are a tool call's JSON arguments. */
    readonly toolCall: ToolCallPlan | undefined,
  ) {}
}

/** Writes a run's output in one API's format. Methods returning false ask to wait for 'drain'. */
export interface GenerationSink {
  /** The first token is due (prefill done): streams send their opening chunks. */
  begin(): boolean;
  /** A token was generated; `visibleText` is what the client may see now ("" while held back for a stop check). */
  token(choice: GenerationChoice, piece: TokenPiece, visibleText: string): boolean;
  /** A choice ended; `trailingText` is held-back text released because no stop sequence completed. */
  finishChoice(choice: GenerationChoice, trailingText: string): boolean;
  /** Every choice ended: send the rest and end the response. */
  complete(): void;
}

export interface GenerationJob {
  api: "vllm" | "ollama";
  requestId: string;
  /** The model name as the client sent it. */
  requestedModel: string;
  /** Keeps models' prefix caches apart (the catalog id). */
  cacheNamespace: string;
  /** Token ids of each prompt (several for a batched `/v1/completions`). */
  prompts: readonly ArrayLike<number>[];
  choices: readonly GenerationChoice[];
  fault: SimulatorFault | undefined;
  response: ServerResponse;
}

type RunState = "created" | "prefilling" | "generating" | "completed" | "cancelled" | "failed";

export class GenerationRun {
  readonly promptTokens: number;
  cachedTokens = 0;
  completionTokens = 0;
  /** ms since epoch. */
  readonly startedAt = Date.now();
  /** Monotonic ms (performance.now()) of the start, the first token and the end. */
  readonly startedAtMonotonic = performance.now();
  firstTokenAtMonotonic: number | undefined;
  finishedAtMonotonic: number | undefined;

  private state: RunState = "created";
  private sink: GenerationSink | undefined;
  private unfinishedChoices: number;
  private nextStepAt = 0;
  private timeout: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;

  constructor(
    private readonly context: SimulatorContext,
    readonly job: GenerationJob,
  ) {
    let promptTokens = 0;
    for (const prompt of job.prompts) promptTokens += prompt.length;
    this.promptTokens = promptTokens;
    this.unfinishedChoices = job.choices.length;
  }

  /** Admits the request: prefix-cache lookup, then the prefill wait. */
  start(sink: GenerationSink): void {
    const { options, stats, prefixCache } = this.context;
    const { response, fault } = this.job;
    this.sink = sink;
    for (const prompt of this.job.prompts) this.cachedTokens += prefixCache.admit(this.job.cacheNamespace, prompt);
    stats.activeRequests++;
    this.state = "prefilling";
    response.on("close", this.handleClose);
    if (response.destroyed) {
      this.handleClose();
      return;
    }
    let timeToFirstTokenMs =
      options.timeToFirstTokenMs + options.prefillMsPerToken * (this.promptTokens - this.cachedTokens);
    if (fault?.kind === "slow-first-token") timeToFirstTokenMs += fault.delayMs;
    this.nextStepAt = this.startedAtMonotonic + timeToFirstTokenMs;
    this.scheduleStep();
  }

  private scheduleStep(): void {
    const delay = this.nextStepAt - performance.now();
    // setImmediate still yields to I/O, so a zero latency never starves other requests.
    if (delay <= 0) this.immediate = setImmediate(this.step);
    else this.timeout = setTimeout(this.step, delay);
  }

  private readonly step = (): void => {
    this.timeout = undefined;
    this.immediate = undefined;
    const sink = this.sink;
    if (sink === undefined || (this.state !== "prefilling" && this.state !== "generating")) return;
    if (this.faultLimitReached()) {
      this.fail();
      return;
    }
    let writable = true;
    if (this.state === "prefilling") {
      this.state = "generating";
      this.firstTokenAtMonotonic = performance.now();
      writable = sink.begin();
    }
    for (const choice of this.job.choices) {
      if (choice.finishReason !== undefined) continue;
      if (this.faultLimitReached()) break;
      writable = this.advance(sink, choice) && writable;
    }
    if (this.unfinishedChoices === 0) {
      this.complete(sink);
      return;
    }
    const { options, stats } = this.context;
    const perTokenMs =
      options.perTokenLatencyMs * (1 + options.batchingSlowdown * Math.max(0, stats.activeRequests - 1));
    this.nextStepAt = Math.max(this.nextStepAt + perTokenMs, performance.now() - MAXIMUM_CATCH_UP_MS);
    if (writable) this.scheduleStep();
    else this.job.response.once("drain", this.handleDrain);
  };

  private advance(sink: GenerationSink, choice: GenerationChoice): boolean {
    // A zero budget (Ollama's num_predict: 0) ends before any token.
    if (choice.completionTokens >= choice.maxTokens) return this.finish(sink, choice, "length", undefined);
    const piece = choice.source.next();
    if (piece === undefined) return this.finish(sink, choice, choice.toolCall ? "tool_calls" : "stop", undefined);
    choice.completionTokens++;
    this.completionTokens++;
    const matcher = choice.stopMatcher;
    const writable = sink.token(choice, piece, matcher === undefined ? piece.text : matcher.push(piece.text));
    if (matcher?.matched !== undefined) return this.finish(sink, choice, "stop", matcher.matched) && writable;
    if (choice.completionTokens >= choice.maxTokens) return this.finish(sink, choice, "length", undefined) && writable;
    // The model's end of sequence comes with its last token, not one step later.
    if (choice.source.exhausted)
      return this.finish(sink, choice, choice.toolCall ? "tool_calls" : "stop", undefined) && writable;
    return writable;
  }

  private finish(
    sink: GenerationSink,
    choice: GenerationChoice,
    reason: FinishReason,
    stopReason: string | undefined,
  ): boolean {
    choice.finishReason = reason;
    choice.stopReason = stopReason;
    this.unfinishedChoices--;
    const trailingText = stopReason === undefined && choice.stopMatcher !== undefined ? choice.stopMatcher.flush() : "";
    return sink.finishChoice(choice, trailingText);
  }

  private faultLimitReached(): boolean {
    const fault = this.job.fault;
    return fault?.kind === "fail-after-tokens" && this.completionTokens >= fault.tokens;
  }

  private complete(sink: GenerationSink): void {
    this.state = "completed";
    this.finishedAtMonotonic = performance.now();
    this.context.stats.activeRequests--;
    this.context.stats.completedRequests++;
    sink.complete();
  }

  /** The engine "crashes": the connection drops with no clean end. */
  private fail(): void {
    this.state = "failed";
    this.stopTimers();
    this.context.stats.activeRequests--;
    this.job.response.destroy();
  }

  private readonly handleDrain = (): void => {
    if (this.state !== "generating") return;
    this.nextStepAt = Math.max(this.nextStepAt, performance.now());
    this.scheduleStep();
  };

  /** The client went away: stop at once, count what was produced, write nothing more. */
  private readonly handleClose = (): void => {
    if (this.state !== "prefilling" && this.state !== "generating") return;
    this.state = "cancelled";
    this.stopTimers();
    const { stats } = this.context;
    stats.activeRequests--;
    stats.recordCancelled({
      requestId: this.job.requestId,
      api: this.job.api,
      model: this.job.requestedModel,
      completionTokens: this.completionTokens,
      startedAt: this.startedAt,
      cancelledAt: Date.now(),
    });
  };

  private stopTimers(): void {
    if (this.timeout !== undefined) clearTimeout(this.timeout);
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.timeout = undefined;
    this.immediate = undefined;
    this.job.response.off("drain", this.handleDrain);
  }
}
