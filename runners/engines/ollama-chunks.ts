/**
 * Ollama's native stream messages → OpenAI chunk objects, in the order OpenAI sends them: a role
 * chunk, content (or tool-call) chunks, a chunk with the finish reason, then a usage-only chunk.
 *
 * Usage: Ollama reports `prompt_eval_count`/`eval_count` only in its last (`done`) message, and
 * OpenAI's usage type cannot say "prompt tokens unknown", so content chunks carry no `usage`; the
 * running completion count is kept by the stream's UsageTracker instead (see engine-stream.ts).
 * The usage-only chunk is sent when Ollama reported both counts (it omits the prompt count when
 * the whole prompt came from its cache; then the tracker still has the completion count).
 */
import type { ChatResponse, GenerateResponse, ToolCall } from "ollama";
import type { ChatCompletionChunk } from "openai/resources/chat/completions";
import type { Completion, CompletionChoice, CompletionUsage } from "openai/resources/completions";
import type { UsageTracker } from "./engine-stream.ts";
import { chatCompletionId, completionId, toolCallId } from "./ids.ts";

type ChatFinishReason = NonNullable<ChatCompletionChunk.Choice["finish_reason"]>;

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** Ollama's final counts when it gave both; records whatever it gave on the tracker. */
function finalUsage(message: ChatResponse | GenerateResponse, tracker: UsageTracker): CompletionUsage | undefined {
  const prompt = typeof message.prompt_eval_count === "number" ? message.prompt_eval_count : undefined;
  const completion = typeof message.eval_count === "number" ? message.eval_count : undefined;
  tracker.report(prompt, completion);
  if (prompt === undefined || completion === undefined) return undefined;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

export class OllamaChatChunker {
  private readonly id = chatCompletionId();
  private readonly created = nowSeconds();
  private sentRole = false;
  private toolCalls = 0;

  constructor(
    private readonly model: string,
    private readonly tracker: UsageTracker,
  ) {}

  /** The OpenAI chunks for one Ollama message. */
  map(message: ChatResponse): ChatCompletionChunk[] {
    const chunks: ChatCompletionChunk[] = [];
    if (!this.sentRole) {
      this.sentRole = true;
      chunks.push(this.chunk({ role: "assistant", content: "" }, null));
    }
    const content = message.message?.content;
    if (content) {
      this.tracker.countPiece();
      chunks.push(this.chunk({ content }, null));
    }
    const toolCalls = message.message?.tool_calls;
    if (toolCalls && toolCalls.length > 0) {
      this.tracker.countPiece();
      chunks.push(this.chunk({ tool_calls: toolCalls.map((call) => this.toolCallDelta(call)) }, null));
    }
    if (message.done) {
      chunks.push(this.chunk({}, this.finishReason(message.done_reason)));
      const usage = finalUsage(message, this.tracker);
      if (usage) chunks.push({ ...this.base(), choices: [], usage });
    }
    return chunks;
  }

  private toolCallDelta(call: ToolCall): ChatCompletionChunk.Choice.Delta.ToolCall {
    const index = this.toolCalls;
    this.toolCalls += 1;
    return {
      index,
      id: toolCallId(),
      type: "function",
      function: { name: call.function.name, arguments: JSON.stringify(call.function.arguments ?? {}) },
    };
  }

  private finishReason(doneReason: string | undefined): ChatFinishReason {
    if (doneReason === "length") return "length";
    // Ollama says "stop" after tool calls; OpenAI clients look for "tool_calls".
    return this.toolCalls > 0 ? "tool_calls" : "stop";
  }

  private base(): Omit<ChatCompletionChunk, "choices"> {
    return { id: this.id, object: "chat.completion.chunk", created: this.created, model: this.model };
  }

  private chunk(delta: ChatCompletionChunk.Choice.Delta, finishReason: ChatFinishReason | null): ChatCompletionChunk {
    return { ...this.base(), choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }] };
  }
}

type CompletionFinishReason = CompletionChoice["finish_reason"];

export class OllamaCompletionChunker {
  private readonly id = completionId();
  private readonly created = nowSeconds();

  constructor(
    private readonly model: string,
    private readonly tracker: UsageTracker,
  ) {}

  map(message: GenerateResponse): Completion[] {
    const chunks: Completion[] = [];
    if (message.response) {
      this.tracker.countPiece();
      chunks.push(this.chunk(message.response, null));
    }
    if (message.done) {
      chunks.push(this.chunk("", message.done_reason === "length" ? "length" : "stop"));
      const usage = finalUsage(message, this.tracker);
      if (usage) chunks.push({ ...this.base(), choices: [], usage });
    }
    return chunks;
  }

  private base(): Omit<Completion, "choices"> {
    return { id: this.id, object: "text_completion", created: this.created, model: this.model };
  }

  private chunk(text: string, finishReason: CompletionFinishReason | null): Completion {
    const choice = { index: 0, text, logprobs: null, finish_reason: finishReason };
    // Streamed completion chunks carry finish_reason null until the last, as OpenAI and vLLM send
    // them; the SDK's type only describes the whole response, hence the one widening cast.
    return { ...this.base(), choices: [choice as CompletionChoice] };
  }
}
