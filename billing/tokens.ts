/**
 * Local token counting with tiktoken. The gateway uses it to check the counts an engine reports
 * and as the fallback when an engine reports none. The chat formula is shared with the engine
 * simulator, so both sides must count exactly the same way.
 */

import type {
  ChatCompletionMessageParam,
  ChatCompletionMessageToolCall,
  ChatCompletionTool,
} from "openai/resources/chat/completions";
import { get_encoding, type Tiktoken } from "tiktoken";
import type { TokenizerEncoding } from "../models/catalog.ts";

/** Input accepted by `/v1/completions` `prompt` and `/v1/embeddings` `input`. */
export type TokenizableInput = string | string[] | number[] | number[][];

/** Tokens every message costs besides its role and content (the chat template's framing). */
const TOKENS_PER_MESSAGE = 3;
/** Tokens a `name` costs besides its own text. */
const TOKENS_PER_NAME = 1;
/** Tokens that prime the assistant's reply after the last message. */
const REPLY_PRIMING_TOKENS = 3;

// One encoder per encoding for the life of the process: building one parses a large BPE table,
// and the WASM memory it holds is meant to be reused, not freed per call.
const encoders = new Map<TokenizerEncoding, Tiktoken>();

function encoderFor(encoding: TokenizerEncoding): Tiktoken {
  let encoder = encoders.get(encoding);
  if (encoder === undefined) {
    encoder = get_encoding(encoding);
    encoders.set(encoding, encoder);
  }
  return encoder;
}

/**
 * Tokens in plain text. Special-token strings such as `<|endoftext|>` count as ordinary text:
 * user input must never throw here nor be read as a control token.
 */
export function countTextTokens(text: string, encoding: TokenizerEncoding): number {
  if (text.length === 0) {
    return 0;
  }
  return encoderFor(encoding).encode_ordinary(text).length;
}

type MessageContent = ChatCompletionMessageParam["content"];

function contentText(content: MessageContent): string {
  if (content === null || content === undefined) {
    return "";
  }
  if (typeof content === "string") {
    return content;
  }
  // Only text parts count: images, audio and files are priced by the engine, not by text length.
  let text = "";
  for (const part of content) {
    if (part.type === "text") {
      text += part.text;
    }
  }
  return text;
}

function toolCallText(toolCall: ChatCompletionMessageToolCall): string {
  if (toolCall.type === "function") {
    return toolCall.function.name + toolCall.function.arguments;
  }
  // Custom tool calls carry free-form input in place of JSON arguments.
  return toolCall.custom.name + toolCall.custom.input;
}

/**
 * The text a message contributes, concatenated with no separator in this order: the content
 * (string, or its text parts joined), then each tool call's name and arguments, then the
 * tool_call_id.
 */
function messageText(message: ChatCompletionMessageParam): string {
  let text = contentText(message.content);
  if (message.role === "assistant" && message.tool_calls !== undefined) {
    for (const toolCall of message.tool_calls) {
      text += toolCallText(toolCall);
    }
  }
  if (message.role === "tool") {
    text += message.tool_call_id;
  }
  return text;
}

function messageName(message: ChatCompletionMessageParam): string | undefined {
  return "name" in message ? message.name : undefined;
}

/**
 * Prompt tokens of a chat request:
 * sum over messages of (3 + tokens(role) + tokens(message text) + (name ? tokens(name) + 1 : 0)),
 * plus 3 for the reply priming, plus tokens(JSON.stringify(tools)) when tools are present.
 */
export function countChatPromptTokens(
  messages: readonly ChatCompletionMessageParam[],
  encoding: TokenizerEncoding,
  tools?: readonly ChatCompletionTool[],
): number {
  let total = 0;
  for (const message of messages) {
    total += TOKENS_PER_MESSAGE;
    total += countTextTokens(message.role, encoding);
    total += countTextTokens(messageText(message), encoding);
    const name = messageName(message);
    if (name) {
      total += countTextTokens(name, encoding) + TOKENS_PER_NAME;
    }
  }
  total += REPLY_PRIMING_TOKENS;
  if (tools !== undefined && tools.length > 0) {
    total += countTextTokens(JSON.stringify(tools), encoding);
  }
  return total;
}

function countInputTokens(input: TokenizableInput, encoding: TokenizerEncoding): number {
  if (typeof input === "string") {
    return countTextTokens(input, encoding);
  }
  // Elements are checked one by one, so an empty array or any mix the union allows counts right:
  // a string is text, a number is one token, a nested array is that many tokens.
  let total = 0;
  for (const element of input) {
    if (typeof element === "string") {
      total += countTextTokens(element, encoding);
    } else if (typeof element === "number") {
      total += 1;
    } else {
      total += element.length;
    }
  }
  return total;
}

/** Prompt tokens of a `/v1/completions` request; token arrays count by their length. */
export function countCompletionPromptTokens(prompt: TokenizableInput, encoding: TokenizerEncoding): number {
  return countInputTokens(prompt, encoding);
}

/** Input tokens of a `/v1/embeddings` request; token arrays count by their length. */
export function countEmbeddingInputTokens(input: TokenizableInput, encoding: TokenizerEncoding): number {
  return countInputTokens(input, encoding);
}
