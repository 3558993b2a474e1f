/**
 * Non-streaming chat completions at a constant number of virtual users.
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:8080 -e API_KEY=sk-hn-demo-key loadtest/k6/chat.ts
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
  HEADERS,
  isCompleteChatAnswer,
  MAX_TOKENS,
  VUS,
} from "./lib/config.ts";

export const options: Options = {
  scenarios: {
    chat: { executor: "constant-vus", vus: VUS, duration: DURATION, gracefulStop: "10s" },
  },
  thresholds: {
    http_req_failed: ["rate<0.01"],
    checks: ["rate>0.99"],
    chat_latency: ["p(99)<5000"],
  },
  summaryTrendStats: ["avg", "min", "med", "p(90)", "p(99)", "max"],
};

const latency = new Trend("chat_latency", true);
const body = JSON.stringify(chatRequest(false));

export default function (): void {
  const response = post(`${BASE_URL}/v1/chat/completions`, body, {
    headers: HEADERS,
    timeout: "60s",
    tags: { name: "chat" },
  });
  latency.add(response.timings.duration);
  check(response, {
    "status is 200": (r) => r.status === 200,
    "has x-request-id": (r) => (r.headers["X-Request-Id"] ?? r.headers["x-request-id"] ?? "") !== "",
    [`answer has ${MAX_TOKENS} tokens`]: (r) => isCompleteChatAnswer(bodyText(r.body), MAX_TOKENS),
  });
}
