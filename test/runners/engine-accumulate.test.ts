import type { ChatCompletionChunk } from "openai/resources/chat/completions";
import type { Completion } from "openai/resources/completions";
import { describe, expect, it } from "vitest";
import { ChatCompletionAccumulator, CompletionAccumulator } from "../../runners/engines/accumulate.ts";

const identity = {
  id: "chatcmpl-abc",
  object: "chat.completion.chunk" as const,
  created: 1_700_000_000,
  model: "qwen",
};

function chunk(choices: ChatCompletionChunk.Choice[], extra: Partial<ChatCompletionChunk> = {}): ChatCompletionChunk {
  return { ...identity, choices, ...extra };
}

function delta(
  index: number,
  value: ChatCompletionChunk.Choice.Delta,
  finishReason: ChatCompletionChunk.Choice["finish_reason"] = null,
): ChatCompletionChunk.Choice {
  return { index, delta: value, finish_reason: finishReason, logprobs: null };
}

describe("ChatCompletionAccumulator", () => {
  it("concatenates content into one assistant message with the stream's identity and usage", () => {
    const accumulator = new ChatCompletionAccumulator();
    accumulator.add(chunk([delta(0, { role: "assistant", content: "" })], { system_fingerprint: "fp_1" }));
    accumulator.add(chunk([delta(0, { content: "Hel" })]));
    accumulator.add(chunk([delta(0, { content: "lo" })]));
    accumulator.add(chunk([delta(0, {}, "stop")]));
    accumulator.add(chunk([], { usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 } }));
    expect(accumulator.toCompletion()).toEqual({
      id: "chatcmpl-abc",
      object: "chat.completion",
      created: 1_700_000_000,
      model: "qwen",
      system_fingerprint: "fp_1",
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: "Hello", refusal: null },
          logprobs: null,
          finish_reason: "stop",
        },
      ],
      usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
    });
    expect(accumulator.outputText()).toBe("Hello");
  });

  it("lets an explicit usage override the streamed one", () => {
    const accumulator = new ChatCompletionAccumulator();
    accumulator.add(
      chunk([delta(0, { content: "x" })], { usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }),
    );
    const usage = { prompt_tokens: 9, completion_tokens: 1, total_tokens: 10 };
    expect(accumulator.toCompletion(usage).usage).toEqual(usage);
  });

  it("merges tool-call deltas by index, concatenating argument fragments", () => {
    const accumulator = new ChatCompletionAccumulator();
    accumulator.add(chunk([delta(0, { role: "assistant" })]));
    accumulator.add(
      chunk([
        delta(0, {
          tool_calls: [{ index: 0, id: "call_a", type: "function", function: { name: "get_weather", arguments: "" } }],
        }),
      ]),
    );
    accumulator.add(chunk([delta(0, { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] })]));
    accumulator.add(
      chunk([
        delta(0, {
          tool_calls: [
            { index: 1, id: "call_b", type: "function", function: { name: "get_time", arguments: '{"tz":"UTC"}' } },
            { index: 0, function: { arguments: '"Paris"}' } },
          ],
        }),
      ]),
    );
    accumulator.add(chunk([delta(0, {}, "tool_calls")]));
    const completion = accumulator.toCompletion();
    expect(completion.choices[0]).toEqual({
      index: 0,
      message: {
        role: "assistant",
        content: null,
        refusal: null,
        tool_calls: [
          { id: "call_a", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } },
          { id: "call_b", type: "function", function: { name: "get_time", arguments: '{"tz":"UTC"}' } },
        ],
      },
      logprobs: null,
      finish_reason: "tool_calls",
    });
    expect(
      JSON.parse(
        completion.choices[0]?.message.tool_calls?.[0]?.type === "function"
          ? completion.choices[0].message.tool_calls[0].function.arguments
          : "",
      ),
    ).toEqual({ city: "Paris" });
    expect(accumulator.outputText()).toBe('get_weather{"city":"Paris"}get_time{"tz":"UTC"}');
  });

  it("keeps text next to tool calls and gives ids to calls that had none", () => {
    const accumulator = new ChatCompletionAccumulator();
    accumulator.add(chunk([delta(0, { content: "Checking." })]));
    accumulator.add(chunk([delta(0, { tool_calls: [{ index: 0, function: { name: "lookup", arguments: "{}" } }] })]));
    const message = accumulator.toCompletion().choices[0]?.message;
    expect(message?.content).toBe("Checking.");
    expect(message?.tool_calls?.[0]?.id).toMatch(/^call_\w+$/);
    // No finish reason arrived (a cut stream): a tool-call answer still ends as one.
    expect(accumulator.toCompletion().choices[0]?.finish_reason).toBe("tool_calls");
  });

  it("keeps n=2 choices apart, in index order, whatever order their deltas arrive in", () => {
    const accumulator = new ChatCompletionAccumulator();
    accumulator.add(
      chunk([delta(1, { role: "assistant", content: "" }), delta(0, { role: "assistant", content: "" })]),
    );
    accumulator.add(chunk([delta(1, { content: "B1" })]));
    accumulator.add(chunk([delta(0, { content: "A1" })]));
    accumulator.add(chunk([delta(0, { content: "A2" }), delta(1, { content: "B2" })]));
    accumulator.add(chunk([delta(1, {}, "length")]));
    accumulator.add(chunk([delta(0, {}, "stop")]));
    const completion = accumulator.toCompletion();
    expect(completion.choices.map((choice) => [choice.index, choice.message.content, choice.finish_reason])).toEqual([
      [0, "A1A2", "stop"],
      [1, "B1B2", "length"],
    ]);
    expect(accumulator.outputText()).toBe("A1A2B1B2");
  });

  it("appends logprobs content arrays and collects refusals", () => {
    const accumulator = new ChatCompletionAccumulator();
    const token = (text: string) => ({ token: text, logprob: -0.5, bytes: [...Buffer.from(text)], top_logprobs: [] });
    accumulator.add(chunk([{ ...delta(0, { content: "a" }), logprobs: { content: [token("a")], refusal: null } }]));
    accumulator.add(chunk([{ ...delta(0, { content: "b" }), logprobs: { content: [token("b")], refusal: null } }]));
    accumulator.add(chunk([delta(0, {}, "stop")]));
    expect(accumulator.toCompletion().choices[0]?.logprobs).toEqual({
      content: [token("a"), token("b")],
      refusal: null,
    });

    const refusing = new ChatCompletionAccumulator();
    refusing.add(chunk([delta(0, { role: "assistant", refusal: "I can" })]));
    refusing.add(chunk([delta(0, { refusal: "not." }, "stop")]));
    const message = refusing.toCompletion().choices[0]?.message;
    expect(message).toEqual({ role: "assistant", content: "", refusal: "I cannot." });
  });

  it("builds a valid response from an empty stream", () => {
    const completion = new ChatCompletionAccumulator().toCompletion();
    expect(completion).toMatchObject({ object: "chat.completion", choices: [] });
    expect(completion.id).toMatch(/^chatcmpl-/);
  });
});

function completionChunk(
  index: number,
  text: string,
  finishReason: "stop" | "length" | null = null,
  extra: Partial<Completion> = {},
): Completion {
  const choice = { index, text, logprobs: null, finish_reason: finishReason };
  return {
    id: "cmpl-1",
    object: "text_completion",
    created: 1_700_000_001,
    model: "qwen",
    choices: [choice as Completion["choices"][number]],
    ...extra,
  };
}

describe("CompletionAccumulator", () => {
  it("concatenates text per choice into a text_completion", () => {
    const accumulator = new CompletionAccumulator();
    accumulator.add(completionChunk(0, "Once"));
    accumulator.add(completionChunk(1, "In"));
    accumulator.add(completionChunk(0, " upon", "length"));
    accumulator.add(completionChunk(1, " a", "stop"));
    accumulator.add({
      ...completionChunk(0, ""),
      choices: [],
      usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
    });
    expect(accumulator.toCompletion()).toEqual({
      id: "cmpl-1",
      object: "text_completion",
      created: 1_700_000_001,
      model: "qwen",
      choices: [
        { index: 0, text: "Once upon", logprobs: null, finish_reason: "length" },
        { index: 1, text: "In a", logprobs: null, finish_reason: "stop" },
      ],
      usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
    });
    expect(accumulator.outputText()).toBe("Once uponIn a");
  });

  it("appends legacy logprobs arrays", () => {
    const accumulator = new CompletionAccumulator();
    const first = completionChunk(0, "a");
    const second = completionChunk(0, "b", "stop");
    accumulator.add({
      ...first,
      choices: [
        {
          index: 0,
          text: "a",
          finish_reason: "stop",
          logprobs: { tokens: ["a"], token_logprobs: [-1], text_offset: [0], top_logprobs: [{ a: -1 }] },
        },
      ],
    });
    accumulator.add({
      ...second,
      choices: [
        {
          index: 0,
          text: "b",
          finish_reason: "stop",
          logprobs: { tokens: ["b"], token_logprobs: [-2], text_offset: [1], top_logprobs: [{ b: -2 }] },
        },
      ],
    });
    expect(accumulator.toCompletion().choices[0]?.logprobs).toEqual({
      tokens: ["a", "b"],
      token_logprobs: [-1, -2],
      text_offset: [0, 1],
      top_logprobs: [{ a: -1 }, { b: -2 }],
    });
  });
});
