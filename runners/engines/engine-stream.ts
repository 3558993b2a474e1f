/**
 * The iterable the adapters return from `chat` and `completion`. Besides the chunks it keeps a
 * running token count, so a job cancelled or failed mid-stream can still bill what was produced
 * even on engines (Ollama) that report counts only in their last message. It is a plain
 * AsyncIterable to callers that do not care, so the EngineAdapter interface is unchanged.
 */
import type { EngineUsage } from "../protocol.ts";

export interface EngineStream<Chunk> extends AsyncIterable<Chunk> {
  /**
   * Tokens so far. `promptTokens` stays undefined until the engine reports it.
   * `completionTokens` is the engine's own count when it reported one, else the number of output
   * pieces (content or tool-call deltas) yielded so far: each engine message carries one token.
   */
  usage(): EngineUsage;
}

/** Running counts an adapter updates while it streams. */
export class UsageTracker {
  private pieces = 0;
  private reportedPrompt: number | undefined;
  private reportedCompletion: number | undefined;

  countPiece(): void {
    this.pieces += 1;
  }

  get piecesSoFar(): number {
    return this.pieces;
  }

  report(promptTokens: number | undefined, completionTokens: number | undefined): void {
    if (promptTokens !== undefined) this.reportedPrompt = promptTokens;
    if (completionTokens !== undefined) this.reportedCompletion = completionTokens;
  }

  snapshot(): EngineUsage {
    return { promptTokens: this.reportedPrompt, completionTokens: this.reportedCompletion ?? this.pieces };
  }
}

/** Wraps a generator so the stream can be iterated once and asked for its running usage. */
export function createEngineStream<Chunk>(
  produce: (tracker: UsageTracker) => AsyncGenerator<Chunk>,
): EngineStream<Chunk> {
  const tracker = new UsageTracker();
  let started = false;
  return {
    usage: () => tracker.snapshot(),
    [Symbol.asyncIterator]() {
      // A second iteration would send a second engine request and bill twice.
      if (started) throw new Error("an engine stream can be iterated only once");
      started = true;
      return produce(tracker);
    },
  };
}

/** Running usage of a stream returned by an adapter; undefined for other iterables (e.g. test fakes). */
export function runningUsage(stream: AsyncIterable<unknown>): EngineUsage | undefined {
  const candidate = stream as Partial<EngineStream<unknown>>;
  return typeof candidate.usage === "function" ? candidate.usage() : undefined;
}
