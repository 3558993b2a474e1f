/**
 * Settings shared by the k6 scenarios, from `k6 run -e NAME=value`:
 *
 *   BASE_URL     gateway base URL (default http://127.0.0.1:8080); loopback only unless ALLOW_REMOTE=1
 *   API_KEY      the bearer key (default sk-hn-demo-key, as with HYPERNODE_DEMO_KEY=sk-hn-demo-key npm start)
 *   MODEL        chat model (default qwen2.5-7b-instruct)
 *   EMBED_MODEL  embeddings model (default nomic-embed-text)
 *   MAX_TOKENS   completion length, exact through ignore_eos (default 64)
 *   DURATION     how long each steady scenario runs (default 30s)
 *   VUS          virtual users of the steady scenarios (default 10)
 *
 * Only k6's own API and plain JavaScript here: these files run inside k6, not Node.
 */
import { checkedBaseUrl, webSocketUrl } from "./url.ts";

function setting(name: string, fallback: string): string {
  const value = __ENV[name];
  return value === undefined || value === "" ? fallback : value;
}

function positiveInteger(name: string, fallback: number): number {
  const value = Number(setting(name, String(fallback)));
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer`);
  return value;
}

export const BASE_URL = checkedBaseUrl(
  setting("BASE_URL", "http://127.0.0.1:8080"),
  setting("ALLOW_REMOTE", "") === "1",
);
export const WS_URL = webSocketUrl(BASE_URL);
export const API_KEY = setting("API_KEY", "sk-hn-demo-key");
export const MODEL = setting("MODEL", "qwen2.5-7b-instruct");
export const EMBED_MODEL = setting("EMBED_MODEL", "nomic-embed-text");
export const MAX_TOKENS = positiveInteger("MAX_TOKENS", 64);
export const DURATION = setting("DURATION", "30s");
export const VUS = positiveInteger("VUS", 10);

export const HEADERS: { [name: string]: string } = {
  authorization: `Bearer ${API_KEY}`,
  "content-type": "application/json",
};

export interface ChatRequestBody {
  model: string;
  messages: Array<{ role: "user"; content: string }>;
  max_tokens: number;
  ignore_eos: true;
  stream: boolean;
}

export function chatRequest(stream: boolean, prompt = "Write a short poem about load balancers."): ChatRequestBody {
  return {
    model: MODEL,
    messages: [{ role: "user", content: prompt }],
    max_tokens: MAX_TOKENS,
    ignore_eos: true,
    stream,
  };
}

export function embeddingRequest(input: string): { model: string; input: string } {
  return { model: EMBED_MODEL, input };
}

/** The response body as text, whatever k6 handed back. */
export function bodyText(body: string | ArrayBuffer | null): string {
  return typeof body === "string" ? body : "";
}

/** Parses JSON without throwing: undefined when it is not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** True when a non-streaming chat answer has the expected shape and length. */
export function isCompleteChatAnswer(text: string, maxTokens: number): boolean {
  const parsed = parseJson(text) as
    | { choices?: Array<{ message?: { content?: unknown } }>; usage?: { completion_tokens?: unknown } }
    | undefined;
  const content = parsed?.choices?.[0]?.message?.content;
  return typeof content === "string" && content.length > 0 && parsed?.usage?.completion_tokens === maxTokens;
}
