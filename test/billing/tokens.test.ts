import fc from "fast-check";
import type { ChatCompletionMessageParam, ChatCompletionTool } from "openai/resources/chat/completions";
import { describe, expect, it } from "vitest";
import {
  countChatPromptTokens,
  countCompletionPromptTokens,
  countEmbeddingInputTokens,
  countTextTokens,
} from "../../billing/tokens.ts";

describe("countTextTokens", () => {
  it("matches known cl100k counts", () => {
    expect(countTextTokens("hello world", "cl100k_base")).toBe(2);
    expect(countTextTokens("", "cl100k_base")).toBe(0);
    expect(countTextTokens("system", "cl100k_base")).toBe(1);
    expect(countTextTokens("You are helpful.", "cl100k_base")).toBe(4);
  });

  it("counts with o200k as well", () => {
    expect(countTextTokens("hello world", "o200k_base")).toBe(2);
  });

  it("treats special-token text as ordinary text instead of throwing", () => {
    expect(countTextTokens("<|endoftext|>", "cl100k_base")).toBeGreaterThan(1);
  });

  it("keeps working across many calls (the cached encoder is never freed)", () => {
    for (let round = 0; round < 1000; round += 1) {
      expect(countTextTokens("hello world", "cl100k_base")).toBe(2);
    }
  });

  const word = fc.stringMatching(/^[A-Za-z]{1,16}$/);
  const words = fc.array(word, { minLength: 1, maxLength: 8 }).map((parts) => parts.join(" "));

  it("is subadditive up to one token when joining words", () => {
    fc.assert(
      fc.property(words, words, (left, right) => {
        const joined = countTextTokens(left + right, "cl100k_base");
        return joined <= countTextTokens(left, "cl100k_base") + countTextTokens(right, "cl100k_base") + 1;
      }),
    );
  });

  it("returns non-negative integers for any text", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 200 }), (text) => {
        const count = countTextTokens(text, "cl100k_base");
        return Number.isInteger(count) && count >= 0;
      }),
    );
  });
});

describe("countChatPromptTokens", () => {
  const tokens = (text: string): number => countTextTokens(text, "cl100k_base");

  it("applies the shared formula to a simple conversation", () => {
    const messages: ChatCompletionMessageParam[] = [
      { role: "system", content: "You are helpful." },
      { role: "user", content: "hello world" },
    ];
    // system: 3 + 1 + 4; user: 3 + 1 + 2; reply priming: 3.
    expect(countChatPromptTokens(messages, "cl100k_base")).toBe(17);
  });

  it("counts names, text parts, tool calls, tool results and tools", () => {
    const tools: ChatCompletionTool[] = [
      {
        type: "function",
        function: {
          name: "get_weather",
          description: "Current weather for a city",
          parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
        },
      },
    ];
    const messages: ChatCompletionMessageParam[] = [
      { role: "developer", content: "Answer briefly.", name: "ops" },
      {
        role: "user",
        content: [
          { type: "text", text: "What is the weather " },
          { type: "image_url", image_url: { url: "https://example.com/cloud.png" } },
          { type: "text", text: "in Paris?" },
        ],
      },
      {
        role: "assistant",
        content: null,
        tool_calls: [
          { id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } },
        ],
      },
      { role: "tool", tool_call_id: "call_1", content: "18C and cloudy" },
    ];
    const expected =
      3 +
      tokens("developer") +
      tokens("Answer briefly.") +
      tokens("ops") +
      1 +
      (3 + tokens("user") + tokens("What is the weather in Paris?")) +
      (3 + tokens("assistant") + tokens('get_weather{"city":"Paris"}')) +
      (3 + tokens("tool") + tokens("18C and cloudycall_1")) +
      3 +
      tokens(JSON.stringify(tools));
    expect(countChatPromptTokens(messages, "cl100k_base", tools)).toBe(expected);
    expect(countChatPromptTokens(messages, "cl100k_base", tools)).toBeGreaterThan(
      countChatPromptTokens(messages, "cl100k_base"),
    );
  });

  it("costs only the reply priming for no messages, and ignores an empty tools list", () => {
    expect(countChatPromptTokens([], "cl100k_base")).toBe(3);
    expect(countChatPromptTokens([], "cl100k_base", [])).toBe(3);
  });
});

describe("completion prompt and embedding input", () => {
  it("counts strings by text and token arrays by length", () => {
    expect(countCompletionPromptTokens("hello world", "cl100k_base")).toBe(2);
    expect(countCompletionPromptTokens(["hello world", "hello world"], "cl100k_base")).toBe(4);
    expect(countCompletionPromptTokens([1, 2, 3], "cl100k_base")).toBe(3);
    expect(countCompletionPromptTokens([[1, 2], [3], []], "cl100k_base")).toBe(3);
    expect(countCompletionPromptTokens([], "cl100k_base")).toBe(0);
  });

  it("counts embedding input the same way", () => {
    expect(countEmbeddingInputTokens("hello world", "cl100k_base")).toBe(2);
    expect(countEmbeddingInputTokens(["hello", "world"], "cl100k_base")).toBe(2);
    expect(countEmbeddingInputTokens([9906, 1917], "cl100k_base")).toBe(2);
    expect(countEmbeddingInputTokens([[9906], [1917, 0]], "cl100k_base")).toBe(3);
  });
});
