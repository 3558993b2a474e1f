/** Ollama's `POST /api/chat` and `POST /api/generate`: NDJSON streams or one JSON object. */
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { ModelTemplate } from "../../models/catalog.ts";
import type { SimulatorContext } from "./context.ts";
import { type GenerationChoice, GenerationRun, type GenerationSink } from "./generation.ts";
import { canWrite, headerValue, sendJson } from "./http-io.ts";
import { ollamaTimestamp, sendOllamaError } from "./ollama-http.ts";
import { parseKeepAlive } from "./ollama-registry.ts";
import {
  describeOllamaIssues,
  type OllamaChatRequest,
  type OllamaGenerateRequest,
  type OllamaMessage,
  type OllamaModelOptions,
  ollamaChatSchema,
  ollamaGenerateSchema,
} from "./ollama-schemas.ts";
import { type OutputMode, planChoices, requestSeed } from "./output-plan.ts";
import type { SimulatorFault } from "./server.ts";
import { chatPromptTokenIds, encodeText, type PromptMessage, type TokenPiece } from "./tokenizer.ts";

type OllamaEndpoint = "chat" | "generate";

interface PreparedGeneration {
  model: ModelTemplate;
  requestedModel: string;
  promptKey: string;
  promptTokenIds: ArrayLike<number>;
  options: OllamaModelOptions | null | undefined;
  output: OutputMode;
  stream: boolean;
  /** performance.now() when the handler took the request: Ollama's load_duration starts here. */
  receivedAtMonotonic: number;
}

function ollamaPromptMessage(message: OllamaMessage): PromptMessage {
  let text = message.content ?? "";
  for (const toolCall of message.tool_calls ?? [])
    text += toolCall.function.name + JSON.stringify(toolCall.function.arguments ?? {});
  return { role: message.role, text };
}

function formatOutput(format: OllamaChatRequest["format"]): OutputMode {
  if (format === "json") return { kind: "json", schema: undefined };
  if (typeof format === "object" && format !== null) return { kind: "json", schema: format };
  return { kind: "text" };
}

/** The present chat model of that name; otherwise answers Ollama's error itself and returns undefined. */
function resolveModel(
  context: SimulatorContext,
  response: ServerResponse,
  name: string,
  endpoint: OllamaEndpoint,
): ModelTemplate | undefined {
  if (name.trim() === "") {
    sendOllamaError(response, 400, "model is required");
    return undefined;
  }
  const model = context.ollamaModels.findPresent(name);
  if (model === undefined) {
    sendOllamaError(response, 404, `model "${name}" not found, try pulling it first`);
    return undefined;
  }
  if (model.kind !== "chat") {
    sendOllamaError(response, 400, `"${name}" does not support ${endpoint}`);
    return undefined;
  }
  return model;
}

function answerLoad(
  context: SimulatorContext,
  response: ServerResponse,
  model: ModelTemplate,
  requestedModel: string,
  keepAlive: string | number | null | undefined,
  endpoint: OllamaEndpoint,
): void {
  const keepAliveMs = parseKeepAlive(keepAlive);
  context.ollamaModels.markUsed(model, keepAliveMs, undefined);
  const reply = endpoint === "chat" ? { message: { role: "assistant", content: "" } } : { response: "" };
  sendJson(
    response,
    200,
    JSON.stringify({
      model: requestedModel,
      created_at: ollamaTimestamp(),
      ...reply,
      done_reason: keepAliveMs === 0 ? "unload" : "load",
      done: true,
    }),
  );
}

export function handleOllamaChat(
  context: SimulatorContext,
  request: IncomingMessage,
  response: ServerResponse,
  body: unknown,
  fault: SimulatorFault | undefined,
): void {
  const receivedAtMonotonic = performance.now();
  const parsed = ollamaChatSchema.safeParse(body);
  if (!parsed.success) {
    sendOllamaError(response, 400, describeOllamaIssues(parsed.error));
    return;
  }
  const chat = parsed.data;
  const model = resolveModel(context, response, chat.model, "chat");
  if (model === undefined) return;
  const messages = chat.messages ?? [];
  if (messages.length === 0) {
    answerLoad(context, response, model, chat.model, chat.keep_alive, "chat");
    return;
  }
  const rawTools = (body as { tools?: unknown }).tools;
  const toolsJson = Array.isArray(rawTools) && rawTools.length > 0 ? JSON.stringify(rawTools) : undefined;
  const promptMessages = messages.map(ollamaPromptMessage);
  const tools = chat.tools ?? [];
  // Like a model with tools: call one when the user just spoke, answer in words after a tool result.
  const callsTool = tools.length > 0 && messages.at(-1)?.role === "user";
  startGeneration(context, request, response, fault, chat, "chat", {
    model,
    requestedModel: chat.model,
    promptKey:
      promptMessages.map((message) => `${message.role}\u0000${message.text}`).join("\u0001") + (toolsJson ?? ""),
    promptTokenIds: chatPromptTokenIds(promptMessages, toolsJson),
    options: chat.options,
    output: callsTool
      ? {
          kind: "tool",
          tools: tools.map((tool) => ({ name: tool.function.name, parameters: tool.function.parameters })),
          forcedName: undefined,
        }
      : formatOutput(chat.format),
    stream: chat.stream ?? true,
    receivedAtMonotonic,
  });
}

export function handleOllamaGenerate(
  context: SimulatorContext,
  request: IncomingMessage,
  response: ServerResponse,
  body: unknown,
  fault: SimulatorFault | undefined,
): void {
  const receivedAtMonotonic = performance.now();
  const parsed = ollamaGenerateSchema.safeParse(body);
  if (!parsed.success) {
    sendOllamaError(response, 400, describeOllamaIssues(parsed.error));
    return;
  }
  const generate = parsed.data;
  const model = resolveModel(context, response, generate.model, "generate");
  if (model === undefined) return;
  const prompt = generate.prompt ?? "";
  if (prompt === "") {
    answerLoad(context, response, model, generate.model, generate.keep_alive, "generate");
    return;
  }
  // Without `raw` the prompt goes through the chat template, so it is counted like a chat.
  const messages: PromptMessage[] = generate.system
    ? [
        { role: "system", text: generate.system },
        { role: "user", text: prompt },
      ]
    : [{ role: "user", text: prompt }];
  startGeneration(context, request, response, fault, generate, "generate", {
    model,
    requestedModel: generate.model,
    promptKey: `${generate.system ?? ""}\u0001${prompt}`,
    promptTokenIds: generate.raw ? encodeText(prompt) : chatPromptTokenIds(messages),
    options: generate.options,
    output: formatOutput(generate.format),
    stream: generate.stream ?? true,
    receivedAtMonotonic,
  });
}

function startGeneration(
  context: SimulatorContext,
  request: IncomingMessage,
  response: ServerResponse,
  fault: SimulatorFault | undefined,
  body: OllamaChatRequest | OllamaGenerateRequest,
  endpoint: OllamaEndpoint,
  prepared: PreparedGeneration,
): void {
  const options = prepared.options ?? {};
  const numPredict = options.num_predict ?? -1;
  const stop = options.stop ?? [];
  const planned = planChoices(
    {
      model: prepared.model,
      promptKey: prepared.promptKey,
      seed: options.seed,
      temperature: options.temperature,
      choiceCount: 1,
      firstIndex: 0,
      // num_predict: -1 (or -2) means no limit: the answer ends on its own, under the default cap.
      maxTokens: numPredict >= 0 ? numPredict : context.options.defaultMaxTokens,
      ignoreEos: false,
      stop: typeof stop === "string" ? [stop] : stop,
      output: prepared.output,
    },
    requestSeed(options.seed, options.temperature),
  );
  context.ollamaModels.markUsed(prepared.model, parseKeepAlive(body.keep_alive), options.num_ctx ?? undefined);
  const run = new GenerationRun(context, {
    api: "ollama",
    requestId: headerValue(request, "x-request-id") ?? randomUUID(),
    requestedModel: prepared.requestedModel,
    cacheNamespace: prepared.model.id,
    prompts: [prepared.promptTokenIds],
    choices: planned.map((entry) => entry.choice),
    fault,
    response,
  });
  run.start(new OllamaSink(response, run, endpoint, prepared));
}

const NANOSECONDS_PER_MS = 1_000_000;

function nanoseconds(milliseconds: number): number {
  return Math.max(0, Math.round(milliseconds * NANOSECONDS_PER_MS));
}

/** Writes Ollama's NDJSON lines (stream) or its single object; one choice only. */
class OllamaSink implements GenerationSink {
  private text = "";
  private readonly outputTokenIds: number[] = [];
  private readonly linePrefix: string;
  private readonly contentField: string;

  constructor(
    private readonly response: ServerResponse,
    private readonly run: GenerationRun,
    private readonly endpoint: OllamaEndpoint,
    private readonly prepared: PreparedGeneration,
  ) {
    this.linePrefix = `{"model":${JSON.stringify(prepared.requestedModel)},"created_at":"`;
    this.contentField = endpoint === "chat" ? `","message":{"role":"assistant","content":` : `","response":`;
    if (prepared.stream) {
      response.writeHead(200, { "content-type": "application/x-ndjson" });
      response.flushHeaders();
    }
  }

  begin(): boolean {
    return true;
  }

  token(choice: GenerationChoice, piece: TokenPiece, visibleText: string): boolean {
    this.text += visibleText;
    if (this.endpoint === "generate") this.outputTokenIds.push(piece.id);
    // Ollama parses a tool call whole and sends it in one message when it is complete.
    if (!this.prepared.stream || visibleText === "" || choice.toolCall !== undefined) return true;
    const textJson = visibleText === piece.text ? piece.json : JSON.stringify(visibleText);
    const closing = this.endpoint === "chat" ? "}" : "";
    return this.write(
      `${this.linePrefix}${ollamaTimestamp()}${this.contentField}${textJson}${closing},"done":false}\n`,
    );
  }

  finishChoice(choice: GenerationChoice, trailingText: string): boolean {
    this.text += trailingText;
    if (!this.prepared.stream) return true;
    if (choice.toolCall !== undefined)
      return this.write(
        `${JSON.stringify({ model: this.prepared.requestedModel, created_at: ollamaTimestamp(), message: this.assistantMessage(choice), done: false })}\n`,
      );
    if (trailingText === "") return true;
    return this.write(
      `${JSON.stringify({ model: this.prepared.requestedModel, created_at: ollamaTimestamp(), ...this.reply(trailingText), done: false })}\n`,
    );
  }

  complete(): void {
    const choice = this.run.job.choices[0];
    const { run } = this;
    const firstTokenAt = run.firstTokenAtMonotonic ?? run.startedAtMonotonic;
    const finishedAt = run.finishedAtMonotonic ?? performance.now();
    const final = {
      model: this.prepared.requestedModel,
      created_at: ollamaTimestamp(),
      ...(this.prepared.stream
        ? this.reply("")
        : choice?.toolCall !== undefined
          ? { message: this.assistantMessage(choice) }
          : this.reply(this.text)),
      done: true,
      done_reason: choice?.finishReason === "length" ? "length" : "stop",
      ...(this.endpoint === "generate"
        ? { context: [...Array.from(this.prepared.promptTokenIds), ...this.outputTokenIds] }
        : {}),
      total_duration: nanoseconds(finishedAt - this.prepared.receivedAtMonotonic),
      load_duration: nanoseconds(run.startedAtMonotonic - this.prepared.receivedAtMonotonic),
      prompt_eval_count: run.promptTokens,
      prompt_eval_duration: nanoseconds(firstTokenAt - run.startedAtMonotonic),
      eval_count: run.completionTokens,
      eval_duration: nanoseconds(finishedAt - firstTokenAt),
    };
    if (this.prepared.stream) {
      if (canWrite(this.response)) this.response.end(`${JSON.stringify(final)}\n`);
    } else {
      sendJson(this.response, 200, JSON.stringify(final));
    }
  }

  private reply(text: string): { message: { role: string; content: string } } | { response: string } {
    return this.endpoint === "chat" ? { message: { role: "assistant", content: text } } : { response: text };
  }

  /** The tool call as Ollama returns it: arguments as an object; unparseable (cut short) stays text. */
  private assistantMessage(choice: GenerationChoice): {
    role: string;
    content: string;
    tool_calls?: { function: { name: string; arguments: unknown } }[];
  } {
    const toolCall = choice.toolCall;
    if (toolCall === undefined) return { role: "assistant", content: this.text };
    try {
      return {
        role: "assistant",
        content: "",
        tool_calls: [{ function: { name: toolCall.name, arguments: JSON.parse(this.text) as unknown } }],
      };
    } catch {
      return { role: "assistant", content: this.text };
    }
  }

  private write(line: string): boolean {
    return canWrite(this.response) ? this.response.write(line) : true;
  }
}
