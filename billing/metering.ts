/**
 * Metering: the gateway's one entry into billing for a request. Before dispatch it reserves the
 * worst-case cost against the caller's active intent (a hold); when the job ends — completed,
 * cancelled or failed midway — it captures the exact charge for the tokens produced and appends
 * the usage record in the same atomic step. Holds of jobs that never end expire on a timer.
 */
import type { ModelPricing, ModelTemplate } from "../models/catalog.ts";
import { chargeFor, holdFor } from "./money.ts";
import type { BillingStore, CaptureResult, ChargeState, UsageRecord } from "./store/types.ts";

export type BillingErrorCode =
  | "BILL_ERR_INSUFFICIENT_FUNDS"
  | "BILL_ERR_NO_ACTIVE_INTENT"
  | "BILL_ERR_STORE_UNAVAILABLE";

export class BillingError extends Error {
  constructor(
    readonly code: BillingErrorCode,
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "BillingError";
  }
}

export interface Authorization {
  jobId: string;
  accountId: string;
  intentId: string | undefined;
  /** Base units reserved; 0n when billing is off. */
  held: bigint;
  pricing: ModelPricing;
}

export interface MeteringOptions {
  /** How long a hold outlives a job that never reports back (gateway crash). */
  holdTtlMs: number;
  /** Off: jobs run unbilled (records are still kept, with a zero charge). */
  enabled: boolean;
}

export interface FinishedJobUsage {
  jobId: string;
  nodeId: string | undefined;
  apiKeyId: string;
  modelType: string;
  promptTokens: number;
  completionTokens: number;
  localUsage: UsageRecord["localUsage"];
  engineUsage: UsageRecord["engineUsage"];
  executionDuration: number;
  executionHash: string | undefined;
  success: boolean;
  errorMessage: string | undefined;
  receiptJson: string | undefined;
  timestamp: number;
}

/** Chat overhead per message (role, separators) on top of its bytes: generous on purpose. */
const MESSAGE_OVERHEAD_TOKENS = 8;

/**
 * An upper bound on prompt tokens without tokenizing: byte-level BPE tokens each cover at least
 * one byte, so a prompt has at most as many tokens as UTF-8 bytes (plus template overhead).
 */
export function promptTokenUpperBound(texts: readonly string[], messages: number): number {
  let bytes = 0;
  for (const text of texts) bytes += Buffer.byteLength(text, "utf8");
  return bytes + messages * MESSAGE_OVERHEAD_TOKENS + 3;
}

export class Metering {
  constructor(
    private readonly store: BillingStore,
    private readonly options: MeteringOptions,
  ) {}

  get enabled(): boolean {
    return this.options.enabled;
  }

  /** Sweeps often enough that a stale hold outlives its TTL by at most half of it. */
  get sweepIntervalMs(): number {
    return Math.min(30_000, Math.max(250, Math.floor(this.options.holdTtlMs / 2)));
  }

  /** Reserves the worst case for a job or refuses it. */
  async authorize(
    accountId: string,
    jobId: string,
    model: ModelTemplate,
    promptTokenBound: number,
    completionCap: number,
    now = Date.now(),
  ): Promise<Authorization> {
    if (!this.options.enabled) return { jobId, accountId, intentId: undefined, held: 0n, pricing: model.pricing };
    const account = await this.store.getAccount(accountId);
    const intentId = account?.activeIntentId;
    if (!intentId) {
      throw new BillingError(
        "BILL_ERR_NO_ACTIVE_INTENT",
        "This API key's account has no active payment intent; create and fund one with POST /v1/intents.",
        false,
      );
    }
    const amount = holdFor(promptTokenBound, completionCap, model.pricing);
    const result = await this.store.reserve(intentId, jobId, amount, now, this.options.holdTtlMs);
    if (!result.ok) {
      if (result.reason === "intent_not_active") {
        throw new BillingError(
          "BILL_ERR_NO_ACTIVE_INTENT",
          `Payment intent ${intentId} is not active; fund or replace it.`,
          false,
        );
      }
      throw new BillingError(
        "BILL_ERR_INSUFFICIENT_FUNDS",
        `Payment intent ${intentId} cannot cover this request: it needs up to ${amount} base units and ${result.available} are free. Lower max_tokens or fund a new intent.`,
        false,
      );
    }
    return { jobId, accountId, intentId, held: amount, pricing: model.pricing };
  }

  /**
   * Charges the tokens produced and appends the record, atomically and once. A job that produced
   * nothing is captured too, at zero: its hold goes back and finance still sees the attempt.
   */
  capture(authorization: Authorization, usage: FinishedJobUsage): Promise<CaptureResult> {
    const billable = this.options.enabled && authorization.intentId !== undefined;
    const charge = billable ? chargeFor(usage, authorization.pricing) : 0n;
    const chargeState: ChargeState = billable ? "escrowed" : "authorized";
    return this.store.capture({
      jobId: usage.jobId,
      nodeId: usage.nodeId,
      intentId: authorization.intentId,
      accountId: authorization.accountId,
      apiKeyId: usage.apiKeyId,
      modelType: usage.modelType,
      tokenUsage: {
        promptTokens: usage.promptTokens,
        completionTokens: usage.completionTokens,
        totalTokens: usage.promptTokens + usage.completionTokens,
      },
      localUsage: usage.localUsage,
      engineUsage: usage.engineUsage,
      executionDuration: usage.executionDuration,
      executionHash: usage.executionHash,
      logsHash: undefined,
      timestamp: usage.timestamp,
      success: usage.success,
      errorMessage: usage.errorMessage,
      receiptJson: usage.receiptJson,
      inputPricePerMillion: authorization.pricing.inputPerMillion,
      outputPricePerMillion: authorization.pricing.outputPerMillion,
      charge,
      chargeState,
      epoch: undefined,
    });
  }

  /**
   * At the start of the only process that uses a store (embedded SQLite), every hold left
   * belongs to a job that died with the previous process: release them all now.
   */
  async reconcileAfterRestart(): Promise<string[]> {
    return this.store.expireHolds(Number.MAX_SAFE_INTEGER);
  }

  /** Releases holds of jobs that never finished and expires lapsed intents. */
  async sweep(now = Date.now()): Promise<{ releasedHolds: string[]; expiredIntents: string[] }> {
    const releasedHolds = await this.store.expireHolds(now);
    const expiredIntents = await this.store.expireIntents(now);
    return { releasedHolds, expiredIntents };
  }
}
