/**
 * Token counting for the simulator with tiktoken's cl100k_base. Chat prompts follow the same
 * formula as the gateway's own count (billing/tokens.ts), so engine-reported and gateway-counted
 * usage agree exactly when the simulator serves a request.
 */
import { get_encoding, type Tiktoken } from "tiktoken";

/** One output token: its text, its cl100k id, and its text already JSON-encoded for the wire. */
export interface TokenPiece {
  readonly text: string;
  readonly id: number;
  readonly json: string;
}

/** A chat message reduced to what the count needs. */
export interface PromptMessage {
  role: string;
  /** Content text (string, or text parts joined), then tool-call names and arguments, then a tool_call_id. */
  text: string;
  name?: string | null | undefined;
}

const IM_START_TOKEN = 100264;
const IM_END_TOKEN = 100265;
const NEWLINE_TOKEN = 198;
const NAME_SEPARATOR_TOKEN = 25;
const ASSISTANT_TOKEN = 78191;

let cachedEncoder: Tiktoken | undefined;

// Building an encoder parses a large BPE table; one per process, never freed.
export function encoder(): Tiktoken {
  cachedEncoder ??= get_encoding("cl100k_base");
  return cachedEncoder;
}

/** Token ids of plain text; special-token strings are ordinary text and never throw. */
export function encodeText(text: string): Uint32Array {
  return text.length === 0 ? new Uint32Array(0) : encoder().encode_ordinary(text);
}

export function countTextTokens(text: string): number {
  return encodeText(text).length;
}

const textDecoder = new TextDecoder();

/** Splits text into its cl100k tokens, each decoded back to its own text. */
export function tokenPieces(text: string): TokenPiece[] {
  const pieces: TokenPiece[] = [];
  for (const id of encodeText(text)) {
    const pieceText = textDecoder.decode(encoder().decode_single_token_bytes(id));
    pieces.push({ text: pieceText, id, json: JSON.stringify(pieceText) });
  }
  return pieces;
}

function pushAll(target: number[], source: Uint32Array): void {
  for (const value of source) target.push(value);
}

/**
 * The prompt as token ids, in the order a chat template would lay it out (tools first, then each
 * message framed, then the reply priming), so conversations sharing a prefix share cache blocks.
 * Its length is the prompt count: per message 3 + role + text (+ name + 1), plus 3, plus the tools.
 */
export function chatPromptTokenIds(messages: readonly PromptMessage[], toolsJson?: string): number[] {
  const tokens: number[] = [];
  if (toolsJson !== undefined) pushAll(tokens, encodeText(toolsJson));
  for (const message of messages) {
    tokens.push(IM_START_TOKEN);
    pushAll(tokens, encodeText(message.role));
    tokens.push(NEWLINE_TOKEN);
    pushAll(tokens, encodeText(message.text));
    if (message.name) {
      tokens.push(NAME_SEPARATOR_TOKEN);
      pushAll(tokens, encodeText(message.name));
    }
    tokens.push(IM_END_TOKEN);
  }
  tokens.push(IM_START_TOKEN, ASSISTANT_TOKEN, NEWLINE_TOKEN);
  return tokens;
}
