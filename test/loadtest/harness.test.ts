import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseBenchOptions, UsageError } from "../../loadtest/lib/cli-options.ts";
import {
  isCpuProfile,
  renderProfileMarkdown,
  shortLocation,
  summarizeCpuProfile,
} from "../../loadtest/lib/cpu-profile.ts";
import { closedLoop, createTarget, openLoop, type Target, timedPost, timedStream } from "../../loadtest/lib/load.ts";
import { inheritedEnvironment, parseVmRss } from "../../loadtest/lib/processes.ts";
import { escapeXml, niceCeiling, renderCharts } from "../../loadtest/lib/svg-chart.ts";

describe("parseBenchOptions", () => {
  it("defaults to every scenario, full length, a 10-minute soak", () => {
    expect(parseBenchOptions([])).toEqual({
      scenarios: ["a", "b", "c", "d", "e", "f"],
      quick: false,
      soakMinutes: 10,
      cpuProf: false,
      resultsDir: undefined,
      help: false,
    });
  });

  it("reads lists, repeats, --quick, --soak-minutes and --cpu-prof", () => {
    const options = parseBenchOptions([
      "--scenario",
      "c,a",
      "--scenario=B",
      "--quick",
      "--soak-minutes",
      "1.5",
      "--cpu-prof",
    ]);
    expect(options).toMatchObject({ scenarios: ["a", "b", "c"], quick: true, soakMinutes: 1.5, cpuProf: true });
  });

  it("refuses unknown scenarios, options and bad durations", () => {
    expect(() => parseBenchOptions(["--scenario", "a,x"])).toThrow(UsageError);
    expect(() => parseBenchOptions(["--scenario", ","])).toThrow(UsageError);
    expect(() => parseBenchOptions(["--fast"])).toThrow(UsageError);
    expect(() => parseBenchOptions(["--soak-minutes", "0"])).toThrow(UsageError);
    expect(() => parseBenchOptions(["--soak-minutes", "ten"])).toThrow(UsageError);
    expect(() => parseBenchOptions(["extra"])).toThrow(UsageError);
  });
});

describe("inheritedEnvironment", () => {
  it("drops the caller's Hypernode settings and endpoints, keeps the rest", () => {
    expect(
      inheritedEnvironment({
        PATH: "/bin",
        HOME: "/root",
        HYPERNODE_BILLING: "off",
        HN_NODE_TOKEN: "hn_x",
        PORT: "8080",
        REDIS_URL: "redis://x",
        NODE_OPTIONS: "--inspect",
      }),
    ).toEqual({ PATH: "/bin", HOME: "/root" });
  });
});

describe("parseVmRss", () => {
  it("reads VmRSS in bytes, or nothing", () => {
    expect(parseVmRss("Name:\tnode\nVmPeak:\t  999 kB\nVmRSS:\t  123456 kB\nThreads:\t11\n")).toBe(123456 * 1024);
    expect(parseVmRss("Name:\tkthreadd\n")).toBeUndefined();
  });
});

describe("CPU profile summary", () => {
  const profile = {
    startTime: 0,
    endTime: 4_000,
    nodes: [
      { id: 1, callFrame: { functionName: "(root)", url: "", lineNumber: -1 } },
      { id: 2, callFrame: { functionName: "(idle)", url: "", lineNumber: -1 } },
      { id: 3, callFrame: { functionName: "serialize", url: "file:///repo/gateway/app.ts", lineNumber: 9 } },
      { id: 4, callFrame: { functionName: "", url: "file:///repo/node_modules/fastify/lib/route.js", lineNumber: 0 } },
    ],
    samples: [2, 3, 3, 4],
    timeDeltas: [0, 1_000, 1_000, 1_000],
  };

  it("attributes self time, sets idle apart and names locations", () => {
    expect(isCpuProfile(profile)).toBe(true);
    expect(isCpuProfile({ nodes: [] })).toBe(false);
    const summary = summarizeCpuProfile(profile, "/repo");
    expect(summary.idleMs).toBe(1);
    expect(summary.busyMs).toBe(3);
    expect(summary.functions[0]).toEqual({
      functionName: "serialize",
      location: "gateway/app.ts:10",
      selfMs: 2,
      percent: expect.closeTo(66.67, 1) as number,
    });
    expect(summary.functions[1]?.functionName).toBe("(anonymous)");
    expect(summary.files.map((file) => file.location)).toEqual(["gateway/app.ts", "fastify/lib/route.js"]);
    expect(renderProfileMarkdown(summary, "t")).toContain("| 2 | 66.7 | `serialize` | gateway/app.ts:10 |");
  });

  it("can leave out the start of the profile", () => {
    const summary = summarizeCpuProfile(profile, "/repo", 20, 1.5);
    // Samples at 0 (idle) and 1 ms (serialize) are skipped.
    expect(summary.idleMs).toBe(0);
    expect(summary.functions.map((entry) => [entry.functionName, entry.selfMs])).toEqual([
      ["serialize", 1],
      ["(anonymous)", 1],
    ]);
  });

  it("shortens locations", () => {
    expect(shortLocation("file:///repo/gateway/app.ts", "/repo/")).toBe("gateway/app.ts");
    expect(shortLocation("node:internal/streams/readable", "/repo")).toBe("node:internal/streams/readable");
    expect(shortLocation("", "/repo")).toBe("");
  });
});

describe("SVG chart", () => {
  it("draws bars, marks unmeasured ones and escapes text", () => {
    const svg = renderCharts([
      {
        kind: "bars",
        title: "<b> & co",
        unit: "ms",
        bars: [
          { label: "engine", value: 2, group: "direct" },
          { label: "gateway", value: null, group: "gateway" },
        ],
        target: 3,
      },
      {
        kind: "line",
        title: "rss",
        unit: "MB",
        xUnit: "minutes",
        points: [
          [0, 100],
          [1, 110],
        ],
      },
    ]);
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain("&lt;b&gt; &amp; co");
    expect(svg).toContain("not measured");
    expect(svg).toContain("target 3.00");
    expect(svg).toContain('<path d="M');
    expect(svg).not.toContain("NaN");
    expect(renderCharts([])).toContain("No scenario has been run yet.");
  });

  it("helpers", () => {
    expect(escapeXml(`"'<>&`)).toBe("&quot;&apos;&lt;&gt;&amp;");
    expect(niceCeiling(7.3)).toBe(10);
    expect(niceCeiling(0.0042)).toBe(0.005);
    expect(niceCeiling(0)).toBe(1);
  });
});

describe("load driver against a local server", () => {
  let server: Server;
  let origin: string;
  let target: Target;

  beforeAll(async () => {
    server = createServer((request, response) => {
      if (request.url === "/json") {
        response.writeHead(200, { "content-type": "application/json" });
        response.end('{"choices":[{"finish_reason":"length"}]}');
        return;
      }
      if (request.url === "/fail") {
        response.writeHead(503, { "content-type": "application/json" });
        response.end('{"error":{"message":"busy"}}');
        return;
      }
      response.writeHead(200, { "content-type": "text/event-stream" });
      const role = JSON.stringify({ choices: [{ delta: { role: "assistant", content: "" } }] });
      const word = JSON.stringify({ choices: [{ delta: { content: " word" } }] });
      response.write(`data: ${role}\n\n`);
      let sent = 0;
      const timer = setInterval(() => {
        if (sent < 3) {
          response.write(`data: ${word}\n\n`);
          sent++;
          return;
        }
        clearInterval(timer);
        response.end(request.url === "/cut" ? "" : "data: [DONE]\n\n");
      }, 5);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    target = createTarget("gateway", origin, 4, "sk-test");
  });

  afterAll(async () => {
    await target.pool.close();
    await new Promise((resolve) => server.close(resolve));
  });

  it("refuses targets off loopback", () => {
    expect(() => createTarget("gateway", "http://10.0.0.1:8080", 1)).toThrow("loopback");
  });

  it("times a stream chunk by chunk", async () => {
    const outcome = await timedStream(target, "/stream", "{}", 3);
    expect(outcome.ok).toBe(true);
    expect(outcome.done).toBe(true);
    expect(outcome.arrivals.length).toBe(4);
    expect(outcome.ttftMs).toBeGreaterThan(0);
    expect(outcome.ttftMs).toBe(outcome.arrivals[1]);
  });

  it("fails a stream that ends without [DONE] or falls short", async () => {
    const cut = await timedStream(target, "/cut", "{}", 3);
    expect(cut).toMatchObject({ ok: false, done: false, error: "gateway: stream ended without [DONE]" });
    const short = await timedStream(target, "/stream", "{}", 10);
    expect(short.ok).toBe(false);
    expect(short.error).toContain("expected at least 10");
  });

  it("timedPost checks status and body", async () => {
    expect((await timedPost(target, "/json", "{}", "finish_reason")).ok).toBe(true);
    const failed = await timedPost(target, "/fail", "{}", "finish_reason");
    expect(failed.ok).toBe(false);
    expect(failed.error).toContain("HTTP 503");
  });

  it("closed and open loops stay within their bounds", async () => {
    const closed = await closedLoop({
      concurrency: 3,
      durationMs: 5_000,
      maxRequests: 20,
      once: () => timedPost(target, "/json", "{}", "finish_reason"),
    });
    expect(closed.completed).toBe(20);
    expect(closed.latencies.length).toBe(20);
    const open = await openLoop({
      ratePerSecond: 200,
      durationMs: 150,
      maxPending: 100,
      once: () => timedPost(target, "/json", "{}", "finish_reason"),
    });
    expect(open.failed).toBe(0);
    expect(open.completed).toBeGreaterThan(10);
    expect(open.completed).toBeLessThanOrEqual(31);
  });
});
