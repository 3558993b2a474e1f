import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { summarizeChatSse } from "../../loadtest/k6/lib/sse-body.ts";
import { checkedBaseUrl, webSocketUrl } from "../../loadtest/k6/lib/url.ts";
import { WsRequestTracker } from "../../loadtest/k6/lib/ws-frames.ts";

const k6Dir = fileURLToPath(new URL("../../loadtest/k6/", import.meta.url));
const text = (content: string) => JSON.stringify({ choices: [{ index: 0, delta: { content } }] });

describe("k6 scenarios", () => {
  it("cover non-stream, stream, mixed with embeddings, WebSocket and burst", () => {
    const scripts = readdirSync(k6Dir).filter((file) => file.endsWith(".ts") && !file.endsWith(".d.ts"));
    expect(scripts.sort()).toEqual(["burst.ts", "chat-stream.ts", "chat.ts", "mixed.ts", "websocket.ts"]);
  });

  it("typecheck on their own tsconfig (k6's API, no Node globals)", () => {
    const configPath = join(k6Dir, "tsconfig.json");
    const config = ts.readConfigFile(configPath, ts.sys.readFile);
    expect(config.error).toBeUndefined();
    const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, dirname(configPath));
    const program = ts.createProgram(parsed.fileNames, parsed.options);
    const diagnostics = ts
      .getPreEmitDiagnostics(program)
      .map((diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n"));
    expect(diagnostics).toEqual([]);
  }, 60_000);
});

describe("summarizeChatSse", () => {
  it("counts chunks of a complete stream", () => {
    const body = `data: ${JSON.stringify({ choices: [{ delta: { role: "assistant", content: "" } }] })}\n\ndata: ${text("a")}\n\ndata: ${text("b")}\n\ndata: [DONE]\n\n`;
    expect(summarizeChatSse(body)).toEqual({ chunks: 3, contentChunks: 2, done: true, problem: undefined });
  });

  it("reports error events, missing [DONE], garbage and cut-off events", () => {
    expect(summarizeChatSse(`data: ${text("a")}\n\ndata: {"error":{"message":"x"}}\n\n`).problem).toContain(
      "error event",
    );
    expect(summarizeChatSse(`data: ${text("a")}\n\n`).problem).toBe("no [DONE]");
    expect(summarizeChatSse("data: nope\n\ndata: [DONE]\n\n").problem).toContain("not JSON");
    expect(summarizeChatSse(`data: [DONE]\n\ndata: ${text("late")}\n\n`).problem).toBe("data after [DONE]");
    expect(summarizeChatSse("data: [DONE]\n\ndata: {").problem).toBe("the stream ended inside an event");
    expect(summarizeChatSse("").problem).toBe("no [DONE]");
  });
});

describe("WsRequestTracker", () => {
  it("follows requests multiplexed on one socket", () => {
    const tracker = new WsRequestTracker();
    const first = tracker.start(1_000);
    const second = tracker.start(1_000);
    expect(tracker.inFlight).toBe(2);
    expect(
      tracker.onFrame(
        JSON.stringify({ type: "chunk", id: first, chunk: { choices: [{ delta: { role: "assistant" } }] } }),
        1_010,
      ),
    ).toEqual({ kind: "chunk", id: first });
    expect(tracker.onFrame(JSON.stringify({ type: "chunk", id: first, chunk: JSON.parse(text("hi")) }), 1_020)).toEqual(
      {
        kind: "first-token",
        id: first,
        ttftMs: 20,
      },
    );
    expect(tracker.onFrame(JSON.stringify({ type: "chunk", id: first, chunk: JSON.parse(text("yo")) }), 1_030)).toEqual(
      { kind: "chunk", id: first },
    );
    expect(tracker.onFrame(JSON.stringify({ type: "done", id: first }), 1_040)).toEqual({
      kind: "finished",
      id: first,
      durationMs: 40,
      chunks: 3,
    });
    expect(
      tracker.onFrame(JSON.stringify({ type: "error", id: second, status: 503, error: { message: "busy" } }), 1_050),
    ).toEqual({
      kind: "failed",
      id: second,
      message: "busy",
    });
    expect(tracker.inFlight).toBe(0);
  });

  it("ignores frames for unknown ids and reports garbage", () => {
    const tracker = new WsRequestTracker();
    expect(tracker.onFrame(JSON.stringify({ type: "chunk", id: "nope", chunk: {} }), 0)).toEqual({ kind: "ignored" });
    expect(tracker.onFrame("not json", 0)).toMatchObject({ kind: "failed", id: null });
    expect(tracker.onFrame(JSON.stringify({ type: "error", id: null, error: { message: "bad frame" } }), 0)).toEqual({
      kind: "failed",
      id: null,
      message: "bad frame",
    });
  });
});

describe("checkedBaseUrl", () => {
  it("accepts loopback and refuses the rest unless allowed", () => {
    expect(checkedBaseUrl("http://127.0.0.1:8080/", false)).toBe("http://127.0.0.1:8080");
    expect(checkedBaseUrl("http://localhost:8080", false)).toBe("http://localhost:8080");
    expect(checkedBaseUrl("http://[::1]:8080", false)).toBe("http://[::1]:8080");
    expect(() => checkedBaseUrl("https://gateway.example.com", false)).toThrow("ALLOW_REMOTE");
    expect(checkedBaseUrl("https://gateway.example.com", true)).toBe("https://gateway.example.com");
    expect(() => checkedBaseUrl("127.0.0.1:8080", false)).toThrow("BASE_URL");
    expect(webSocketUrl("https://h:1")).toBe("wss://h:1/v1/ws");
  });
});
