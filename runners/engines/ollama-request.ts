/**
 * OpenAI request bodies → Ollama's native `/api/chat`, `/api/generate` and `/api/embed` bodies.
 * What Ollama cannot do is refused with a BAD_REQUEST naming the parameter (not retryable: no
 * Ollama runner could do it), never silently dropped: a client asking for two choices or
 * logprobs must not be billed for an answer without them.
 */
import type { ChatRequest, EmbedRequest, GenerateRequest, Message, Options, Tool, ToolCall } from "ollama";
import type {
  ChatCompletionContentPart,
  ChatCompletionContentPartRefusal,
  ChatCompletionContentPartText,
  ChatCompletionCreateParamsStreaming,
  ChatCompletionMessageParam,
} from "openai/resources/chat/completions";
import type { CompletionCreateParamsStreaming } from "openai/resources/completions";
import type { EmbeddingCreateParams } from "openai/resources/embeddings";
import { isRecord, unsupportedParameter } from "./errors.ts";

interface SamplingParams {
  max_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  seed?: number | null;
  stop?: string | null | string[];
  presence_penalty?: number | null;
  frequency_penalty?: number | null;
}

function samplingOptions(params: SamplingParams, maxTokens: number | null | undefined): Partial<Options> {
  const options: Partial<Options> = {};
  if (maxTokens != null) options.num_predict = maxTokens;
  if (params.temperature != null) options.temperature = params.temperature;
  if (params.top_p != null) options.top_p = params.top_p;
  if (params.seed != null) options.seed = params.seed;
  if (params.presence_penalty != null) options.presence_penalty = params.presence_penalty;
  if (params.frequency_penalty != null) options.frequency_penalty = params.frequency_penalty;
  if (typeof params.stop === "string") options.stop = [params.stop];
  else if (Array.isArray(params.stop) && params.stop.length > 0) options.stop = params.stop;
  return options;
}

function rejectLogitBias(logitBias: Record<string, number> | null | undefined): void {
  if (logitBias && Object.keys(logitBias).length > 0) {
    throw unsupportedParameter("logit_bias", "Ollama cannot bias token logits");
  }
}

export function toOllamaChatRequest(request: ChatCompletionCreateParamsStreaming): ChatRequest & { stream: true } {
  if (request.n != null && request.n !== 1) {
    throw unsupportedParameter("n", `Ollama returns one choice per request; got n=${request.n}, send n=1`);
  }
  if (request.logprobs) throw unsupportedParameter("logprobs", "Ollama does not return token log probabilities here");
  if (request.top_logprobs != null && request.top_logprobs > 0) {
    throw unsupportedParameter("top_logprobs", "Ollama does not return token log probabilities here");
  }
  rejectLogitBias(request.logit_bias);
  if (request.functions || request.function_call) {
    throw unsupportedParameter("functions", "the deprecated functions API is not mapped; use tools");
  }
  if (request.audio || request.modalities?.includes("audio")) {
    throw unsupportedParameter("audio", "Ollama produces text only");
  }
  const toolChoice = request.tool_choice;
  if (toolChoice !== undefined && toolChoice !== "auto" && toolChoice !== "none") {
    throw unsupportedParameter("tool_choice", 'Ollama cannot force a tool call; use "auto" or "none"');
  }

  const chatRequest: ChatRequest & { stream: true } = {
    model: request.model,
    messages: toOllamaMessages(request.messages),
    stream: true,
    options: samplingOptions(request, request.max_completion_tokens ?? request.max_tokens),
  };
  if (request.tools && request.tools.length > 0 && toolChoice !== "none") {
    chatRequest.tools = request.tools.map((tool, index): Tool => {
      if (tool.type !== "function") {
        throw unsupportedParameter(`tools[${index}]`, `tool type "${tool.type}"; only function tools are supported`);
      }
      return {
        type: "function",
        function: {
          name: tool.function.name,
          ...(tool.function.description !== undefined ? { description: tool.function.description } : {}),
          // Both sides carry a JSON Schema object; Ollama's type is just narrower than the schema language.
          ...(tool.function.parameters
            ? { parameters: tool.function.parameters as Tool["function"]["parameters"] }
            : {}),
        },
      };
    });
  }
  const format = request.response_format;
  if (format?.type === "json_object") chatRequest.format = "json";
  else if (format?.type === "json_schema") chatRequest.format = format.json_schema.schema ?? "json";
  return chatRequest;
}

function textOf(
  content: string | ReadonlyArray<ChatCompletionContentPartText | ChatCompletionContentPartRefusal> | null | undefined,
  where: string,
): string {
  if (content == null) return "";
  if (typeof content === "string") return content;
  return content
    .map((part, index) => {
      if (part.type === "text") return part.text;
      if (part.type === "refusal") return part.refusal;
      throw unsupportedParameter(`${where}.content[${index}]`, "only text parts are supported here");
    })
    .join("\n");
}

function userContent(
  content: string | ChatCompletionContentPart[],
  where: string,
): { content: string; images: string[] } {
  if (typeof content === "string") return { content, images: [] };
  const texts: string[] = [];
  const images: string[] = [];
  content.forEach((part, index) => {
    if (part.type === "text") {
      texts.push(part.text);
    } else if (part.type === "image_url") {
      // Ollama takes images as bare base64; fetching remote URLs on a GPU host is not the runner's job.
      const match = /^data:[^;,]+;base64,(.*)$/s.exec(part.image_url.url);
      if (!match?.[1])
        throw unsupportedParameter(`${where}.content[${index}].image_url`, "only base64 data: URLs are supported");
      images.push(match[1]);
    } else {
      throw unsupportedParameter(`${where}.content[${index}]`, `content part type "${part.type}"`);
    }
  });
  return { content: texts.join("\n"), images };
}

function toOllamaToolCall(
  toolCall: { type: string; function?: { name: string; arguments: string } },
  where: string,
): ToolCall {
  if (toolCall.type !== "function" || !toolCall.function) {
    throw unsupportedParameter(where, `tool call type "${toolCall.type}"; only function calls are supported`);
  }
  let parsed: unknown;
  try {
    // OpenAI carries arguments as a JSON string; Ollama wants the object.
    parsed = toolCall.function.arguments.trim() === "" ? {} : JSON.parse(toolCall.function.arguments);
  } catch {
    throw unsupportedParameter(`${where}.function.arguments`, "arguments must be a JSON object string");
  }
  if (!isRecord(parsed)) throw unsupportedParameter(`${where}.function.arguments`, "arguments must be a JSON object");
  return { function: { name: toolCall.function.name, arguments: parsed } };
}

export function toOllamaMessages(messages: ChatCompletionMessageParam[]): Message[] {
  // Tool results name their call by id; Ollama wants the function's name.
  const toolNamesById = new Map<string, string>();
  return messages.map((message, index): Message => {
    const where = `messages[${index}]`;
    switch (message.role) {
      case "system":
      case "developer":
        return { role: "system", content: textOf(message.content, where) };
      case "user": {
        const { content, images } = userContent(message.content, where);
        return images.length > 0 ? { role: "user", content, images } : { role: "user", content };
      }
      case "assistant": {
        const mapped: Message = { role: "assistant", content: textOf(message.content, where) };
        if (message.tool_calls && message.tool_calls.length > 0) {
          mapped.tool_calls = message.tool_calls.map((toolCall, callIndex) => {
            const functionCall = toolCall.type === "function" ? toolCall.function : undefined;
            if (functionCall) toolNamesById.set(toolCall.id, functionCall.name);
            return toOllamaToolCall(
              { type: toolCall.type, function: functionCall },
              `${where}.tool_calls[${callIndex}]`,
            );
          });
        }
        return mapped;
      }
      case "tool": {
        const toolName = toolNamesById.get(message.tool_call_id);
        const mapped: Message = { role: "tool", content: textOf(message.content, where) };
        if (toolName !== undefined) mapped.tool_name = toolName;
        return mapped;
      }
      case "function":
        return { role: "tool", content: message.content ?? "", tool_name: message.name };
      default: {
        const unknownRole: never = message;
        throw unsupportedParameter(`${where}.role`, `role ${JSON.stringify((unknownRole as { role: unknown }).role)}`);
      }
    }
  });
}

/**
 * Text completions run with `raw: true`, as vLLM's `/v1/completions` does: the prompt is
 * continued as written, not wrapped in the model's chat template. Ollama refuses raw with a
 * suffix, so fill-in-the-middle requests use the template (which is where FIM lives in Ollama).
 */
export function toOllamaGenerateRequest(request: CompletionCreateParamsStreaming): GenerateRequest & { stream: true } {
  if (request.n != null && request.n !== 1)
    throw unsupportedParameter("n", `Ollama returns one choice per request; got n=${request.n}`);
  if (request.best_of != null && request.best_of !== 1)
    throw unsupportedParameter("best_of", "Ollama does not rank candidates");
  if (request.echo) throw unsupportedParameter("echo", "Ollama does not echo the prompt");
  if (request.logprobs != null)
    throw unsupportedParameter("logprobs", "Ollama does not return token log probabilities here");
  rejectLogitBias(request.logit_bias);
  const prompt = singlePrompt(request.prompt);
  const generateRequest: GenerateRequest & { stream: true } = {
    model: request.model,
    prompt,
    stream: true,
    options: samplingOptions(request, request.max_tokens),
  };
  if (request.suffix) generateRequest.suffix = request.suffix;
  else generateRequest.raw = true;
  return generateRequest;
}

/** One prompt per Ollama generate: a batch of prompts would need n parallel streams merged; refused instead. */
function singlePrompt(prompt: CompletionCreateParamsStreaming["prompt"]): string {
  if (typeof prompt === "string") return prompt;
  if (Array.isArray(prompt) && prompt.length === 1 && typeof prompt[0] === "string") return prompt[0];
  if (Array.isArray(prompt) && prompt.length > 0 && prompt.every((item) => typeof item === "string")) {
    throw unsupportedParameter("prompt", `Ollama completes one prompt per request; got ${prompt.length}`);
  }
  if (prompt == null) return "";
  throw unsupportedParameter("prompt", "token-id prompts cannot be sent to Ollama; send text");
}

export function toOllamaEmbedRequest(request: EmbeddingCreateParams): EmbedRequest {
  const { input } = request;
  const isText = typeof input === "string" || (Array.isArray(input) && input.every((item) => typeof item === "string"));
  if (!isText) throw unsupportedParameter("input", "token-id inputs cannot be sent to Ollama; send text");
  const embedRequest: EmbedRequest = { model: request.model, input: input as string | string[] };
  if (request.dimensions != null) embedRequest.dimensions = request.dimensions;
  return embedRequest;
}
