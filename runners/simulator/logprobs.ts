/**
 * Plausible log-probabilities: the emitted token is the most likely one, with a handful of other
 * vocabulary words close behind. Values are drawn from the choice's own logprob stream.
 */
import type { SeededRandom } from "./random.ts";
import type { TokenPiece } from "./tokenizer.ts";
import { WORD_PIECES } from "./vocabulary.ts";

/** vLLM's default `--max-logprobs`. */
export const MAXIMUM_TOP_LOGPROBS = 20;

export interface TopLogprob {
  token: string;
  logprob: number;
  bytes: number[];
}

/** One entry of a chat choice's `logprobs.content`. */
export interface ChatTokenLogprob extends TopLogprob {
  top_logprobs: TopLogprob[];
}

function utf8Bytes(text: string): number[] {
  return [...Buffer.from(text, "utf8")];
}

function roundLogprob(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}

/** The chosen token's logprob and `topCount` alternatives, best first (the chosen one leads). */
export function sampleLogprobs(piece: TokenPiece, random: SeededRandom, topCount: number): ChatTokenLogprob {
  const chosen = roundLogprob(-random.next() * 1.2);
  const top: TopLogprob[] = [];
  if (topCount > 0) {
    top.push({ token: piece.text, logprob: chosen, bytes: utf8Bytes(piece.text) });
    let logprob = chosen;
    const seen = new Set([piece.text]);
    while (top.length < topCount) {
      const alternative = random.pick(WORD_PIECES);
      if (seen.has(alternative.text)) continue;
      seen.add(alternative.text);
      logprob = roundLogprob(logprob - 0.2 - random.next() * 1.5);
      top.push({ token: alternative.text, logprob, bytes: utf8Bytes(alternative.text) });
    }
  }
  return { token: piece.text, logprob: chosen, bytes: utf8Bytes(piece.text), top_logprobs: top };
}

/** `/v1/completions` logprobs for a run of tokens, in the legacy parallel-array shape. */
export interface CompletionLogprobs {
  text_offset: number[];
  token_logprobs: number[];
  tokens: string[];
  top_logprobs: Record<string, number>[];
}

export function emptyCompletionLogprobs(): CompletionLogprobs {
  return { text_offset: [], token_logprobs: [], tokens: [], top_logprobs: [] };
}

export function appendCompletionLogprob(target: CompletionLogprobs, entry: ChatTokenLogprob, textOffset: number): void {
  target.text_offset.push(textOffset);
  target.token_logprobs.push(entry.logprob);
  target.tokens.push(entry.token);
  const top: Record<string, number> = {};
  for (const alternative of entry.top_logprobs) top[alternative.token] = alternative.logprob;
  target.top_logprobs.push(top);
}
