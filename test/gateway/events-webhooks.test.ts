/**
 * Webhooks against a real local receiver: signatures verify, a 500 is retried, each event id
 * is delivered exactly once after a 2xx, delivery gives up after its attempts, and tampered or
 * stale signatures fail verification. The last test checks the gateway starts the dispatcher
 * from its settings.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigurationError, loadConfig } from "../../gateway/config.ts";
import { EventBus } from "../../gateway/events/event-bus.ts";
import type { HypernodeEvent } from "../../gateway/events/types.ts";
import { signWebhookBody } from "../../gateway/events/webhook-signature.ts";
import { verifyWebhookSignature, WebhookDispatcher } from "../../gateway/events/webhooks.ts";
import { eventually, startTestStack, type TestStack } from "../support/test-stack.ts";

const SECRET = "whsec_test_0123456789abcdef";

interface ReceivedRequest {
  headers: IncomingHttpHeaders;
  body: string;
  status: number;
}

/** A webhook receiver whose answer per request is chosen by `respond`. */
async function startReceiver(respond: (request: ReceivedRequest, index: number) => number) {
  const received: ReceivedRequest[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const entry: ReceivedRequest = {
        headers: request.headers,
        body: Buffer.concat(chunks).toString("utf8"),
        status: 0,
      };
      entry.status = respond(entry, received.length);
      received.push(entry);
      response.writeHead(entry.status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const epochData = { epoch: 7, root: "ab", records: 3, payouts: 2, amount: "1500", signatures: ["sig"] };

describe("WebhookDispatcher", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it("signs deliveries, retries a 500 and delivers each event exactly once after a 2xx", async () => {
    const attemptsByEvent = new Map<string, number>();
    const receiver = await startReceiver((request) => {
      const eventId = String(request.headers["x-hypernode-event-id"]);
      const attempt = (attemptsByEvent.get(eventId) ?? 0) + 1;
      attemptsByEvent.set(eventId, attempt);
      return attempt === 1 ? 500 : 204;
    });
    cleanups.push(receiver.close);
    const bus = new EventBus();
    const dispatcher = new WebhookDispatcher({
      endpoints: [{ url: receiver.url, secret: SECRET }],
      initialDelayMs: 20,
      maxAttempts: 4,
    }).attach(bus);
    cleanups.push(() => dispatcher.close());

    const first = bus.publish("epochSettled", epochData);
    const second = bus.publish("runnerOnline", { runnerId: "r1", wallet: "w", engine: "sim", models: ["m"] });
    await eventually(() => (dispatcher.pendingCount === 0 && receiver.received.length === 4 ? true : undefined));

    for (const request of receiver.received) {
      expect(request.headers["content-type"]).toBe("application/json");
      expect(verifyWebhookSignature(request.body, String(request.headers["x-hypernode-signature"]), SECRET)).toBe(true);
      const event = JSON.parse(request.body) as HypernodeEvent;
      expect(request.headers["x-hypernode-event-id"]).toBe(event.id);
      expect(request.headers["x-hypernode-event-type"]).toBe(event.type);
    }
    const delivered = receiver.received.filter((request) => request.status === 204);
    expect(delivered.map((request) => request.headers["x-hypernode-event-id"]).sort()).toEqual(
      [first.id, second.id].sort(),
    );
    expect(
      JSON.parse(delivered.find((request) => request.headers["x-hypernode-event-id"] === first.id)?.body ?? ""),
    ).toEqual(first);

    // Offering an acknowledged event again (a replay) must not send it again.
    dispatcher.enqueue(first);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(receiver.received).toHaveLength(4);
  });

  it("gives up after maxAttempts and stops on close", async () => {
    const receiver = await startReceiver(() => 503);
    cleanups.push(receiver.close);
    const bus = new EventBus();
    const dispatcher = new WebhookDispatcher({
      endpoints: [{ url: receiver.url, secret: SECRET }],
      initialDelayMs: 10,
      maxAttempts: 3,
    }).attach(bus);
    cleanups.push(() => dispatcher.close());
    bus.publish("epochSettled", epochData);
    await eventually(() => (dispatcher.pendingCount === 0 ? true : undefined));
    expect(receiver.received).toHaveLength(3);

    const slow = new WebhookDispatcher({
      endpoints: [{ url: receiver.url, secret: SECRET }],
      initialDelayMs: 60_000,
    }).attach(bus);
    bus.publish("epochSettled", epochData);
    await eventually(() => (receiver.received.length === 5 ? true : undefined));
    slow.close();
    dispatcher.close();
    expect(slow.pendingCount).toBe(0);
  });

  it("retries network errors", async () => {
    const receiver = await startReceiver(() => 200);
    const url = receiver.url;
    await receiver.close();
    const bus = new EventBus();
    const warnings: object[] = [];
    const dispatcher = new WebhookDispatcher({
      endpoints: [{ url, secret: SECRET }],
      initialDelayMs: 10,
      maxAttempts: 2,
      logger: { warn: (details) => warnings.push(details), error: (details) => warnings.push(details) },
    }).attach(bus);
    cleanups.push(() => dispatcher.close());
    bus.publish("epochSettled", epochData);
    await eventually(() => (dispatcher.pendingCount === 0 ? true : undefined));
    expect(warnings).toHaveLength(2);
  });
});

describe("verifyWebhookSignature", () => {
  const body = JSON.stringify({ id: "evt_1", type: "epochSettled", createdAt: 1, data: epochData });

  it("accepts the signed body and rejects tampering, stale timestamps and other secrets", () => {
    const now = Math.floor(Date.now() / 1000);
    const header = signWebhookBody(body, SECRET, now);
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature(body, header, SECRET)).toBe(true);
    expect(verifyWebhookSignature(Buffer.from(body), header, SECRET)).toBe(true);
    expect(verifyWebhookSignature(body.replace("1500", "9999"), header, SECRET)).toBe(false);
    expect(verifyWebhookSignature(body, header, "whsec_another_secret_value")).toBe(false);
    const stale = signWebhookBody(body, SECRET, now - 301);
    expect(verifyWebhookSignature(body, stale, SECRET)).toBe(false);
    expect(verifyWebhookSignature(body, stale, SECRET, 600)).toBe(true);
    // The timestamp is under the MAC: moving it forward breaks the signature.
    expect(verifyWebhookSignature(body, stale.replace(/^t=\d+/, `t=${now}`), SECRET)).toBe(false);
    expect(verifyWebhookSignature(body, undefined, SECRET)).toBe(false);
    expect(verifyWebhookSignature(body, "v1=abc", SECRET)).toBe(false);
    expect(verifyWebhookSignature(body, `t=${now},v1=${"0".repeat(64)},${header.split(",")[1]}`, SECRET)).toBe(true);
  });
});

describe("gateway webhooks", () => {
  let stack: TestStack | undefined;
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });

  it("posts runnerOnline to the configured URL", async () => {
    const receiver = await startReceiver(() => 200);
    try {
      stack = await startTestStack({
        runners: 0,
        settings: { webhooks: { urls: [receiver.url], secret: SECRET, maxAttempts: 3 } },
      });
      await stack.addRunner({ runnerId: "runner-webhook" });
      const request = await eventually(() =>
        receiver.received.find((entry) => entry.headers["x-hypernode-event-type"] === "runnerOnline"),
      );
      expect(verifyWebhookSignature(request.body, String(request.headers["x-hypernode-signature"]), SECRET)).toBe(true);
      expect((JSON.parse(request.body) as HypernodeEvent<"runnerOnline">).data.runnerId).toBe("runner-webhook");
    } finally {
      await stack?.close();
      stack = undefined;
      await receiver.close();
    }
  });
});

describe("webhook configuration", () => {
  it("reads URLs and secret, and refuses URLs without a secret or bad values", () => {
    expect(loadConfig({}).webhooks).toBeUndefined();
    expect(
      loadConfig({
        HYPERNODE_WEBHOOK_URLS: "https://a.example/hook, http://127.0.0.1:9000/x",
        HYPERNODE_WEBHOOK_SECRET: SECRET,
      }).webhooks,
    ).toEqual({ urls: ["https://a.example/hook", "http://127.0.0.1:9000/x"], secret: SECRET, maxAttempts: 6 });
    expect(() => loadConfig({ HYPERNODE_WEBHOOK_URLS: "https://a.example/hook" })).toThrow(/HYPERNODE_WEBHOOK_SECRET/);
    expect(() =>
      loadConfig({ HYPERNODE_WEBHOOK_URLS: "https://a.example", HYPERNODE_WEBHOOK_SECRET: "short" }),
    ).toThrow(ConfigurationError);
    expect(() => loadConfig({ HYPERNODE_WEBHOOK_URLS: "ftp://a.example", HYPERNODE_WEBHOOK_SECRET: SECRET })).toThrow(
      /HYPERNODE_WEBHOOK_URLS/,
    );
    expect(() =>
      loadConfig({
        HYPERNODE_WEBHOOK_URLS: "https://a.example",
        HYPERNODE_WEBHOOK_SECRET: SECRET,
        HYPERNODE_WEBHOOK_MAX_ATTEMPTS: "0",
      }),
    ).toThrow(/HYPERNODE_WEBHOOK_MAX_ATTEMPTS/);
  });
});
