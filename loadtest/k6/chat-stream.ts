/**
 * Streaming chat completions (SSE). k6 returns the body once the stream ends, so the time to
 * first token is read from `timings.waiting`: the gateway sends its headers only when output
 * begins. The body is then checked chunk by chunk (it must end with `data: [DONE]`).
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:8080 -e API_KEY=sk-hn-demo-key loadtest/k6/chat-stream.ts
 */
import { check } from "k6";
import { post } from "k6/http";
import { Counter, Trend } from "k6/metrics";
import type { Options } from "k6/options";
import { BASE_URL, bodyText, chatRequest, DURATION, HEADERS, MAX_TOKENS, VUS } from "./lib/config.ts";
import { summarizeChatSse } from "./lib/sse-body.ts";

export const options: Options = {
  scenarios: {
    stream: { executor: "constant-vus", vus: VUS, duration: DURATION, gracefulStop: "30s" },
  },
  thresholds: {
    http_req_failed: ["rate<0.01"],
    checks: ["rate>0.99"],
    stream_ttft: ["p(99)<2000"],
  },
  summaryTrendStats: ["avg", "min", "med", "p(90)", "p(99)", "max"],
};

const ttft = new Trend("stream_ttft", true);
const duration = new Trend("stream_duration", true);
const chunks = new Counter("stream_chunks");
const body = JSON.stringify(chatRequest(true));

export default function (): void {
  const response = post(`${BASE_URL}/v1/chat/completions`, body, {
    headers: HEADERS,
    timeout: "120s",
    tags: { name: "chat-stream" },
  });
  ttft.add(response.timings.waiting);
  duration.add(response.timings.duration);
  const summary = summarizeChatSse(bodyText(response.body));
  chunks.add(summary.chunks);
  check(response, {
    "status is 200": (r) => r.status === 200,
    "is an event stream": (r) =>
      (r.headers["Content-Type"] ?? r.headers["content-type"] ?? "").startsWith("text/event-stream"),
    "ends with [DONE]": () => summary.done,
    "no error event": () => summary.problem === undefined,
    [`${MAX_TOKENS} text chunks`]: () => summary.contentChunks === MAX_TOKENS,
  });
}
