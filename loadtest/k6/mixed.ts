/**
 * A mixed workload: non-streaming chat, streaming chat and embeddings side by side, each its
 * own k6 scenario (embeddings at a fixed arrival rate, as a retrieval pipeline would send them).
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:8080 -e API_KEY=sk-hn-demo-key loadtest/k6/mixed.ts
 */
import { check } from "k6";
import { post } from "k6/http";
import { Trend } from "k6/metrics";
import type { Options } from "k6/options";
import {
  BASE_URL,
  bodyText,
  chatRequest,
  DURATION,
  embeddingRequest,
  HEADERS,
  isCompleteChatAnswer,
  MAX_TOKENS,
  parseJson,
  VUS,
} from "./lib/config.ts";
import { summarizeChatSse } from "./lib/sse-body.ts";

const EMBEDDINGS_PER_SECOND = Number(__ENV.EMBED_RATE ?? "20");

export const options: Options = {
  scenarios: {
    chat: { executor: "constant-vus", exec: "chat", vus: Math.max(1, Math.floor(VUS / 2)), duration: DURATION },
    stream: { executor: "constant-vus", exec: "stream", vus: Math.max(1, Math.ceil(VUS / 2)), duration: DURATION },
    embeddings: {
      executor: "constant-arrival-rate",
      exec: "embed",
      rate: EMBEDDINGS_PER_SECOND,
      timeUnit: "1s",
      duration: DURATION,
      preAllocatedVUs: 5,
      maxVUs: 50,
    },
  },
  thresholds: {
    http_req_failed: ["rate<0.01"],
    checks: ["rate>0.99"],
    "http_req_duration{scenario:embeddings}": ["p(99)<1000"],
  },
  summaryTrendStats: ["avg", "min", "med", "p(90)", "p(99)", "max"],
};

const streamTtft = new Trend("stream_ttft", true);
const chatBody = JSON.stringify(chatRequest(false));
const streamBody = JSON.stringify(chatRequest(true));

export function chat(): void {
  const response = post(`${BASE_URL}/v1/chat/completions`, chatBody, { headers: HEADERS, timeout: "60s" });
  check(response, {
    "chat: status is 200": (r) => r.status === 200,
    "chat: complete answer": (r) => isCompleteChatAnswer(bodyText(r.body), MAX_TOKENS),
  });
}

export function stream(): void {
  const response = post(`${BASE_URL}/v1/chat/completions`, streamBody, { headers: HEADERS, timeout: "120s" });
  streamTtft.add(response.timings.waiting);
  const summary = summarizeChatSse(bodyText(response.body));
  check(response, {
    "stream: status is 200": (r) => r.status === 200,
    "stream: ends with [DONE], no error": () => summary.done && summary.problem === undefined,
  });
}

export function embed(): void {
  const input = `document ${__VU}-${__ITER}: the quick brown fox jumps over the lazy dog`;
  const response = post(`${BASE_URL}/v1/embeddings`, JSON.stringify(embeddingRequest(input)), {
    headers: HEADERS,
    timeout: "30s",
  });
  check(response, {
    "embeddings: status is 200": (r) => r.status === 200,
    "embeddings: one vector": (r) => {
      const parsed = parseJson(bodyText(r.body)) as { data?: Array<{ embedding?: unknown }> } | undefined;
      const vector = parsed?.data?.[0]?.embedding;
      return Array.isArray(vector) && vector.length > 0;
    },
  });
}
