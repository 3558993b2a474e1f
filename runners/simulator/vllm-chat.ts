/** `POST /v1/chat/completions` as vLLM answers it, streamed or whole. */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { SimulatorContext } from "./context.ts";
import { type GenerationChoice, GenerationRun, type GenerationSink } from "./generation.ts";
import { headerValue, sendJson } from "./http-io.ts";
import { type ChatTokenLogprob, sampleLogprobs } from "./logprobs.ts";
import { type OutputMode, type PlannedChoice, planChoices, requestSeed } from "./output-plan.ts";
import type { SimulatorFault } from "./server.ts";
import { chatPromptTokenIds, type PromptMessage, type TokenPiece } from "./tokenizer.ts";
import { sendVllmError, VllmChunkStream, vllmRequestId, vllmUsage } from "./vllm-http.ts";
import {
  type ChatMessage,
  type ChatRequest,
  chatRequestSchema,
  contextProblem,
  describeIssues,
  logprobsProblem,
  samplingProblem,
} from "./vllm-schemas.ts";

/** The text a message contributes to the prompt count, in the gateway's order (billing/tokens.ts). */
function promptMessage(message: ChatMessage): PromptMessage {
  let text = "";
  if (typeof message.content === "string") text = message.content;
  else if (Array.isArray(message.content)) {
    for (const part of message.content) if (part.type === "text" && typeof part.text === "string") text += part.text;
  }
  if (message.role === "assistant" && message.tool_calls) {
    for (const toolCall of message.tool_calls) text += toolCall.function.name + toolCall.function.arguments;
  }
  if (message.role === "tool" && message.tool_call_id) text += message.tool_call_id;
  return { role: message.role, text, name: message.name };
}

function chatOutputMode(request: ChatRequest): { mode: OutputMode; forcedTool: boolean } | string {
  const tools = request.tools ?? [];
  const toolChoice = request.tool_choice;
  const specs = tools.map((tool) => ({ name: tool.function.name, parameters: tool.function.parameters }));
  if (tools.length === 0 && (toolChoice === "required" || typeof toolChoice === "object")) {
    return "When using `tool_choice`, `tools` must be set.";
  }
  if (typeof toolChoice === "object" && toolChoice !== null) {
    const name = toolChoice.function.name;
    if (!specs.some((spec) => spec.name === name)) return `Tool '${name}' has not been passed in \`tools\`.`;
    return { mode: { kind: "tool", tools: specs, forcedName: name }, forcedTool: true };
  }
  if (tools.length > 0 && toolChoice === "required")
    return { mode: { kind: "tool", tools: specs, forcedName: undefined }, forcedTool: true };
  // "auto": like a model, call a tool right after the user speaks, answer in words after a tool result.
  if (tools.length > 0 && toolChoice !== "none" && request.messages.at(-1)?.role === "user") {
    return { mode: { kind: "tool", tools: specs, forcedName: undefined }, forcedTool: false };
  }
  const format = request.response_format;
  if (format?.type === "json_object") return { mode: { kind: "json", schema: undefined }, forcedTool: false };
  if (format?.type === "json_schema")
    return { mode: { kind: "json", schema: format.json_schema.schema ?? undefined }, forcedTool: false };
  return { mode: { kind: "text" }, forcedTool: false };
}

export function handleChatCompletions(
  context: SimulatorContext,
  request: IncomingMessage,
  response: ServerResponse,
  body: unknown,
  fault: SimulatorFault | undefined,
): void {
  const parsed = chatRequestSchema.safeParse(body);
  if (!parsed.success) {
    sendVllmError(response, 400, describeIssues(parsed.error));
    return;
  }
  const chat = parsed.data;
  const problem =
    samplingProblem(chat) ??
    (chat.top_logprobs !== undefined && chat.top_logprobs !== null && !chat.logprobs
      ? "when using `top_logprobs`, `logprobs` must be set to true."
      : logprobsProblem(chat.top_logprobs));
  if (problem !== undefined) {
    sendVllmError(response, 400, problem);
    return;
  }
  const model = context.vllmModelsByName.get(chat.model);
  if (model === undefined) {
    sendVllmError(response, 404, `The model \`${chat.model}\` does not exist.`);
    return;
  }
  if (model.kind !== "chat") {
    sendVllmError(response, 400, "The model does not support Chat Completions API");
    return;
  }
  const output = chatOutputMode(chat);
  if (typeof output === "string") {
    sendVllmError(response, 400, output);
    return;
  }

  // Tools are counted from the body as sent: re-serialising parsed objects could reorder keys.
  const rawTools = (body as { tools?: unknown }).tools;
  const toolsJson = Array.isArray(rawTools) && rawTools.length > 0 ? JSON.stringify(rawTools) : undefined;
  const messages = chat.messages.map(promptMessage);
  const promptTokenIds = chatPromptTokenIds(messages, toolsJson);
  const requestedMaxTokens = chat.max_completion_tokens ?? chat.max_tokens ?? undefined;
  const tooLong = contextProblem(model.contextLength, promptTokenIds.length, requestedMaxTokens);
  if (tooLong !== undefined) {
    sendVllmError(response, 400, tooLong);
    return;
  }

  const choiceCount = chat.n ?? 1;
  const planned = planChoices(
    {
      model,
      promptKey:
        messages.map((message) => `${message.role}\u0000${message.name ?? ""}\u0000${message.text}`).join("\u0001") +
        (toolsJson ?? ""),
      seed: chat.seed,
      temperature: chat.temperature,
      choiceCount,
      firstIndex: 0,
      maxTokens: Math.min(
        requestedMaxTokens ?? context.options.defaultMaxTokens,
        model.contextLength - promptTokenIds.length,
      ),
      ignoreEos: chat.ignore_eos ?? false,
      stop: typeof chat.stop === "string" ? [chat.stop] : (chat.stop ?? []),
      output: output.mode,
    },
    requestSeed(chat.seed, chat.temperature),
  );
  const id = vllmRequestId("chatcmpl", request);
  const run = new GenerationRun(context, {
    api: "vllm",
    requestId: headerValue(request, "x-request-id") ?? id,
    requestedModel: chat.model,
    cacheNamespace: model.id,
    prompts: [promptTokenIds],
    choices: planned.map((entry) => entry.choice),
    fault,
    response,
  });
  const settings: ChatSinkSettings = {
    id,
    created: Math.floor(Date.now() / 1000),
    model: chat.model,
    topLogprobs: chat.logprobs ? (chat.top_logprobs ?? 0) : undefined,
    forcedTool: output.forcedTool,
  };
  const stream = chat.stream ?? false;
  const usage = {
    includeUsage: chat.stream_options?.include_usage ?? false,
    continuousUsage: chat.stream_options?.continuous_usage_stats ?? false,
  };
  run.start(
    stream
      ? new ChatStreamSink(response, run, planned, settings, usage)
      : new ChatResponseSink(response, run, planned, settings),
  );
}

interface ChatSinkSettings {
  id: string;
  created: number;
  model: string;
  /** Top alternatives per token when logprobs were asked for; undefined when not. */
  topLogprobs: number | undefined;
  /** tool_choice named a function or "required" (vLLM then answers content "" rather than null). */
  forcedTool: boolean;
}

class ChatStreamSink implements GenerationSink {
  private readonly stream: VllmChunkStream;
  private readonly toolCallOpened: boolean[];

  constructor(
    response: ServerResponse,
    run: GenerationRun,
    private readonly planned: readonly PlannedChoice[],
    private readonly settings: ChatSinkSettings,
    usage: { includeUsage: boolean; continuousUsage: boolean },
  ) {
    this.stream = new VllmChunkStream(
      response,
      run,
      { id: settings.id, object: "chat.completion.chunk", created: settings.created, model: settings.model },
      usage,
    );
    this.toolCallOpened = planned.map(() => false);
  }

  begin(): boolean {
    let writable = true;
    for (const { choice } of this.planned) {
      writable =
        this.stream.writeChoice(
          `{"index":${choice.index},"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}`,
        ) && writable;
    }
    return writable;
  }

  token(choice: GenerationChoice, piece: TokenPiece, visibleText: string): boolean {
    if (visibleText === "") return true;
    const textJson = visibleText === piece.text ? piece.json : JSON.stringify(visibleText);
    let delta: string;
    if (choice.toolCall === undefined) delta = `{"content":${textJson}}`;
    else if (this.toolCallOpened[choice.index])
      delta = `{"tool_calls":[{"index":0,"function":{"arguments":${textJson}}}]}`;
    else {
      this.toolCallOpened[choice.index] = true;
      delta = `{"tool_calls":[{"index":0,"id":${JSON.stringify(choice.toolCall.id)},"type":"function","function":{"name":${JSON.stringify(choice.toolCall.name)},"arguments":${textJson}}}]}`;
    }
    let logprobs = "null";
    const top = this.settings.topLogprobs;
    const random = this.planned[choice.index]?.logprobRandom;
    if (top !== undefined && random !== undefined)
      logprobs = `{"content":[${JSON.stringify(sampleLogprobs(piece, random, top))}]}`;
    return this.stream.writeChoice(
      `{"index":${choice.index},"delta":${delta},"logprobs":${logprobs},"finish_reason":null}`,
    );
  }

  finishChoice(choice: GenerationChoice, trailingText: string): boolean {
    let writable = true;
    if (trailingText !== "") {
      writable = this.stream.writeChoice(
        `{"index":${choice.index},"delta":{"content":${JSON.stringify(trailingText)}},"logprobs":null,"finish_reason":null}`,
      );
    }
    const stopReason = choice.stopReason === undefined ? "null" : JSON.stringify(choice.stopReason);
    return (
      this.stream.writeChoice(
        `{"index":${choice.index},"delta":{},"logprobs":null,"finish_reason":"${choice.finishReason}","stop_reason":${stopReason}}`,
      ) && writable
    );
  }

  complete(): void {
    this.stream.finish();
  }
}

class ChatResponseSink implements GenerationSink {
  private readonly texts: string[];
  private readonly logprobs: ChatTokenLogprob[][];

  constructor(
    private readonly response: ServerResponse,
    private readonly run: GenerationRun,
    private readonly planned: readonly PlannedChoice[],
    private readonly settings: ChatSinkSettings,
  ) {
    this.texts = planned.map(() => "");
    this.logprobs = planned.map(() => []);
  }

  begin(): boolean {
    return true;
  }

  token(choice: GenerationChoice, piece: TokenPiece, visibleText: string): boolean {
    this.texts[choice.index] = (this.texts[choice.index] ?? "") + visibleText;
    const random = this.planned[choice.index]?.logprobRandom;
    if (this.settings.topLogprobs !== undefined && random !== undefined)
      this.logprobs[choice.index]?.push(sampleLogprobs(piece, random, this.settings.topLogprobs));
    return true;
  }

  finishChoice(choice: GenerationChoice, trailingText: string): boolean {
    this.texts[choice.index] = (this.texts[choice.index] ?? "") + trailingText;
    return true;
  }

  complete(): void {
    const choices = this.planned.map(({ choice }) => {
      const text = this.texts[choice.index] ?? "";
      const toolCall = choice.toolCall;
      return {
        index: choice.index,
        message: {
          role: "assistant",
          content: toolCall === undefined ? text : this.settings.forcedTool ? "" : null,
          refusal: null,
          annotations: null,
          audio: null,
          function_call: null,
          tool_calls:
            toolCall === undefined
              ? []
              : [{ id: toolCall.id, type: "function", function: { name: toolCall.name, arguments: text } }],
          reasoning_content: null,
        },
        logprobs: this.settings.topLogprobs === undefined ? null : { content: this.logprobs[choice.index] ?? [] },
        finish_reason: choice.finishReason ?? "stop",
        stop_reason: choice.stopReason ?? null,
      };
    });
    sendJson(
      this.response,
      200,
      JSON.stringify({
        id: this.settings.id,
        object: "chat.completion",
        created: this.settings.created,
        model: this.settings.model,
        choices,
        service_tier: null,
        system_fingerprint: null,
        usage: vllmUsage(this.run),
        prompt_logprobs: null,
        kv_transfer_params: null,
      }),
    );
  }
}
