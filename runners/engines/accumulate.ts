/**
 * Turns an engine stream into one whole OpenAI response for clients that did not ask to stream
 * (engines are always streamed; see engine.ts). The result must validate against OpenAI's spec:
 * `finish_reason` never null, `logprobs: null` when there are none, `message.content` null only
 * for a tool-call answer without text.
 *
 * `outputText()` is what the runner hashes into its receipt: every choice's output, in index
 * order. For chat that is the content, then the refusal, then each tool call's name and argument
 * string, so a tool-call-only answer is still covered by the hash.
 */
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionMessageFunctionToolCall,
  ChatCompletionTokenLogprob,
} from "openai/resources/chat/completions";
import type { Completion, CompletionChoice, CompletionUsage } from "openai/resources/completions";
import { chatCompletionId, completionId, toolCallId } from "./ids.ts";

type ChatFinishReason = ChatCompletion.Choice["finish_reason"];

interface ToolCallState {
  id: string | undefined;
  /** Sent once, in the call's first delta; a repeated name replaces it (as OpenAI's SDK does). */
  name: string;
  arguments: string[];
}

interface ChatChoiceState {
  content: string[];
  refusal: string[];
  sawRefusal: boolean;
  toolCalls: Map<number, ToolCallState>;
  contentLogprobs: ChatCompletionTokenLogprob[] | undefined;
  refusalLogprobs: ChatCompletionTokenLogprob[] | undefined;
  finishReason: ChatFinishReason | undefined;
}

/** Identity fields every chunk of one response repeats; the first chunk's values are kept. */
interface ResponseIdentity {
  id: string;
  created: number;
  model: string;
  systemFingerprint: string | undefined;
}

function identityOf(chunk: {
  id: string;
  created: number;
  model: string;
  system_fingerprint?: string;
}): ResponseIdentity {
  return { id: chunk.id, created: chunk.created, model: chunk.model, systemFingerprint: chunk.system_fingerprint };
}

function sortedByIndex<State>(choices: Map<number, State>): [number, State][] {
  return [...choices.entries()].sort(([left], [right]) => left - right);
}

export class ChatCompletionAccumulator {
  private identity: ResponseIdentity | undefined;
  private readonly choices = new Map<number, ChatChoiceState>();
  private usage: CompletionUsage | undefined;

  add(chunk: ChatCompletionChunk): void {
    this.identity ??= identityOf(chunk);
    // Usage on a chunk is the running total, so the latest wins.
    if (chunk.usage) this.usage = chunk.usage;
    for (const choice of chunk.choices) {
      const state = this.choiceState(choice.index);
      const delta = choice.delta ?? {};
      if (typeof delta.content === "string") {
        state.content.push(delta.content);
      }
      if (typeof delta.refusal === "string") {
        state.refusal.push(delta.refusal);
        state.sawRefusal = true;
      }
      for (const toolCall of delta.tool_calls ?? []) {
        let call = state.toolCalls.get(toolCall.index);
        if (!call) {
          call = { id: undefined, name: "", arguments: [] };
          state.toolCalls.set(toolCall.index, call);
        }
        if (toolCall.id) call.id = toolCall.id;
        if (toolCall.function?.name) call.name = toolCall.function.name;
        if (toolCall.function?.arguments) call.arguments.push(toolCall.function.arguments);
      }
      if (choice.logprobs?.content) {
        state.contentLogprobs ??= [];
        for (const entry of choice.logprobs.content) state.contentLogprobs.push(entry);
      }
      if (choice.logprobs?.refusal) {
        state.refusalLogprobs ??= [];
        for (const entry of choice.logprobs.refusal) state.refusalLogprobs.push(entry);
      }
      if (choice.finish_reason) state.finishReason = choice.finish_reason;
    }
  }

  /** The whole response; `usage` overrides the usage seen in the chunks. */
  toCompletion(usage?: CompletionUsage): ChatCompletion {
    const identity = this.identity ?? {
      id: chatCompletionId(),
      created: nowSeconds(),
      model: "",
      systemFingerprint: undefined,
    };
    const completion: ChatCompletion = {
      id: identity.id,
      object: "chat.completion",
      created: identity.created,
      model: identity.model,
      choices: sortedByIndex(this.choices).map(([index, state]) => {
        const toolCalls = sortedByIndex(state.toolCalls).map(
          ([, call]): ChatCompletionMessageFunctionToolCall => ({
            id: call.id ?? toolCallId(),
            type: "function",
            function: { name: call.name, arguments: call.arguments.join("") },
          }),
        );
        const text = state.content.join("");
        const hasLogprobs = state.contentLogprobs !== undefined || state.refusalLogprobs !== undefined;
        return {
          index,
          message: {
            role: "assistant",
            content: text === "" && toolCalls.length > 0 ? null : text,
            refusal: state.sawRefusal ? state.refusal.join("") : null,
            ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
          },
          logprobs: hasLogprobs
            ? { content: state.contentLogprobs ?? null, refusal: state.refusalLogprobs ?? null }
            : null,
          // A stream cut short has no reason; what it produced ended like this.
          finish_reason: state.finishReason ?? (toolCalls.length > 0 ? "tool_calls" : "stop"),
        };
      }),
    };
    if (identity.systemFingerprint !== undefined) completion.system_fingerprint = identity.systemFingerprint;
    const finalUsage = usage ?? this.usage;
    if (finalUsage) completion.usage = finalUsage;
    return completion;
  }

  outputText(): string {
    const parts: string[] = [];
    for (const [, state] of sortedByIndex(this.choices)) {
      parts.push(state.content.join(""), state.refusal.join(""));
      for (const [, call] of sortedByIndex(state.toolCalls)) parts.push(call.name, call.arguments.join(""));
    }
    return parts.join("");
  }

  private choiceState(index: number): ChatChoiceState {
    let state = this.choices.get(index);
    if (!state) {
      state = {
        content: [],
        refusal: [],
        sawRefusal: false,
        toolCalls: new Map(),
        contentLogprobs: undefined,
        refusalLogprobs: undefined,
        finishReason: undefined,
      };
      this.choices.set(index, state);
    }
    return state;
  }
}

type CompletionLogprobs = CompletionChoice.Logprobs;

interface CompletionChoiceState {
  text: string[];
  logprobs: Required<CompletionLogprobs> | undefined;
  finishReason: CompletionChoice["finish_reason"] | undefined;
}

export class CompletionAccumulator {
  private identity: ResponseIdentity | undefined;
  private readonly choices = new Map<number, CompletionChoiceState>();
  private usage: CompletionUsage | undefined;

  add(chunk: Completion): void {
    this.identity ??= identityOf(chunk);
    if (chunk.usage) this.usage = chunk.usage;
    for (const choice of chunk.choices) {
      let state = this.choices.get(choice.index);
      if (!state) {
        state = { text: [], logprobs: undefined, finishReason: undefined };
        this.choices.set(choice.index, state);
      }
      if (typeof choice.text === "string") state.text.push(choice.text);
      if (choice.logprobs) {
        state.logprobs ??= { text_offset: [], token_logprobs: [], tokens: [], top_logprobs: [] };
        state.logprobs.text_offset.push(...(choice.logprobs.text_offset ?? []));
        state.logprobs.token_logprobs.push(...(choice.logprobs.token_logprobs ?? []));
        state.logprobs.tokens.push(...(choice.logprobs.tokens ?? []));
        state.logprobs.top_logprobs.push(...(choice.logprobs.top_logprobs ?? []));
      }
      // Streamed completion chunks carry null until the last one, whatever the type says.
      if (choice.finish_reason) state.finishReason = choice.finish_reason;
    }
  }

  toCompletion(usage?: CompletionUsage): Completion {
    const identity = this.identity ?? {
      id: completionId(),
      created: nowSeconds(),
      model: "",
      systemFingerprint: undefined,
    };
    const completion: Completion = {
      id: identity.id,
      object: "text_completion",
      created: identity.created,
      model: identity.model,
      choices: sortedByIndex(this.choices).map(([index, state]) => ({
        index,
        text: state.text.join(""),
        logprobs: state.logprobs ?? null,
        finish_reason: state.finishReason ?? "stop",
      })),
    };
    if (identity.systemFingerprint !== undefined) completion.system_fingerprint = identity.systemFingerprint;
    const finalUsage = usage ?? this.usage;
    if (finalUsage) completion.usage = finalUsage;
    return completion;
  }

  outputText(): string {
    return sortedByIndex(this.choices)
      .map(([, state]) => state.text.join(""))
      .join("");
  }
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
