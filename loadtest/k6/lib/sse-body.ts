/**
 * k6 hands a streamed response back whole: this reads an OpenAI chat SSE body after the fact
 * (pure: also unit-tested under Node). It reuses the harness's SSE parser.
 */
import { classifyChatPayload, parseSseText } from "../../lib/sse.ts";

export interface SseBodySummary {
  /** Data events before [DONE]. */
  chunks: number;
  /** Chunks carrying visible text. */
  contentChunks: number;
  done: boolean;
  /** An error event, a payload that is not JSON, or a cut-off event. */
  problem: string | undefined;
}

export function summarizeChatSse(text: string): SseBodySummary {
  const { events, truncated } = parseSseText(text);
  const summary: SseBodySummary = { chunks: 0, contentChunks: 0, done: false, problem: undefined };
  for (const event of events) {
    const kind = classifyChatPayload(event.data);
    if (summary.done) {
      summary.problem ??= "data after [DONE]";
      continue;
    }
    if (kind === "done") summary.done = true;
    else {
      summary.chunks++;
      if (kind === "content") summary.contentChunks++;
      else if (kind === "error") summary.problem ??= `error event: ${event.data.slice(0, 200)}`;
      else if (kind === "invalid") summary.problem ??= `not JSON: ${event.data.slice(0, 200)}`;
    }
  }
  if (truncated) summary.problem ??= "the stream ended inside an event";
  if (!summary.done) summary.problem ??= "no [DONE]";
  return summary;
}
