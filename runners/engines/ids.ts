/** Response and tool-call ids in OpenAI's formats, for engines (Ollama) that do not make their own. */
import { randomBytes } from "node:crypto";

/** 24 random base62-ish characters, as OpenAI's ids look. */
function randomSuffix(): string {
  return randomBytes(18).toString("base64url").replace(/[-_]/g, "x");
}

export function chatCompletionId(): string {
  return `chatcmpl-${randomSuffix()}`;
}

export function completionId(): string {
  return `cmpl-${randomSuffix()}`;
}

export function toolCallId(): string {
  return `call_${randomSuffix()}`;
}
