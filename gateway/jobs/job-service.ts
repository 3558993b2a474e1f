/**
 * Creates jobs, routes them, and closes their books: when a job ends (completed, cancelled or
 * failed, client present or not) it counts tokens locally, reconciles them with the engine's
 * counts and keeps the usage record.
 */
import { EventEmitter } from "node:events";
import type { ChatCompletionMessageParam, ChatCompletionTool } from "openai/resources/chat/completions";
import { type Authorization, BillingError, type Metering } from "../../billing/metering.ts";
import type { SignedReceipt } from "../../billing/receipts/receipt.ts";
import {
  countChatPromptTokens,
  countCompletionPromptTokens,
  countEmbeddingInputTokens,
  countTextTokens,
  type TokenizableInput,
} from "../../billing/tokens.ts";
import { reconcileUsage, type TokenCounts } from "../../billing/usage-counts.ts";
import type { EngineUsage } from "../../runners/protocol.ts";
import { GatewayError } from "../errors.ts";
import { pickLeastOutstanding } from "../routing/least-outstanding.ts";
import type { RunnerRegistry } from "../runners/registry.ts";
import { type BilledUsage, Job, type JobEnvironment, type JobOutcome, type JobResult, type JobSpec } from "./job.ts";

/** The usage record of one job: DESIGN.md's job completion event plus both token counts. */
export interface JobRecord {
  jobId: string;
  nodeId: string | undefined;
  accountId: string;
  apiKeyId: string;
  modelType: string;
  operation: JobSpec["operation"];
  stream: boolean;
  outcome: JobOutcome;
  success: boolean;
  errorMessage: string | undefined;
  tokenUsage: BilledUsage;
  engineUsage: EngineUsage | undefined;
  localUsage: TokenCounts;
  /** Engine counts within the model's tolerance of the local count. */
  countsAgree: boolean;
  /** ms from the job's creation to its end. */
  executionDuration: number;
  timeToFirstTokenMs: number | undefined;
  /** sha256 of the output as the runner signed it. */
  executionHash: string | undefined;
  receipt: SignedReceipt | undefined;
  attempts: number;
  timestamp: number;
  /** The intent charged, when billing is on. */
  intentId: string | undefined;
  /** Base units charged (undefined when billing is off). */
  charge: bigint | undefined;
}

export interface JobServiceOptions {
  firstTokenTimeoutMs: number;
  totalTimeoutMs: number;
  maxAttempts: number;
  /** Finished job records kept in memory for lookups. */
  retainedRecords?: number;
}

export interface JobServiceEvents {
  jobCompleted: [JobRecord];
}

export class JobService extends EventEmitter<JobServiceEvents> {
  private readonly records = new Map<string, JobRecord>();
  private readonly active = new Map<string, Job>();
  private readonly environment: JobEnvironment;
  private readonly retainedRecords: number;

  private readonly authorizations = new Map<string, Authorization>();

  constructor(
    private readonly registry: RunnerRegistry,
    options: JobServiceOptions,
    private readonly metering?: Metering,
  ) {
    super();
    this.retainedRecords = options.retainedRecords ?? 10_000;
    this.environment = {
      authorize: (spec) => this.authorize(spec),
      pickRunner: (model, exclude) => pickLeastOutstanding(this.registry.eligible(model, exclude)),
      isServed: (model) => this.registry.isServed(model),
      // The engine ran the model's real tokenizer: when it reported both counts, the client's
      // usage needs no local tokenization on the response path.
      fallbackUsage: (spec, outputText, engineUsage) =>
        isCount(engineUsage?.promptTokens) && isCount(engineUsage?.completionTokens)
          ? {
              promptTokens: engineUsage.promptTokens,
              completionTokens: engineUsage.completionTokens,
              totalTokens: engineUsage.promptTokens + engineUsage.completionTokens,
            }
          : this.usageFor(spec, outputText, engineUsage).billed,
      firstTokenTimeoutMs: options.firstTokenTimeoutMs,
      totalTimeoutMs: options.totalTimeoutMs,
      maxAttempts: options.maxAttempts,
      onFinished: (result) => this.close(result),
    };
  }

  create(spec: JobSpec): Job {
    const job = new Job(spec, this.environment);
    this.active.set(spec.id, job);
    return job;
  }

  record(jobId: string): JobRecord | undefined {
    return this.records.get(jobId);
  }

  activeJob(jobId: string): Job | undefined {
    return this.active.get(jobId);
  }

  activeCount(): number {
    return this.active.size;
  }

  /** Resolves once no job is running (used by graceful shutdown and tests). */
  async drained(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.active.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    return this.active.size === 0;
  }

  private async authorize(spec: JobSpec): Promise<void> {
    if (!this.metering) return;
    try {
      const authorization = await this.metering.authorize(
        spec.accountId,
        spec.id,
        spec.model,
        spec.promptTokenBound,
        spec.completionCap,
      );
      this.authorizations.set(spec.id, authorization);
    } catch (error) {
      throw billingRefusal(error);
    }
  }

  private async close(result: JobResult): Promise<void> {
    const reconciled = this.usageFor(result.spec, result.outputText, result.engineUsage);
    const record: JobRecord = {
      jobId: result.spec.id,
      nodeId: result.runnerId,
      accountId: result.spec.accountId,
      apiKeyId: result.spec.apiKeyId,
      modelType: result.spec.model.id,
      operation: result.spec.operation,
      stream: result.spec.stream,
      outcome: result.outcome,
      success: result.outcome === "completed",
      errorMessage: result.error?.message,
      tokenUsage: producedNothing(result)
        ? { promptTokens: 0, completionTokens: 0, totalTokens: 0 }
        : reconciled.billed,
      engineUsage: result.engineUsage,
      localUsage: reconciled.local,
      countsAgree: reconciled.agree,
      executionDuration: result.finishedAt - result.createdAt,
      timeToFirstTokenMs: result.firstTokenAt === undefined ? undefined : result.firstTokenAt - result.createdAt,
      executionHash: result.receipt?.receipt.outputSha256,
      receipt: result.receipt,
      attempts: result.attempts,
      timestamp: result.finishedAt,
      intentId: undefined,
      charge: undefined,
    };
    const authorization = this.authorizations.get(record.jobId);
    this.authorizations.delete(record.jobId);
    try {
      if (this.metering && authorization && result.authorized) {
        const captured = await this.metering.capture(authorization, {
          jobId: record.jobId,
          nodeId: record.nodeId,
          apiKeyId: record.apiKeyId,
          modelType: record.modelType,
          promptTokens: record.tokenUsage.promptTokens,
          completionTokens: record.tokenUsage.completionTokens,
          localUsage: record.localUsage,
          engineUsage: record.engineUsage,
          executionDuration: record.executionDuration,
          executionHash: record.executionHash,
          success: record.success,
          errorMessage: record.errorMessage,
          receiptJson: record.receipt === undefined ? undefined : JSON.stringify(record.receipt),
          timestamp: record.timestamp,
        });
        record.intentId = captured.record.intentId;
        record.charge = captured.record.charge;
      }
    } finally {
      this.active.delete(record.jobId);
    }
    this.records.set(record.jobId, record);
    if (this.records.size > this.retainedRecords) {
      const oldest = this.records.keys().next().value;
      if (oldest !== undefined) this.records.delete(oldest);
    }
    this.emit("jobCompleted", record);
  }

  private usageFor(spec: JobSpec, outputText: string, engineUsage: EngineUsage | undefined) {
    const local: TokenCounts = {
      promptTokens: localPromptTokens(spec),
      completionTokens: countTextTokens(outputText, spec.model.tokenizerEncoding),
    };
    return { ...reconcileUsage(engineUsage, local, spec.model.tokenCountTolerance), local };
  }
}

/** Billing's refusals in the client's terms: 402 when money is short, 503 when the store is. */
function billingRefusal(error: unknown): GatewayError {
  if (error instanceof BillingError) {
    if (error.code === "BILL_ERR_INSUFFICIENT_FUNDS")
      return new GatewayError("GW_ERR_INSUFFICIENT_FUNDS", error.message);
    if (error.code === "BILL_ERR_NO_ACTIVE_INTENT") {
      return new GatewayError("GW_ERR_INSUFFICIENT_FUNDS", error.message, { openAiCode: "no_active_intent" });
    }
  }
  return new GatewayError(
    "GW_ERR_UNAVAILABLE",
    "Billing is unavailable right now, so no billable work is accepted; try again shortly.",
    {
      retryAfterSeconds: 1,
      cause: error,
    },
  );
}

/** Billable work is what a runner signed for or what reached the client; anything else cost nothing. */
function producedNothing(result: JobResult): boolean {
  return result.receipt === undefined && result.outputText === "";
}

function isCount(value: number | undefined): value is number {
  return value !== undefined && Number.isSafeInteger(value) && value >= 0;
}

function localPromptTokens(spec: JobSpec): number {
  const encoding = spec.model.tokenizerEncoding;
  switch (spec.operation) {
    case "chat":
      return countChatPromptTokens(
        spec.body.messages as ChatCompletionMessageParam[],
        encoding,
        spec.body.tools as ChatCompletionTool[] | undefined,
      );
    case "completion":
      return countCompletionPromptTokens(spec.body.prompt as TokenizableInput, encoding);
    case "embedding":
      return countEmbeddingInputTokens(spec.body.input as TokenizableInput, encoding);
  }
}
