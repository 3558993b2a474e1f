/**
 * One client request on its way through the fleet. A job picks a runner, retries on another
 * when a runner fails before any output, relays output to its consumer (SSE, WebSocket or a
 * JSON response) with credit-based backpressure, and always finishes its accounting — also
 * when the client has left.
 */
import type { ChatCompletionChunk } from "openai/resources/chat/completions";
import type { Completion } from "openai/resources/completions";
import type { SignedReceipt } from "../../billing/receipts/receipt.ts";
import type { ModelTemplate } from "../../models/catalog.ts";
import type {
  EngineUsage,
  JobEndMessage,
  JobFailedMessage,
  JobOperation,
  JobResponse,
  WireError,
} from "../../runners/protocol.ts";
import { GatewayError } from "../errors.ts";
import type { RunnerState } from "../runners/registry.ts";
import type { JobListener } from "../runners/runner-connection.ts";

/** Chunk frames a runner may send ahead of the consumer; credit returns in batches. */
export const INITIAL_CHUNK_CREDIT = 64;
const CREDIT_BATCH = 16;
/** How long a cancelled job waits for the runner's final counts before closing its books. */
const CANCEL_GRACE_MS = 5_000;

export interface JobSpec {
  id: string;
  operation: JobOperation;
  model: ModelTemplate;
  body: Record<string, unknown>;
  stream: boolean;
  accountId: string;
  apiKeyId: string;
  /** Rough prompt + completion-cap estimate, for routing load. */
  estimatedTokens: number;
  /** A bound prompt tokens cannot exceed, for the billing hold. */
  promptTokenBound: number;
  /** The completion cap the job runs under. */
  completionCap: number;
}

export interface BilledUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

export type JobStreamChunk = ChatCompletionChunk | Completion;

export type JobEvent =
  | { type: "chunk"; chunk: JobStreamChunk }
  | { type: "end"; usage: BilledUsage; response: JobResponse | undefined }
  | { type: "error"; error: GatewayError };

export type JobOutcome = "completed" | "cancelled" | "failed";

/** What the gateway knows when a job ends; the input to accounting. */
export interface JobResult {
  spec: JobSpec;
  outcome: JobOutcome;
  runnerId: string | undefined;
  attempts: number;
  engineUsage: EngineUsage | undefined;
  receipt: SignedReceipt | undefined;
  /** Output text relayed to the client, for the gateway's own token count. */
  outputText: string;
  createdAt: number;
  firstTokenAt: number | undefined;
  finishedAt: number;
  error: GatewayError | undefined;
  /** False when the job was refused before any hold was taken. */
  authorized: boolean;
}

export interface JobEnvironment {
  /** Reserves the job's worst-case cost; rejects with the client-facing error (402, 503). */
  authorize(spec: JobSpec): Promise<void>;
  pickRunner(model: string, exclude: ReadonlySet<string>): RunnerState | undefined;
  isServed(model: string): boolean;
  /** Local token counts for the usage a client sees when the engine reported none. */
  fallbackUsage(spec: JobSpec, outputText: string, engineUsage: EngineUsage | undefined): BilledUsage;
  firstTokenTimeoutMs: number;
  totalTimeoutMs: number;
  maxAttempts: number;
  /** Closes the job's books (capture + usage record); the client's last event waits for it. */
  onFinished(result: JobResult): Promise<void>;
}

interface Deferred {
  resolve(): void;
  reject(error: GatewayError): void;
}

export class Job implements JobListener {
  readonly responseId: string;
  readonly createdAt = Date.now();
  private readonly queue: JobEvent[] = [];
  private waiter: ((event: JobEvent) => void) | undefined;
  private deferred: Deferred | undefined;
  /** The runner of the latest attempt (kept for the record after it ends). */
  private runner: RunnerState | undefined;
  /** The runner whose load counters this job currently adds to. */
  private heldRunner: RunnerState | undefined;
  private readonly triedRunners = new Set<string>();
  private attempts = 0;
  private outputStarted = false;
  private finished = false;
  private cancelRequested = false;
  /** False when no hold was taken: there is nothing to capture. */
  private authorized = true;
  /** The hold is being taken (the store has not answered yet). */
  private authorizing = false;
  private consumerGone = false;
  private firstTokenAt: number | undefined;
  private firstTokenTimer: NodeJS.Timeout | undefined;
  private totalTimer: NodeJS.Timeout | undefined;
  private cancelTimer: NodeJS.Timeout | undefined;
  private creditOwed = 0;
  private outputText = "";

  constructor(
    readonly spec: JobSpec,
    private readonly environment: JobEnvironment,
  ) {
    const prefix = spec.operation === "chat" ? "chatcmpl-" : spec.operation === "completion" ? "cmpl-" : "embd-";
    this.responseId = `${prefix}${spec.id.replaceAll("-", "")}`;
  }

  get id(): string {
    return this.spec.id;
  }

  get runnerId(): string | undefined {
    return this.runner?.id;
  }

  /** Resolves once output begins (first chunk, or the whole response); rejects with the reason when none can. */
  start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.deferred = { resolve, reject };
      this.authorizing = true;
      this.environment.authorize(this.spec).then(
        () => {
          this.authorizing = false;
          // The client left while the hold was being taken: close the books now, which gives
          // the hold back (a zero capture), instead of leaving it to the TTL.
          if (this.cancelRequested) {
            void this.finish("cancelled", undefined, undefined, undefined).finally(() =>
              reject(new GatewayError("GW_ERR_INVALID_REQUEST", "The client cancelled the request.")),
            );
            return;
          }
          this.totalTimer = setTimeout(() => this.onTotalTimeout(), this.environment.totalTimeoutMs);
          this.dispatch(undefined);
        },
        (error: unknown) => {
          this.authorizing = false;
          this.authorized = false;
          const gatewayError =
            error instanceof GatewayError
              ? error
              : new GatewayError("GW_ERR_INTERNAL", "The request could not be authorized.", { cause: error });
          void this.finish("failed", undefined, undefined, gatewayError).finally(() => reject(gatewayError));
        },
      );
    });
  }

  /** The next event for the consumer, in order; the last is `end` or `error`. */
  next(): Promise<JobEvent> {
    const event = this.queue.shift();
    if (event) {
      this.returnCredit(event);
      return Promise.resolve(event);
    }
    return new Promise<JobEvent>((resolve) => {
      this.waiter = resolve;
    });
  }

  /** The client left or asked to stop: stop the engine, keep counting what was produced. */
  cancel(reason: string): void {
    this.consumerGone = true;
    if (this.finished || this.cancelRequested) return;
    this.cancelRequested = true;
    // Still taking the hold: `start` finishes the job once the store has answered.
    if (this.authorizing) return;
    const connection = this.runner?.connection;
    if (!this.runner || !connection) {
      void this.finish("cancelled", undefined, undefined, undefined).catch(() => {});
      return;
    }
    connection.cancelJob(this.id, reason);
    this.cancelTimer = setTimeout(() => {
      connection.forgetJob(this.id);
      this.releaseRunner(false);
      void this.finish("cancelled", undefined, undefined, undefined).catch(() => {});
    }, CANCEL_GRACE_MS);
  }

  // ───────────── runner frames (JobListener) ─────────────

  onChunk(chunk: JobStreamChunk): void {
    if (this.finished) return;
    if (!this.outputStarted) this.beginOutput();
    chunk.id = this.responseId;
    chunk.model = this.spec.model.id;
    this.collectChunkText(chunk);
    if (this.consumerGone) {
      // Nobody reads: hand the credit straight back so the runner is never stuck before it sees the cancel.
      this.runner?.connection?.grantCredit(this.id, 1);
      return;
    }
    this.push({ type: "chunk", chunk });
  }

  onEnd(message: JobEndMessage): void {
    if (this.finished) return;
    this.releaseRunner(true);
    const response = message.response;
    if (response) {
      if ("id" in response) response.id = this.responseId;
      response.model = this.spec.model.id;
      this.collectResponseText(response);
    }
    const usage = this.environment.fallbackUsage(this.spec, this.outputText, message.usage);
    const outcome = message.cancelled || this.cancelRequested ? "cancelled" : "completed";
    // The usage record is durable before the client sees the end of its response.
    this.finish(outcome, message.usage, message.receipt, undefined).then(
      () => {
        if (!this.outputStarted) this.beginOutput();
        this.push({ type: "end", usage, response });
      },
      (error: unknown) => this.deliverError(usageNotRecorded(error)),
    );
  }

  onFailed(message: JobFailedMessage): void {
    if (this.finished) return;
    this.releaseRunner(false);
    const error = errorFromRunner(message.error);
    if (!this.outputStarted && message.chunksSent === 0 && message.error.retryable && !this.cancelRequested) {
      this.dispatch(error);
      return;
    }
    this.failWith(error, message.usage, message.receipt);
  }

  onRunnerLost(reason: string): void {
    if (this.finished) return;
    this.releaseRunner(false);
    const error = new GatewayError("GW_ERR_RUNNER_FAILED", `The runner serving this request went away (${reason}).`);
    if (!this.outputStarted && !this.cancelRequested) {
      this.dispatch(error);
      return;
    }
    this.failWith(error, undefined, undefined);
  }

  // ───────────── internals ─────────────

  private dispatch(previousError: GatewayError | undefined): void {
    while (this.attempts < this.environment.maxAttempts) {
      const runner = this.environment.pickRunner(this.spec.model.id, this.triedRunners);
      if (!runner?.connection) break;
      this.triedRunners.add(runner.id);
      this.attempts++;
      const served = runner.models.find((model) => model.model === this.spec.model.id);
      const accepted = runner.connection.startJob(
        {
          type: "job",
          jobId: this.id,
          operation: this.spec.operation,
          model: this.spec.model.id,
          engineModel: served?.engineModel ?? this.spec.model.id,
          stream: this.spec.stream,
          body: this.spec.body,
          credit: INITIAL_CHUNK_CREDIT,
        },
        this,
      );
      if (!accepted) continue;
      this.runner = runner;
      this.heldRunner = runner;
      runner.activeJobs++;
      runner.outstandingTokens += this.spec.estimatedTokens;
      if (this.spec.stream) {
        this.firstTokenTimer = setTimeout(() => this.onFirstTokenTimeout(), this.environment.firstTokenTimeoutMs);
      }
      return;
    }
    const error =
      previousError ??
      new GatewayError(
        "GW_ERR_NO_CAPACITY",
        this.environment.isServed(this.spec.model.id)
          ? `Every runner serving ${this.spec.model.id} is busy; try again shortly.`
          : `No runner is serving ${this.spec.model.id} right now; try again shortly.`,
        { retryAfterSeconds: 1 },
      );
    this.failWith(error, undefined, undefined);
  }

  private onFirstTokenTimeout(): void {
    this.firstTokenTimer = undefined;
    if (this.finished || this.outputStarted) return;
    const connection = this.runner?.connection;
    connection?.cancelJob(this.id, "first token timeout");
    connection?.forgetJob(this.id);
    this.releaseRunner(false);
    this.dispatch(new GatewayError("GW_ERR_TIMEOUT", `No output within ${this.environment.firstTokenTimeoutMs} ms.`));
  }

  private onTotalTimeout(): void {
    this.totalTimer = undefined;
    if (this.finished) return;
    const connection = this.runner?.connection;
    connection?.cancelJob(this.id, "total timeout");
    connection?.forgetJob(this.id);
    this.releaseRunner(false);
    this.failWith(
      new GatewayError("GW_ERR_TIMEOUT", `The request did not finish within ${this.environment.totalTimeoutMs} ms.`),
      undefined,
      undefined,
    );
  }

  private beginOutput(): void {
    this.outputStarted = true;
    this.firstTokenAt = Date.now();
    if (this.firstTokenTimer) clearTimeout(this.firstTokenTimer);
    this.firstTokenTimer = undefined;
    this.deferred?.resolve();
  }

  private failWith(error: GatewayError, usage: EngineUsage | undefined, receipt: SignedReceipt | undefined): void {
    if (this.finished) return;
    const deliver = () => this.deliverError(error);
    this.finish(this.cancelRequested ? "cancelled" : "failed", usage, receipt, error).then(deliver, deliver);
  }

  private deliverError(error: GatewayError): void {
    if (this.outputStarted) this.push({ type: "error", error });
    else this.deferred?.reject(error);
  }

  private push(event: JobEvent): void {
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = undefined;
      this.returnCredit(event);
      waiter(event);
    } else {
      this.queue.push(event);
    }
  }

  private returnCredit(event: JobEvent): void {
    if (event.type !== "chunk") return;
    this.creditOwed++;
    if (this.creditOwed >= CREDIT_BATCH) {
      this.runner?.connection?.grantCredit(this.id, this.creditOwed);
      this.creditOwed = 0;
    }
  }

  /** Gives back the load the current attempt put on its runner; idempotent per attempt. */
  private releaseRunner(succeeded: boolean): void {
    const runner = this.heldRunner;
    if (!runner) return;
    this.heldRunner = undefined;
    if (this.firstTokenTimer) clearTimeout(this.firstTokenTimer);
    this.firstTokenTimer = undefined;
    runner.activeJobs = Math.max(0, runner.activeJobs - 1);
    runner.outstandingTokens = Math.max(0, runner.outstandingTokens - this.spec.estimatedTokens);
    if (succeeded) runner.completedJobs++;
    else runner.failedJobs++;
  }

  private finish(
    outcome: JobOutcome,
    engineUsage: EngineUsage | undefined,
    receipt: SignedReceipt | undefined,
    error: GatewayError | undefined,
  ): Promise<void> {
    if (this.finished) return Promise.resolve();
    this.finished = true;
    for (const timer of [this.firstTokenTimer, this.totalTimer, this.cancelTimer]) if (timer) clearTimeout(timer);
    return this.environment.onFinished({
      spec: this.spec,
      outcome,
      runnerId: this.runner?.id,
      attempts: this.attempts,
      engineUsage,
      receipt,
      outputText: this.outputText,
      createdAt: this.createdAt,
      firstTokenAt: this.firstTokenAt,
      finishedAt: Date.now(),
      error,
      authorized: this.authorized,
    });
  }

  private collectChunkText(chunk: JobStreamChunk): void {
    if (chunk.object === "chat.completion.chunk") {
      for (const choice of chunk.choices) {
        const delta = choice.delta;
        if (delta.content) this.outputText += delta.content;
        if (delta.tool_calls) {
          for (const call of delta.tool_calls)
            this.outputText += (call.function?.name ?? "") + (call.function?.arguments ?? "");
        }
      }
    } else {
      for (const choice of chunk.choices) this.outputText += choice.text;
    }
  }

  private collectResponseText(response: JobResponse): void {
    if (response.object === "chat.completion") {
      for (const choice of response.choices) {
        this.outputText += choice.message.content ?? "";
        for (const call of choice.message.tool_calls ?? []) {
          if (call.type === "function") this.outputText += call.function.name + call.function.arguments;
        }
      }
    } else if (response.object === "text_completion") {
      for (const choice of response.choices) this.outputText += choice.text;
    }
  }
}

function usageNotRecorded(cause: unknown): GatewayError {
  return new GatewayError(
    "GW_ERR_UNAVAILABLE",
    "The usage of this request could not be recorded; it ended unconfirmed.",
    {
      cause,
    },
  );
}

/** Maps a runner's wire error to what the client sees. */
export function errorFromRunner(error: WireError): GatewayError {
  switch (error.code) {
    case "RUNNER_ERR_ENGINE_BAD_REQUEST":
      return new GatewayError("GW_ERR_INVALID_REQUEST", error.message);
    case "RUNNER_ERR_MODEL_NOT_FOUND":
      return new GatewayError("GW_ERR_NO_CAPACITY", `No runner could load the model: ${error.message}`, {
        retryAfterSeconds: 1,
      });
    case "RUNNER_ERR_BUSY":
      return new GatewayError("GW_ERR_NO_CAPACITY", "Every runner for this model is busy; try again shortly.", {
        retryAfterSeconds: 1,
      });
    default:
      return new GatewayError("GW_ERR_RUNNER_FAILED", `The runner failed: ${error.message}`);
  }
}
