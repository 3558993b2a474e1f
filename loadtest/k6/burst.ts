/**
 * A burst: a calm arrival rate jumps to BURST_RATE requests per second for a few seconds and
 * falls back. The gateway may shed load with 429 or 503 (both with retry-after); those count as
 * shed, not failed, and every other answer must be a complete 200.
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:8080 -e API_KEY=sk-hn-demo-key -e BURST_RATE=500 loadtest/k6/burst.ts
 */
import { check } from "k6";
import { expectedStatuses, post, setResponseCallback } from "k6/http";
import { Rate } from "k6/metrics";
import type { Options } from "k6/options";
import { BASE_URL, bodyText, chatRequest, HEADERS, isCompleteChatAnswer, MAX_TOKENS } from "./lib/config.ts";

const CALM_RATE = Number(__ENV.CALM_RATE ?? "20");
const BURST_RATE = Number(__ENV.BURST_RATE ?? "500");

export const options: Options = {
  scenarios: {
    burst: {
      executor: "ramping-arrival-rate",
      startRate: CALM_RATE,
      timeUnit: "1s",
      preAllocatedVUs: 50,
      maxVUs: 1000,
      stages: [
        { duration: "10s", target: CALM_RATE },
        { duration: "2s", target: BURST_RATE },
        { duration: "10s", target: BURST_RATE },
        { duration: "2s", target: CALM_RATE },
        { duration: "10s", target: CALM_RATE },
      ],
      gracefulStop: "30s",
    },
  },
  thresholds: {
    http_req_failed: ["rate<0.01"],
    burst_shed: ["rate<0.5"],
    checks: ["rate>0.99"],
  },
  summaryTrendStats: ["avg", "min", "med", "p(90)", "p(99)", "max"],
};

// Shedding under a burst is allowed behaviour, not a failure.
setResponseCallback(expectedStatuses(200, 429, 503));

const shed = new Rate("burst_shed");
const body = JSON.stringify(chatRequest(false));

export default function (): void {
  const response = post(`${BASE_URL}/v1/chat/completions`, body, { headers: HEADERS, timeout: "60s" });
  const wasShed = response.status === 429 || response.status === 503;
  shed.add(wasShed);
  check(response, {
    "200, or shed with retry-after": (r) =>
      r.status === 200 || (wasShed && (r.headers["Retry-After"] ?? r.headers["retry-after"] ?? "") !== ""),
    [`a 200 carries ${MAX_TOKENS} tokens`]: (r) =>
      r.status !== 200 || isCompleteChatAnswer(bodyText(r.body), MAX_TOKENS),
  });
}
