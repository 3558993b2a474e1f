/**
 * Streaming over the WebSocket API (`GET /v1/ws`): each virtual user holds one socket and keeps
 * PER_SOCKET streaming requests in flight on it, multiplexed by id, for SOCKET_SECONDS; then it
 * closes and the iteration starts over with a new socket.
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:8080 -e API_KEY=sk-hn-demo-key loadtest/k6/websocket.ts
 */
import { check } from "k6";
import { Counter, Rate, Trend } from "k6/metrics";
import type { Options } from "k6/options";
import { connect } from "k6/ws";
import { API_KEY, chatRequest, DURATION, MAX_TOKENS, VUS, WS_URL } from "./lib/config.ts";
import { WsRequestTracker } from "./lib/ws-frames.ts";

const PER_SOCKET = Number(__ENV.PER_SOCKET ?? "4");
const SOCKET_SECONDS = Number(__ENV.SOCKET_SECONDS ?? "10");

export const options: Options = {
  scenarios: {
    websocket: { executor: "constant-vus", vus: VUS, duration: DURATION, gracefulStop: `${SOCKET_SECONDS + 30}s` },
  },
  thresholds: {
    ws_request_failed: ["rate<0.01"],
    ws_ttft: ["p(99)<2000"],
    checks: ["rate>0.99"],
  },
  summaryTrendStats: ["avg", "min", "med", "p(90)", "p(99)", "max"],
};

const ttft = new Trend("ws_ttft", true);
const duration = new Trend("ws_request_duration", true);
const chunks = new Counter("ws_chunks");
const failed = new Rate("ws_request_failed");
const body = chatRequest(true);

export default function (): void {
  const tracker = new WsRequestTracker();
  let closing = false;
  const response = connect(WS_URL, { headers: { authorization: `Bearer ${API_KEY}` } }, (socket) => {
    const send = () => {
      const id = tracker.start(Date.now(), `vu${__VU}-`);
      socket.send(JSON.stringify({ type: "request", id, path: "/v1/chat/completions", body }));
    };
    socket.on("open", () => {
      for (let index = 0; index < PER_SOCKET; index++) send();
    });
    socket.on("message", (message) => {
      const effect = tracker.onFrame(message, Date.now());
      if (effect.kind === "first-token") ttft.add(effect.ttftMs);
      else if (effect.kind === "chunk") chunks.add(1);
      else if (effect.kind === "finished") {
        duration.add(effect.durationMs);
        // Role and finish chunks come with the text ones.
        failed.add(effect.chunks < MAX_TOKENS);
        if (!closing) send();
      } else if (effect.kind === "failed") {
        failed.add(true);
        if (!closing && effect.id !== null) send();
      }
      if (closing && tracker.inFlight === 0) socket.close();
    });
    socket.setTimeout(() => {
      // Stop sending; let what is in flight finish, then close (or give up 30 s later).
      closing = true;
      if (tracker.inFlight === 0) socket.close();
      socket.setTimeout(() => socket.close(), 30_000);
    }, SOCKET_SECONDS * 1000);
  });
  check(response, { "upgraded (101)": (r) => r.status === 101 });
}
