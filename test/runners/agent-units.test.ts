import { describe, expect, it } from "vitest";
import { ReconnectBackoff } from "../../runners/agent/backoff.ts";
import { CreditGate } from "../../runners/agent/credit.ts";
import { parseGatewayFrame } from "../../runners/agent/frames.ts";
import { tunnelUrlFor } from "../../runners/agent/options.ts";

describe("ReconnectBackoff", () => {
  it("grows exponentially under a full-jitter ceiling capped at the maximum", () => {
    const highest = new ReconnectBackoff({ initialDelayMs: 500, maxDelayMs: 30_000 }, () => 0.999_999);
    const delays = Array.from({ length: 10 }, () => highest.nextDelayMs());
    expect(delays.slice(0, 7)).toEqual([499, 999, 1999, 3999, 7999, 15999, 29999]);
    expect(Math.max(...delays)).toBeLessThan(30_000);
    const lowest = new ReconnectBackoff({ initialDelayMs: 500, maxDelayMs: 30_000 }, () => 0);
    expect(lowest.nextDelayMs()).toBe(0);
  });

  it("starts over after reset, and waits at least half the maximum after a refusal", () => {
    const backoff = new ReconnectBackoff({ initialDelayMs: 100, maxDelayMs: 1_000 }, () => 0.999_999);
    backoff.nextDelayMs();
    backoff.nextDelayMs();
    backoff.reset();
    expect(backoff.nextDelayMs()).toBe(99);
    expect(new ReconnectBackoff({ initialDelayMs: 100, maxDelayMs: 1_000 }, () => 0).refusedDelayMs()).toBe(500);
    expect(backoff.refusedDelayMs()).toBe(999);
  });
});

describe("tunnelUrlFor", () => {
  it("maps http(s) to ws(s) on the tunnel path, keeping a proxy's path prefix", () => {
    expect(tunnelUrlFor("http://127.0.0.1:8080")).toBe("ws://127.0.0.1:8080/v1/runners/connect");
    expect(tunnelUrlFor("https://gw.example.com/")).toBe("wss://gw.example.com/v1/runners/connect");
    expect(tunnelUrlFor("https://example.com/hypernode/")).toBe("wss://example.com/hypernode/v1/runners/connect");
    expect(tunnelUrlFor("ws://10.0.0.1:9000")).toBe("ws://10.0.0.1:9000/v1/runners/connect");
    expect(() => tunnelUrlFor("ftp://example.com")).toThrow(/http/);
  });
});

describe("parseGatewayFrame", () => {
  it("accepts every gateway message and tolerates fields from newer gateways", () => {
    const parsed = parseGatewayFrame(JSON.stringify({ type: "credit", jobId: "j", chunks: 3, priority: "high" }));
    expect(parsed).toEqual({ ok: true, message: { type: "credit", jobId: "j", chunks: 3, priority: "high" } });
  });

  it("explains what is wrong with a bad frame instead of throwing", () => {
    expect(parseGatewayFrame("{")).toEqual({ ok: false, reason: "not JSON" });
    expect(parseGatewayFrame("null")).toMatchObject({ ok: false });
    expect(parseGatewayFrame(JSON.stringify({ type: "job", jobId: "j" }))).toMatchObject({
      ok: false,
      reason: expect.stringContaining("job"),
    });
    expect(parseGatewayFrame(JSON.stringify({ type: "credit", jobId: "j", chunks: 1.5 }))).toMatchObject({ ok: false });
  });
});

describe("CreditGate", () => {
  it("waits at zero credit until a grant or an abort", async () => {
    const gate = new CreditGate(1);
    const controller = new AbortController();
    await gate.whenAvailable(controller.signal);
    gate.spend();
    let released = false;
    const waiting = gate.whenAvailable(controller.signal).then(() => {
      released = true;
    });
    await Promise.resolve();
    expect(released).toBe(false);
    gate.grant(2);
    await waiting;
    expect(gate.remaining).toBe(2);
    gate.spend();
    gate.spend();
    const aborted = gate.whenAvailable(controller.signal);
    controller.abort();
    await aborted;
    expect(gate.remaining).toBe(0);
  });
});
