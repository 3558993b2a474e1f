/**
 * `GET /v1/events` over real sockets against a whole in-process network: the admin token sees
 * every event, an API key only its own account's, filters and replay work, and bad upgrades
 * get plain HTTP errors.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket, { type RawData } from "ws";
import { EventBus } from "../../gateway/events/event-bus.ts";
import type { HypernodeEvent, HypernodeEventType } from "../../gateway/events/types.ts";
import { eventually, fundTestIntent, startTestStack, TEST_ACCOUNT_ID, type TestStack } from "../support/test-stack.ts";

const MODEL = "qwen2.5-7b-instruct";
const OTHER_ACCOUNT_ID = "acct_events_other";

/** A subscriber socket that records every event. */
class EventSocket {
  readonly events: HypernodeEvent[] = [];
  closeCode: number | undefined;

  private constructor(readonly socket: WebSocket) {
    socket.on("message", (data: RawData) => this.events.push(JSON.parse(data.toString()) as HypernodeEvent));
    socket.on("close", (code: number) => {
      this.closeCode = code;
    });
  }

  static open(stack: TestStack, token: string | undefined, query = ""): Promise<EventSocket> {
    const socket = new WebSocket(`${stack.url.replace(/^http/, "ws")}/v1/events${query}`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    return new Promise((resolve, reject) => {
      socket.once("open", () => resolve(new EventSocket(socket)));
      socket.once("unexpected-response", (_request, response) =>
        reject(new Error(`upgrade refused: ${response.statusCode}`)),
      );
      socket.once("error", reject);
    });
  }

  waitFor<Type extends HypernodeEventType>(
    type: Type,
    matches: (event: HypernodeEvent<Type>) => boolean = () => true,
  ): Promise<HypernodeEvent<Type>> {
    return eventually(() =>
      this.events.find(
        (event): event is HypernodeEvent<Type> => event.type === type && matches(event as HypernodeEvent<Type>),
      ),
    );
  }

  close(): void {
    this.socket.close();
  }
}

/** The account of a jobCompleted event; undefined for any other type. */
function jobAccount(event: HypernodeEvent): string | undefined {
  return event.type === "jobCompleted" ? (event as HypernodeEvent<"jobCompleted">).data.accountId : undefined;
}

async function chat(stack: TestStack, apiKey: string): Promise<void> {
  const response = await fetch(`${stack.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hello" }], max_tokens: 5 }),
  });
  expect(response.status).toBe(200);
  await response.arrayBuffer();
}

describe("GET /v1/events", () => {
  let stack: TestStack;
  let otherKey: string;
  let ownIntentId: string;
  let otherIntentId: string;
  const sockets: EventSocket[] = [];
  const open = async (token: string | undefined, query = "") => {
    const socket = await EventSocket.open(stack, token, query);
    sockets.push(socket);
    return socket;
  };

  beforeAll(async () => {
    stack = await startTestStack({ runners: 0, billing: { fundedAmount: 10_000_000n } });
    await stack.store.createAccount({
      id: OTHER_ACCOUNT_ID,
      name: "other",
      activeIntentId: undefined,
      createdAt: Date.now(),
    });
    otherKey = (await stack.store.apiKeys.create(OTHER_ACCOUNT_ID, "other key")).key;
    otherIntentId = await fundTestIntent(stack.store, OTHER_ACCOUNT_ID, 10_000_000n);
    const account = await stack.store.getAccount(TEST_ACCOUNT_ID);
    if (!account?.activeIntentId) throw new Error("the test account has no intent");
    ownIntentId = account.activeIntentId;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await stack.close();
  });

  it("sends the admin runnerOnline and a jobCompleted with token usage and charge", async () => {
    const admin = await open(stack.adminToken);
    const runner = await stack.addRunner({ runnerId: "runner-events-1" });
    const online = await admin.waitFor("runnerOnline", (event) => event.data.runnerId === "runner-events-1");
    expect(online.id).toMatch(/^evt_/);
    expect(online.data.models).toContain(MODEL);
    expect(online.data.engine).toBe("sim");
    expect(runner).toBeDefined();

    await chat(stack, stack.apiKey);
    const completed = await admin.waitFor("jobCompleted");
    expect(completed.data).toMatchObject({
      accountId: TEST_ACCOUNT_ID,
      modelType: MODEL,
      success: true,
      intentId: ownIntentId,
    });
    expect(completed.data.nodeId).toBe("runner-events-1");
    expect(completed.data.tokenUsage.promptTokens).toBeGreaterThan(0);
    expect(completed.data.tokenUsage.completionTokens).toBeGreaterThan(0);
    expect(completed.data.tokenUsage.totalTokens).toBe(
      completed.data.tokenUsage.promptTokens + completed.data.tokenUsage.completionTokens,
    );
    expect(completed.data.charge).toMatch(/^[1-9]\d*$/);
    expect(typeof completed.createdAt).toBe("number");
  });

  it("shows an API key only its own account's jobs and payouts", async () => {
    const own = await open(stack.apiKey);
    const other = await open(otherKey);
    const admin = await open(stack.adminToken);
    await chat(stack, otherKey);
    await chat(stack, stack.apiKey);
    await admin.waitFor("jobCompleted", (event) => event.data.accountId === TEST_ACCOUNT_ID);
    // Events arrive in publish order: once the later own job is here, the other's would be too.
    await own.waitFor("jobCompleted");
    await other.waitFor("jobCompleted");
    expect(own.events.every((event) => jobAccount(event) === TEST_ACCOUNT_ID)).toBe(true);
    expect(other.events.every((event) => jobAccount(event) === OTHER_ACCOUNT_ID)).toBe(true);

    const payout = (intentId: string) => ({
      intentId,
      runnerId: "runner-events-1",
      recipient: "Recipient111111111111111111111111111111111",
      role: "runner" as const,
      amount: "1000",
      signature: `sig-${intentId}`,
      epoch: 1,
    });
    stack.gateway.services.events.publish("paymentSettled", payout(otherIntentId));
    stack.gateway.services.events.publish("paymentSettled", payout(ownIntentId));
    stack.gateway.services.events.publish("epochSettled", {
      epoch: 1,
      root: "00",
      records: 2,
      payouts: 2,
      amount: "2000",
      signatures: [],
    });
    await admin.waitFor("epochSettled");
    const ownPayout = await own.waitFor("paymentSettled");
    expect(ownPayout.data.intentId).toBe(ownIntentId);
    const otherPayout = await other.waitFor("paymentSettled");
    expect(otherPayout.data.intentId).toBe(otherIntentId);
    // Give any wrongly routed frame time to arrive before asserting its absence.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(own.events.filter((event) => event.type === "paymentSettled")).toHaveLength(1);
    expect(own.events.some((event) => event.type === "epochSettled" || event.type === "runnerOnline")).toBe(false);
  });

  it("filters by ?types and replays from ?since", async () => {
    const onlyPayouts = await open(stack.adminToken, "?types=paymentSettled,epochSettled");
    const bus = stack.gateway.services.events;
    const first = bus.publish("runnerOffline", {
      runnerId: "r-x",
      wallet: "w",
      engine: "sim",
      models: [],
      reason: "test",
    });
    const second = bus.publish("epochSettled", {
      epoch: 2,
      root: "01",
      records: 0,
      payouts: 0,
      amount: "0",
      signatures: [],
    });
    await onlyPayouts.waitFor("epochSettled", (event) => event.id === second.id);
    expect(onlyPayouts.events.some((event) => event.id === first.id)).toBe(false);

    const late = await open(stack.adminToken, `?since=${first.id}`);
    const replayed = await late.waitFor("epochSettled", (event) => event.id === second.id);
    expect(late.events[0]?.id).toBe(replayed.id);
  });

  it("refuses bad credentials and filters before the upgrade", async () => {
    await expect(EventSocket.open(stack, undefined)).rejects.toThrow("401");
    await expect(EventSocket.open(stack, "sk-hn-not-a-key")).rejects.toThrow("401");
    await expect(EventSocket.open(stack, stack.adminToken, "?types=nope")).rejects.toThrow("400");
    await expect(EventSocket.open(stack, stack.adminToken, "?since=evt_unknown")).rejects.toThrow("400");
    const plain = await fetch(`${stack.url}/v1/events`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
    expect(plain.status).toBe(426);
  });
});

describe("EventBus", () => {
  it("keeps publishing when a subscriber throws, and bounds its replay ring", () => {
    const errors: unknown[] = [];
    const bus = new EventBus({ retainedEvents: 2, onListenerError: (error) => errors.push(error) });
    const received: string[] = [];
    bus.subscribe(() => {
      throw new Error("broken subscriber");
    });
    const unsubscribe = bus.subscribe((event) => received.push(event.id));
    const data = { epoch: 1, root: "00", records: 0, payouts: 0, amount: "0", signatures: [] };
    const events = [
      bus.publish("epochSettled", data),
      bus.publish("epochSettled", data),
      bus.publish("epochSettled", data),
    ];
    expect(received).toEqual(events.map((event) => event.id));
    expect(errors).toHaveLength(3);
    expect(bus.since(events[0]?.id ?? "")).toBeUndefined();
    expect(bus.since(events[1]?.id ?? "")?.map((event) => event.id)).toEqual([events[2]?.id]);
    unsubscribe();
    bus.publish("epochSettled", data);
    expect(received).toHaveLength(3);
  });
});

describe("a slow events client", () => {
  it("is closed with 1008 instead of buffered for without bound", async () => {
    const stack = await startTestStack({ runners: 0 });
    try {
      const slow = await EventSocket.open(stack, stack.adminToken);
      // The client stops reading: the server's send buffer grows once the kernel's is full.
      slow.socket.pause();
      const reason = "x".repeat(1024 * 1024);
      for (let index = 0; index < 40; index++) {
        stack.gateway.services.events.publish("runnerOffline", {
          runnerId: `r${index}`,
          wallet: "w",
          engine: "sim",
          models: [],
          reason,
        });
        await new Promise((resolve) => setImmediate(resolve));
      }
      slow.socket.resume();
      const code = await eventually(() => slow.closeCode, 10_000);
      expect(code).toBe(1008);
      expect(slow.events.length).toBeLessThan(40);
    } finally {
      await stack.close();
    }
  });
});
