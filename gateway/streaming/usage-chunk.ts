/**
 * The final usage-only chunk OpenAI sends when `stream_options.include_usage` is set. The
 * gateway writes it itself from the billed counts, so what the client sees is what it pays.
 */
import type { ChatCompletionChunk } from "openai/resources/chat/completions";
import type { Completion, CompletionUsage } from "openai/resources/completions";
import type { BilledUsage, Job } from "../jobs/job.ts";

export function openAiUsage(usage: BilledUsage): CompletionUsage {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.totalTokens,
  };
}

export function usageChunk(job: Job, usage: BilledUsage): ChatCompletionChunk | Completion {
  const common = {
    id: job.responseId,
    created: Math.floor(job.createdAt / 1000),
    model: job.spec.model.id,
    usage: openAiUsage(usage),
  };
  return job.spec.operation === "completion"
    ? { ...common, object: "text_completion", choices: [] }
    : { ...common, object: "chat.completion.chunk", choices: [] };
}
