/**
 * What one chat or completion job has produced so far: content chunks, the engine's latest
 * running usage, and the accumulated output. The end, failed and receipt fields all derive from
 * here so a completed, cancelled and failed job count their tokens the same way.
 */
import type { ChatCompletion, ChatCompletionChunk } from "openai/resources/chat/completions";
import type { Completion, CompletionUsage } from "openai/resources/completions";
import type { WalletKeypair } from "../../billing/receipts/ed25519.ts";
import {
  RECEIPT_VERSION,
  type ReceiptOutcome,
  type SignedReceipt,
  sha256Hex,
  signReceipt,
} from "../../billing/receipts/receipt.ts";
import { ChatCompletionAccumulator, CompletionAccumulator } from "../engines/accumulate.ts";
import type { EngineUsage, JobResponse } from "../protocol.ts";

export type StreamedChunk = ChatCompletionChunk | Completion;

interface OutputAccumulator<Chunk, Response> {
  add(chunk: Chunk): void;
  toCompletion(usage?: CompletionUsage): Response;
  outputText(): string;
}

/** Token counts for a receipt: engine counts where known, the documented fallbacks where not. */
export interface ReceiptTokens {
  promptTokens: number;
  completionTokens: number;
}

export class StreamedOutput<Chunk extends StreamedChunk, Response extends JobResponse> {
  contentChunks = 0;
  /** ms since epoch of the first content chunk. */
  firstContentAt: number | undefined;
  private latestUsage: CompletionUsage | undefined;

  private constructor(private readonly accumulator: OutputAccumulator<Chunk, Response>) {}

  static forChat(): StreamedOutput<ChatCompletionChunk, ChatCompletion> {
    return new StreamedOutput<ChatCompletionChunk, ChatCompletion>(new ChatCompletionAccumulator());
  }

  static forCompletion(): StreamedOutput<Completion, Completion> {
    return new StreamedOutput<Completion, Completion>(new CompletionAccumulator());
  }

  /** Records one engine chunk; true when it carries content the client should see. */
  add(chunk: Chunk): boolean {
    // Usage on any chunk is the running total (engine.ts), so the latest one wins.
    if (chunk.usage) this.latestUsage = chunk.usage;
    if (chunk.choices.length === 0) return false;
    this.contentChunks += 1;
    this.firstContentAt ??= Date.now();
    this.accumulator.add(chunk);
    return true;
  }

  get producedOutput(): boolean {
    return this.contentChunks > 0 || (this.latestUsage?.completion_tokens ?? 0) > 0;
  }

  engineUsage(): EngineUsage {
    return { promptTokens: this.latestUsage?.prompt_tokens, completionTokens: this.latestUsage?.completion_tokens };
  }

  receiptTokens(): ReceiptTokens {
    return {
      promptTokens: this.latestUsage?.prompt_tokens ?? 0,
      completionTokens: this.latestUsage?.completion_tokens ?? this.contentChunks,
    };
  }

  outputSha256(): string {
    return sha256Hex(this.accumulator.outputText());
  }

  toResponse(): Response {
    return this.accumulator.toCompletion(this.latestUsage);
  }
}

export interface ReceiptInput {
  jobId: string;
  runnerId: string;
  model: string;
  tokens: ReceiptTokens;
  outputSha256: string;
  startedAt: number;
  finishedAt: number;
  outcome: ReceiptOutcome;
}

export function signJobReceipt(input: ReceiptInput, wallet: WalletKeypair): SignedReceipt {
  return signReceipt(
    {
      version: RECEIPT_VERSION,
      jobId: input.jobId,
      runnerId: input.runnerId,
      wallet: wallet.address,
      model: input.model,
      promptTokens: input.tokens.promptTokens,
      completionTokens: input.tokens.completionTokens,
      outputSha256: input.outputSha256,
      startedAt: input.startedAt,
      finishedAt: input.finishedAt,
      outcome: input.outcome,
    },
    wallet,
  );
}
