/**
 * One job from the gateway, run against the engine. Every job ends with exactly one `end` or
 * `failed` frame (runners/protocol.ts), except when its socket is gone: then the engine call is
 * aborted and nothing is sent, because the gateway already counted the job as failed.
 */

import type { ChatCompletionCreateParamsStreaming } from "openai/resources/chat/completions";
import type { CompletionCreateParamsStreaming } from "openai/resources/completions";
import type { EmbeddingCreateParams } from "openai/resources/embeddings";
import type { Logger } from "pino";
import type { WalletKeypair } from "../../billing/receipts/ed25519.ts";
import { type ReceiptOutcome, sha256Hex } from "../../billing/receipts/receipt.ts";
import { type EngineAdapter, EngineError } from "../engines/engine.ts";
import type {
  EngineUsage,
  JobMessage,
  JobResponse,
  JobTimings,
  RunnerToGatewayMessage,
  WireError,
} from "../protocol.ts";
import { CreditGate } from "./credit.ts";
import { type StreamedChunk, StreamedOutput, signJobReceipt } from "./job-output.ts";

/** How a job ended; "abandoned" means its socket dropped and nothing could be reported. */
export type JobOutcome = ReceiptOutcome | "abandoned";

export interface JobContext {
  engine: EngineAdapter;
  wallet: WalletKeypair;
  /** Read at the end of the job: the gateway may have assigned a new id since it started. */
  runnerId(): string;
  /** Sends a frame on the job's socket; false when that socket is no longer open. */
  send(message: RunnerToGatewayMessage): boolean;
  logger: Logger;
}

type StopReason = { kind: "cancel"; reason: string } | { kind: "disconnect" } | { kind: "shutdown" };

const ABORTED = Symbol("aborted");

export class AgentJob {
  readonly jobId: string;
  private readonly controller = new AbortController();
  private readonly credit: CreditGate;
  private readonly logger: Logger;
  private stopReason: StopReason | undefined;
  private chunksSent = 0;
  private startedAt = Date.now();

  constructor(
    private readonly message: JobMessage,
    private readonly context: JobContext,
  ) {
    this.jobId = message.jobId;
    this.credit = new CreditGate(message.credit);
    this.logger = context.logger.child({ jobId: message.jobId });
  }

  grantCredit(chunks: number): void {
    this.credit.grant(chunks);
  }

  /** The gateway's `cancel`: stop the engine now and report what was produced. */
  cancel(reason: string): void {
    this.stop({ kind: "cancel", reason });
  }

  /** The socket dropped: stop the engine; there is nobody to report to. */
  abandon(): void {
    this.stop({ kind: "disconnect" });
  }

  /** The agent is stopping: stop the engine and fail the job so the gateway can retry it. */
  shutdown(): void {
    this.stop({ kind: "shutdown" });
  }

  /** Runs the job to its single terminal frame. Never rejects. */
  async run(): Promise<JobOutcome> {
    this.startedAt = Date.now();
    try {
      switch (this.message.operation) {
        case "chat":
          return await this.runStreamed(StreamedOutput.forChat(), (request, signal) =>
            this.context.engine.chat(request as unknown as ChatCompletionCreateParamsStreaming, { signal }),
          );
        case "completion":
          return await this.runStreamed(StreamedOutput.forCompletion(), (request, signal) =>
            this.context.engine.completion(request as unknown as CompletionCreateParamsStreaming, { signal }),
          );
        case "embedding":
          return await this.runEmbedding();
      }
    } catch (error) {
      // Only reached when building the terminal frame itself failed; still end the job.
      this.logger.error({ err: error }, "job failed unexpectedly");
      return this.sendFailed(toWireError(error), undefined);
    }
  }

  private stop(reason: StopReason): void {
    if (this.stopReason) return;
    this.stopReason = reason;
    this.controller.abort(new Error(`job stopped: ${reason.kind}`));
  }

  /** The engine request: the client's validated body, pointed at the engine's model name, always streamed with usage. */
  private streamingRequest(): Record<string, unknown> {
    const streamOptions =
      typeof this.message.body.stream_options === "object" && this.message.body.stream_options !== null
        ? this.message.body.stream_options
        : {};
    return {
      ...this.message.body,
      model: this.message.engineModel,
      stream: true,
      stream_options: { ...streamOptions, include_usage: true },
    };
  }

  private async runStreamed<Chunk extends StreamedChunk, Response extends JobResponse>(
    output: StreamedOutput<Chunk, Response>,
    call: (request: Record<string, unknown>, signal: AbortSignal) => AsyncIterable<Chunk>,
  ): Promise<JobOutcome> {
    const signal = this.controller.signal;
    try {
      const iterator = call(this.streamingRequest(), signal)[Symbol.asyncIterator]();
      await this.pump(iterator, output, signal);
    } catch (error) {
      if (!this.stopReason) return this.sendFailed(toWireError(error), output);
    }
    if (this.stopReason) return this.finishStopped(output);

    const finishedAt = Date.now();
    this.context.send({
      type: "end",
      jobId: this.jobId,
      ...(this.message.stream ? {} : { response: output.toResponse() }),
      usage: output.engineUsage(),
      cancelled: false,
      timings: this.timings(output.firstContentAt, finishedAt),
      receipt: this.receipt(output, "completed", finishedAt),
    });
    return "completed";
  }

  /** Pulls engine chunks, forwarding content chunks while credit lasts; returns when the engine is done or the job stopped. */
  private async pump<Chunk extends StreamedChunk>(
    iterator: AsyncIterator<Chunk>,
    output: StreamedOutput<Chunk, JobResponse>,
    signal: AbortSignal,
  ): Promise<void> {
    let finished = false;
    try {
      for (;;) {
        // Waiting before the pull (not after) is what keeps the engine's stream paused at zero credit.
        if (this.message.stream) await this.credit.whenAvailable(signal);
        const result = await nextUnlessAborted(iterator, signal);
        if (result === ABORTED) return;
        if (result.done) {
          finished = true;
          return;
        }
        const chunk = result.value;
        if (!output.add(chunk) || !this.message.stream) continue;
        const forwarded = { ...chunk };
        // The gateway synthesises the client's usage chunk itself from the `end` frame.
        delete forwarded.usage;
        this.credit.spend();
        this.chunksSent += 1;
        this.context.send({ type: "chunk", jobId: this.jobId, chunk: forwarded });
      }
    } finally {
      // Closes the engine's HTTP stream if we stopped before it ended (a no-op once it has thrown).
      if (!finished) iterator.return?.().catch(() => undefined);
    }
  }

  private async runEmbedding(): Promise<JobOutcome> {
    const signal = this.controller.signal;
    let response: Awaited<ReturnType<EngineAdapter["embed"]>> | typeof ABORTED;
    try {
      const request = { ...this.message.body, model: this.message.engineModel } as unknown as EmbeddingCreateParams;
      response = await promiseUnlessAborted(this.context.engine.embed(request, { signal }), signal);
    } catch (error) {
      if (!this.stopReason) return this.sendFailed(toWireError(error), undefined);
      response = ABORTED;
    }
    if (response === ABORTED || this.stopReason) return this.finishStopped(undefined);

    const finishedAt = Date.now();
    const promptTokens = response.usage?.prompt_tokens;
    const usage: EngineUsage = { promptTokens, completionTokens: 0 };
    const receipt = signJobReceipt(
      {
        jobId: this.jobId,
        runnerId: this.context.runnerId(),
        model: this.message.model,
        tokens: { promptTokens: promptTokens ?? 0, completionTokens: 0 },
        outputSha256: sha256Hex(JSON.stringify(response.data)),
        startedAt: this.startedAt,
        finishedAt,
        outcome: "completed",
      },
      this.context.wallet,
    );
    this.context.send({
      type: "end",
      jobId: this.jobId,
      response,
      usage,
      cancelled: false,
      timings: this.timings(undefined, finishedAt),
      receipt,
    });
    return "completed";
  }

  private finishStopped(output: StreamedOutput<StreamedChunk, JobResponse> | undefined): JobOutcome {
    const reason = this.stopReason;
    if (!reason || reason.kind === "disconnect") return "abandoned";
    if (reason.kind === "shutdown") {
      return this.sendFailed(
        { code: "RUNNER_ERR_SHUTTING_DOWN", message: "the runner is shutting down", retryable: true },
        output,
      );
    }
    const finishedAt = Date.now();
    this.logger.debug({ reason: reason.reason }, "job cancelled by the gateway");
    this.context.send({
      type: "end",
      jobId: this.jobId,
      usage: output?.engineUsage() ?? { promptTokens: undefined, completionTokens: undefined },
      cancelled: true,
      timings: this.timings(output?.firstContentAt, finishedAt),
      receipt: output ? this.receipt(output, "cancelled", finishedAt) : this.emptyReceipt("cancelled", finishedAt),
    });
    return "cancelled";
  }

  private sendFailed(wireError: WireError, output: StreamedOutput<StreamedChunk, JobResponse> | undefined): JobOutcome {
    const finishedAt = Date.now();
    this.logger.warn(
      { code: wireError.code, engineStatus: wireError.engineStatus, chunksSent: this.chunksSent },
      `job failed: ${wireError.message}`,
    );
    this.context.send({
      type: "failed",
      jobId: this.jobId,
      error: wireError,
      chunksSent: this.chunksSent,
      usage: output?.engineUsage() ?? { promptTokens: undefined, completionTokens: undefined },
      timings: this.timings(output?.firstContentAt, finishedAt),
      ...(output?.producedOutput ? { receipt: this.receipt(output, "failed", finishedAt) } : {}),
    });
    return "failed";
  }

  private timings(firstContentAt: number | undefined, finishedAt: number): JobTimings {
    return {
      startedAt: this.startedAt,
      firstTokenMs: firstContentAt === undefined ? undefined : firstContentAt - this.startedAt,
      finishedAt,
    };
  }

  private receipt(output: StreamedOutput<StreamedChunk, JobResponse>, outcome: ReceiptOutcome, finishedAt: number) {
    return signJobReceipt(
      {
        jobId: this.jobId,
        runnerId: this.context.runnerId(),
        model: this.message.model,
        tokens: output.receiptTokens(),
        outputSha256: output.outputSha256(),
        startedAt: this.startedAt,
        finishedAt,
        outcome,
      },
      this.context.wallet,
    );
  }

  /** A cancelled embedding produced nothing, but `end` always carries a receipt. */
  private emptyReceipt(outcome: ReceiptOutcome, finishedAt: number) {
    return signJobReceipt(
      {
        jobId: this.jobId,
        runnerId: this.context.runnerId(),
        model: this.message.model,
        tokens: { promptTokens: 0, completionTokens: 0 },
        outputSha256: sha256Hex(""),
        startedAt: this.startedAt,
        finishedAt,
        outcome,
      },
      this.context.wallet,
    );
  }
}

export function toWireError(error: unknown): WireError {
  if (error instanceof EngineError) {
    return {
      code: error.code,
      message: error.message,
      retryable: error.retryable,
      ...(error.status === undefined ? {} : { engineStatus: error.status }),
    };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: "RUNNER_ERR_ENGINE_FAILED", message, retryable: false };
}

/** The iterator's next result, or ABORTED as soon as the signal fires even if the engine is slow to notice. */
function nextUnlessAborted<T>(
  iterator: AsyncIterator<T>,
  signal: AbortSignal,
): Promise<IteratorResult<T> | typeof ABORTED> {
  // Checked before calling next() so a stopped job never pulls one more chunk from the engine.
  if (signal.aborted) return Promise.resolve(ABORTED);
  return promiseUnlessAborted(iterator.next(), signal);
}

function promiseUnlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | typeof ABORTED> {
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.resolve(ABORTED);
  }
  return new Promise((resolve, reject) => {
    const onAbort = (): void => resolve(ABORTED);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
