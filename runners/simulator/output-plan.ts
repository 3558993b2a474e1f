/**
 * Decides what each choice will say: plain words, a JSON document, or a tool call. Everything is
 * drawn from a PRNG seeded by hash(seed, model, prompt, choice index), so a seeded request always
 * gets the same output and each choice of `n` gets its own.
 */
import type { ModelTemplate } from "../../models/catalog.ts";
import { GenerationChoice } from "./generation.ts";
import { sampleJsonValue } from "./json-sampler.ts";
import { freshSeed, hashText, SeededRandom } from "./random.ts";
import { StopSequenceMatcher } from "./stop-sequences.ts";
import { tokenPieces } from "./tokenizer.ts";
import { FixedTokenSource, type TokenSource, WordTokenSource } from "./vocabulary.ts";

/** Natural answer lengths when nothing caps them, as the contract fixes. */
const SHORTEST_ANSWER_TOKENS = 16;
const LONGEST_ANSWER_TOKENS = 128;

export interface ToolSpec {
  name: string;
  /** JSON schema of the arguments, when the tool declared one. */
  parameters: unknown;
}

export type OutputMode =
  | { kind: "text" }
  | { kind: "json"; schema: unknown }
  | { kind: "tool"; tools: readonly ToolSpec[]; forcedName: string | undefined };

export interface ChoicePlanInput {
  model: ModelTemplate;
  /** Identifies the prompt: same key, same seed → same output. */
  promptKey: string;
  seed: number | null | undefined;
  temperature: number | null | undefined;
  choiceCount: number;
  /** Index of the first choice (a batched completion numbers choices across prompts). */
  firstIndex: number;
  /** Most tokens a choice may produce, already limited by the context window. */
  maxTokens: number;
  /** vLLM's ignore_eos: keep going until maxTokens. */
  ignoreEos: boolean;
  stop: readonly string[];
  output: OutputMode;
}

export interface PlannedChoice {
  choice: GenerationChoice;
  /** A separate stream for logprobs, so asking for them never changes the text. */
  logprobRandom: SeededRandom;
}

/** The request-level seed: the client's, else fixed for greedy decoding, else fresh. */
export function requestSeed(seed: number | null | undefined, temperature: number | null | undefined): number {
  if (seed !== undefined && seed !== null) return seed;
  return temperature === 0 ? 0 : freshSeed();
}

export function planChoices(input: ChoicePlanInput, seed: number): PlannedChoice[] {
  const promptHash = hashText(input.promptKey);
  const planned: PlannedChoice[] = [];
  for (let offset = 0; offset < input.choiceCount; offset++) {
    const index = input.firstIndex + offset;
    // The index inside this prompt's group, so choice 0 reads the same whatever `n` is.
    const choiceSeed = hashText(`${seed}\u0000${input.model.id}\u0000${promptHash}\u0000${offset}`);
    const random = new SeededRandom(choiceSeed);
    const logprobRandom = new SeededRandom(hashText("logprobs", choiceSeed % 4294967296));
    planned.push({ choice: planChoice(input, index, random), logprobRandom });
  }
  return planned;
}

function planChoice(input: ChoicePlanInput, index: number, random: SeededRandom): GenerationChoice {
  const stopMatcher = input.stop.length > 0 ? new StopSequenceMatcher(input.stop) : undefined;
  const { output } = input;
  if (output.kind === "tool" && output.tools.length > 0) {
    const tool =
      (output.forcedName !== undefined
        ? output.tools.find((candidate) => candidate.name === output.forcedName)
        : undefined) ?? random.pick(output.tools);
    const argumentsJson = JSON.stringify(
      sampleJsonValue(tool.parameters ?? { type: "object", properties: {} }, random),
    );
    const toolCall = { id: `chatcmpl-tool-${random.hex(32)}`, name: tool.name };
    // Stop sequences do not cut tool-call arguments: the parser sees the whole call.
    return new GenerationChoice(
      index,
      new FixedTokenSource(tokenPieces(argumentsJson)),
      input.maxTokens,
      undefined,
      toolCall,
    );
  }
  let source: TokenSource;
  if (output.kind === "json") {
    source = new FixedTokenSource(tokenPieces(JSON.stringify(sampleJsonValue(output.schema, random))));
  } else {
    const naturalLength = random.integer(SHORTEST_ANSWER_TOKENS, LONGEST_ANSWER_TOKENS);
    source = new WordTokenSource(random, input.ignoreEos ? Number.POSITIVE_INFINITY : naturalLength);
  }
  return new GenerationChoice(index, source, input.maxTokens, stopMatcher, undefined);
}
