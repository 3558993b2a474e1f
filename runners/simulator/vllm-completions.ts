/** `POST /v1/completions` as vLLM answers it: one or many prompts, `n` choices each. */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { SimulatorContext } from "./context.ts";
import { type GenerationChoice, GenerationRun, type GenerationSink } from "./generation.ts";
import { headerValue, sendJson } from "./http-io.ts";
import {
  appendCompletionLogprob,
  type CompletionLogprobs,
  emptyCompletionLogprobs,
  sampleLogprobs,
} from "./logprobs.ts";
import { type PlannedChoice, planChoices, requestSeed } from "./output-plan.ts";
import type { SimulatorFault } from "./server.ts";
import { encodeText, type TokenPiece } from "./tokenizer.ts";
import { sendVllmError, VllmChunkStream, vllmRequestId, vllmUsage } from "./vllm-http.ts";
import {
  type CompletionRequest,
  completionRequestSchema,
  contextProblem,
  describeIssues,
  logprobsProblem,
  samplingProblem,
} from "./vllm-schemas.ts";

/** vLLM's (and OpenAI's) default `max_tokens` for `/v1/completions`. */
const COMPLETIONS_DEFAULT_MAX_TOKENS = 16;

interface Prompt {
  /** Seeds the output: the text, or the token ids joined. */
  key: string;
  tokenIds: ArrayLike<number>;
}

function promptsOf(prompt: CompletionRequest["prompt"]): Prompt[] {
  if (typeof prompt === "string") return [{ key: prompt, tokenIds: encodeText(prompt) }];
  const first = prompt[0];
  if (typeof first === "number") {
    const ids = prompt as number[];
    return [{ key: ids.join(","), tokenIds: ids }];
  }
  return (prompt as (string | number[])[]).map((entry) =>
    typeof entry === "string" ? { key: entry, tokenIds: encodeText(entry) } : { key: entry.join(","), tokenIds: entry },
  );
}

export function handleCompletions(
  context: SimulatorContext,
  request: IncomingMessage,
  response: ServerResponse,
  body: unknown,
  fault: SimulatorFault | undefined,
): void {
  const parsed = completionRequestSchema.safeParse(body);
  if (!parsed.success) {
    sendVllmError(response, 400, describeIssues(parsed.error));
    return;
  }
  const completion = parsed.data;
  const problem = samplingProblem(completion) ?? logprobsProblem(completion.logprobs);
  if (problem !== undefined) {
    sendVllmError(response, 400, problem);
    return;
  }
  const model = context.vllmModelsByName.get(completion.model);
  if (model === undefined) {
    sendVllmError(response, 404, `The model \`${completion.model}\` does not exist.`);
    return;
  }
  if (model.kind !== "chat") {
    sendVllmError(response, 400, "The model does not support Completions API");
    return;
  }

  const prompts = promptsOf(completion.prompt);
  const requestedMaxTokens = completion.max_tokens ?? undefined;
  for (const prompt of prompts) {
    const tooLong = contextProblem(model.contextLength, prompt.tokenIds.length, requestedMaxTokens);
    if (tooLong !== undefined) {
      sendVllmError(response, 400, tooLong);
      return;
    }
  }
  const choiceCount = completion.n ?? 1;
  const seed = requestSeed(completion.seed, completion.temperature);
  const planned = prompts.flatMap((prompt, promptIndex) =>
    planChoices(
      {
        model,
        promptKey: prompt.key,
        seed: completion.seed,
        temperature: completion.temperature,
        choiceCount,
        firstIndex: promptIndex * choiceCount,
        maxTokens: Math.min(
          requestedMaxTokens ?? COMPLETIONS_DEFAULT_MAX_TOKENS,
          model.contextLength - prompt.tokenIds.length,
        ),
        ignoreEos: completion.ignore_eos ?? false,
        stop: typeof completion.stop === "string" ? [completion.stop] : (completion.stop ?? []),
        output: { kind: "text" },
      },
      seed,
    ),
  );
  const id = vllmRequestId("cmpl", request);
  const run = new GenerationRun(context, {
    api: "vllm",
    requestId: headerValue(request, "x-request-id") ?? id,
    requestedModel: completion.model,
    cacheNamespace: model.id,
    prompts: prompts.map((prompt) => prompt.tokenIds),
    choices: planned.map((entry) => entry.choice),
    fault,
    response,
  });
  const settings = {
    id,
    created: Math.floor(Date.now() / 1000),
    model: completion.model,
    topLogprobs: completion.logprobs ?? undefined,
  };
  const usage = {
    includeUsage: completion.stream_options?.include_usage ?? false,
    continuousUsage: completion.stream_options?.continuous_usage_stats ?? false,
  };
  run.start(
    completion.stream
      ? new CompletionStreamSink(response, run, planned, settings, usage)
      : new CompletionResponseSink(response, run, planned, settings),
  );
}

interface CompletionSinkSettings {
  id: string;
  created: number;
  model: string;
  topLogprobs: number | undefined;
}

class CompletionStreamSink implements GenerationSink {
  private readonly stream: VllmChunkStream;
  /** Characters emitted so far per choice: the `text_offset` of the next token. */
  private readonly offsets: number[];

  constructor(
    response: ServerResponse,
    run: GenerationRun,
    private readonly planned: readonly PlannedChoice[],
    private readonly settings: CompletionSinkSettings,
    usage: { includeUsage: boolean; continuousUsage: boolean },
  ) {
    this.stream = new VllmChunkStream(
      response,
      run,
      { id: settings.id, object: "text_completion", created: settings.created, model: settings.model },
      usage,
    );
    this.offsets = planned.map(() => 0);
  }

  begin(): boolean {
    return true;
  }

  token(choice: GenerationChoice, piece: TokenPiece, visibleText: string): boolean {
    if (visibleText === "") return true;
    const textJson = visibleText === piece.text ? piece.json : JSON.stringify(visibleText);
    let logprobs = "null";
    const random = this.planned[choice.index]?.logprobRandom;
    if (this.settings.topLogprobs !== undefined && random !== undefined) {
      const entry = emptyCompletionLogprobs();
      appendCompletionLogprob(
        entry,
        sampleLogprobs(piece, random, this.settings.topLogprobs),
        this.offsets[choice.index] ?? 0,
      );
      logprobs = JSON.stringify(entry);
    }
    this.offsets[choice.index] = (this.offsets[choice.index] ?? 0) + visibleText.length;
    return this.stream.writeChoice(
      `{"index":${choice.index},"text":${textJson},"logprobs":${logprobs},"finish_reason":null,"stop_reason":null}`,
    );
  }

  finishChoice(choice: GenerationChoice, trailingText: string): boolean {
    const stopReason = choice.stopReason === undefined ? "null" : JSON.stringify(choice.stopReason);
    return this.stream.writeChoice(
      `{"index":${choice.index},"text":${JSON.stringify(trailingText)},"logprobs":null,"finish_reason":"${choice.finishReason}","stop_reason":${stopReason}}`,
    );
  }

  complete(): void {
    this.stream.finish();
  }
}

class CompletionResponseSink implements GenerationSink {
  private readonly texts: string[];
  private readonly logprobs: CompletionLogprobs[];

  constructor(
    private readonly response: ServerResponse,
    private readonly run: GenerationRun,
    private readonly planned: readonly PlannedChoice[],
    private readonly settings: CompletionSinkSettings,
  ) {
    this.texts = planned.map(() => "");
    this.logprobs = planned.map(() => emptyCompletionLogprobs());
  }

  begin(): boolean {
    return true;
  }

  token(choice: GenerationChoice, piece: TokenPiece, visibleText: string): boolean {
    const random = this.planned[choice.index]?.logprobRandom;
    const target = this.logprobs[choice.index];
    if (this.settings.topLogprobs !== undefined && random !== undefined && target !== undefined) {
      appendCompletionLogprob(
        target,
        sampleLogprobs(piece, random, this.settings.topLogprobs),
        (this.texts[choice.index] ?? "").length,
      );
    }
    this.texts[choice.index] = (this.texts[choice.index] ?? "") + visibleText;
    return true;
  }

  finishChoice(choice: GenerationChoice, trailingText: string): boolean {
    this.texts[choice.index] = (this.texts[choice.index] ?? "") + trailingText;
    return true;
  }

  complete(): void {
    const choices = this.planned.map(({ choice }) => ({
      index: choice.index,
      text: this.texts[choice.index] ?? "",
      logprobs: this.settings.topLogprobs === undefined ? null : (this.logprobs[choice.index] ?? null),
      finish_reason: choice.finishReason ?? "stop",
      stop_reason: choice.stopReason ?? null,
      prompt_logprobs: null,
    }));
    sendJson(
      this.response,
      200,
      JSON.stringify({
        id: this.settings.id,
        object: "text_completion",
        created: this.settings.created,
        model: this.settings.model,
        choices,
        service_tier: null,
        system_fingerprint: null,
        usage: vllmUsage(this.run),
        kv_transfer_params: null,
      }),
    );
  }
}
