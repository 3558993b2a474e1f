/**
 * Which token counts a job is billed on: the engine's when it reported them (it ran the real
 * tokenizer), the gateway's own tiktoken count otherwise. Both are kept; `agree` says whether
 * the engine stayed within the model's tolerance of the local count.
 */

export interface TokenCounts {
  promptTokens: number;
  completionTokens: number;
}

export interface PartialTokenCounts {
  promptTokens: number | undefined;
  completionTokens: number | undefined;
}

export interface ReconciledUsage {
  billed: TokenCounts & { totalTokens: number };
  /** Which source each billed figure came from. */
  source: { promptTokens: "engine" | "local"; completionTokens: "engine" | "local" };
  agree: boolean;
}

/** Slack in tokens on top of the fractional tolerance, for very short texts. */
const ABSOLUTE_SLACK_TOKENS = 8;

export function withinTolerance(engineCount: number, localCount: number, tolerance: number): boolean {
  return Math.abs(engineCount - localCount) <= Math.ceil(localCount * tolerance) + ABSOLUTE_SLACK_TOKENS;
}

export function reconcileUsage(
  engine: PartialTokenCounts | undefined,
  local: TokenCounts,
  tolerance: number,
): ReconciledUsage {
  const enginePrompt = validCount(engine?.promptTokens);
  const engineCompletion = validCount(engine?.completionTokens);
  const promptTokens = enginePrompt ?? local.promptTokens;
  const completionTokens = engineCompletion ?? local.completionTokens;
  const agree =
    (enginePrompt === undefined || withinTolerance(enginePrompt, local.promptTokens, tolerance)) &&
    (engineCompletion === undefined || withinTolerance(engineCompletion, local.completionTokens, tolerance));
  return {
    billed: { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens },
    source: {
      promptTokens: enginePrompt === undefined ? "local" : "engine",
      completionTokens: engineCompletion === undefined ? "local" : "engine",
    },
    agree,
  };
}

function validCount(value: number | undefined): number | undefined {
  return value !== undefined && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}
