/**
 * Metered billing through the whole request path, on both stores: holds before dispatch,
 * exact captures after, 402 when the intent cannot cover a request, and books that balance to
 * the base unit under concurrency and client aborts.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { chargeFor } from "../../billing/money.ts";
import { RedisBillingStore } from "../../billing/store/redis-store.ts";
import { SqliteBillingStore } from "../../billing/store/sqlite-store.ts";
import type { BillingStore } from "../../billing/store/types.ts";
import { type RedisServer, startRedisServer } from "../support/redis-server.ts";
import { fundTestIntent, startTestStack, TEST_ACCOUNT_ID, type TestStack } from "../support/test-stack.ts";

const MODEL = "qwen2.5-7b-instruct";
const messages = [{ role: "user", content: "Count the tokens of this request." }];

let redis: RedisServer | undefined;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});

const stores: [string, () => Promise<BillingStore>][] = [
  ["sqlite", async () => SqliteBillingStore.open(":memory:")],
  [
    "redis",
    async () => {
      if (!redis) throw new Error("redis-server did not start");
      return RedisBillingStore.connect(redis.options, { keyPrefix: `test:${Math.random().toString(36).slice(2)}:` });
    },
  ],
];

async function chat(stack: TestStack, body: Record<string, unknown>, signal?: AbortSignal) {
  return fetch(`${stack.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.apiKey}`, "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, messages, ...body }),
    signal,
  });
}

async function activeIntent(stack: TestStack) {
  const account = await stack.store.getAccount(TEST_ACCOUNT_ID);
  const intent = account?.activeIntentId ? await stack.store.getIntent(account.activeIntentId) : undefined;
  if (!intent) throw new Error("no active intent");
  return intent;
}

describe.each(stores)("billing on the %s store", (_name, openStore) => {
  let stack: TestStack | undefined;
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });

  it("charges exactly the tokens served and releases the rest of the hold", async () => {
    stack = await startTestStack({ billing: { store: await openStore(), fundedAmount: 10_000_000n } });
    const response = await chat(stack, { max_tokens: 7, ignore_eos: true });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { usage: { prompt_tokens: number; completion_tokens: number } };
    const jobId = response.headers.get("x-request-id") ?? "";
    const record = await stack.store.getUsage(jobId);
    const pricing = stack.catalog.resolve(MODEL)?.pricing;
    if (!record || !pricing) throw new Error("no usage record");
    expect(record.tokenUsage.completionTokens).toBe(7);
    expect(record.charge).toBe(
      chargeFor({ promptTokens: body.usage.prompt_tokens, completionTokens: body.usage.completion_tokens }, pricing),
    );
    expect(record.charge).toBeGreaterThan(0n);
    expect(record.chargeState).toBe("escrowed");
    expect(JSON.parse(record.receiptJson ?? "{}").receipt.jobId).toBe(jobId);
    const intent = await activeIntent(stack);
    expect(intent.spent).toBe(record.charge);
    expect(intent.held).toBe(0n);
  });

  it("refuses with 402 insufficient_funds when the intent cannot cover the worst case", async () => {
    stack = await startTestStack({ billing: { store: await openStore(), fundedAmount: 10n } });
    const response = await chat(stack, { max_tokens: 1000 });
    expect(response.status).toBe(402);
    const body = (await response.json()) as { error: { code: string; type: string; message: string } };
    expect(body.error.code).toBe("insufficient_funds");
    expect(body.error.message).toMatch(/max_tokens/);
    expect(stack.simulator.stats().completedRequests).toBe(0);
    expect((await activeIntent(stack)).held).toBe(0n);
  });

  it("charges an aborted stream for the tokens produced, not for max_tokens and not zero", async () => {
    stack = await startTestStack({
      billing: { store: await openStore(), fundedAmount: 10_000_000n },
      simulator: { perTokenLatencyMs: 10 },
    });
    const abort = new AbortController();
    const response = await chat(stack, { stream: true, max_tokens: 3000, ignore_eos: true }, abort.signal);
    const jobId = response.headers.get("x-request-id") ?? "";
    const reader = response.body?.getReader();
    let received = "";
    while (!received.includes('"content":" ') || received.split('"content":"').length < 12) {
      const chunk = await reader?.read();
      if (!chunk || chunk.done) break;
      received += new TextDecoder().decode(chunk.value);
    }
    abort.abort();
    const usage = await waitFor(() => stack?.store.getUsage(jobId));
    const pricing = stack.catalog.resolve(MODEL)?.pricing;
    if (!pricing) throw new Error("no pricing");
    expect(usage.tokenUsage.completionTokens).toBeGreaterThanOrEqual(10);
    expect(usage.tokenUsage.completionTokens).toBeLessThan(3000);
    expect(usage.charge).toBe(chargeFor(usage.tokenUsage, pricing));
    expect(usage.charge).toBeLessThan(
      chargeFor({ promptTokens: usage.tokenUsage.promptTokens, completionTokens: 3000 }, pricing),
    );
    const intent = await activeIntent(stack);
    expect(intent.held).toBe(0n);
    expect(intent.spent).toBe(usage.charge);
  });

  it("holds the line under 500 concurrent requests against an intent that covers about 100", async () => {
    const store = await openStore();
    // Each request holds its worst case; charges are far smaller, so fund ~100 holds' worth.
    stack = await startTestStack({
      runners: 0,
      billing: { store, fundedAmount: 1n },
      simulator: { perTokenLatencyMs: 0, timeToFirstTokenMs: 0 },
    });
    // Room for every admitted request at once: this test is about money, not runner capacity.
    await stack.addRunner({ maxConcurrentJobs: 1_000 });
    const probe = await chat(stack, { max_tokens: 50 });
    expect(probe.status).toBe(402);
    const holdMessage = ((await probe.json()) as { error: { message: string } }).error.message;
    const hold = BigInt(/needs up to (\d+)/.exec(holdMessage)?.[1] ?? "0");
    expect(hold).toBeGreaterThan(0n);
    const funded = hold * 100n + hold / 2n;
    const intentId = await fundTestIntent(store, TEST_ACCOUNT_ID, funded);

    const statuses = await Promise.all(
      Array.from({ length: 500 }, async (_, index) => {
        const response = await chat(stack as TestStack, { max_tokens: 50, stream: index % 2 === 0 });
        const text = await response.text();
        if (response.status === 402) expect(JSON.parse(text).error.code).toBe("insufficient_funds");
        return { status: response.status, jobId: response.headers.get("x-request-id") ?? "" };
      }),
    );
    const served = statuses.filter((entry) => entry.status === 200);
    const refused = statuses.filter((entry) => entry.status === 402);
    const histogram: Record<number, number> = {};
    for (const entry of statuses) histogram[entry.status] = (histogram[entry.status] ?? 0) + 1;
    expect(histogram).toEqual({ 200: served.length, 402: refused.length });
    expect(served.length).toBeGreaterThanOrEqual(100);
    expect(refused.length).toBeGreaterThan(0);

    const intent = await store.getIntent(intentId);
    if (!intent) throw new Error("intent vanished");
    const records = await store.listUsage({ intentId }, 10_000);
    const charges = records.reduce((sum, record) => sum + record.charge, 0n);
    expect(records.filter((record) => record.charge > 0n)).toHaveLength(served.length);
    expect(intent.held).toBe(0n);
    expect(intent.spent).toBe(charges);
    expect(intent.spent).toBeLessThanOrEqual(intent.funded);
    expect(intent.funded - intent.spent).toBe(funded - charges);
  }, 120_000);

  it("reports usage whose totals equal the sum of records", async () => {
    stack = await startTestStack({ billing: { store: await openStore(), fundedAmount: 10_000_000n } });
    for (const maxTokens of [3, 5, 8])
      expect((await chat(stack, { max_tokens: maxTokens, ignore_eos: true })).status).toBe(200);
    const response = await fetch(`${stack.url}/v1/usage?by=model`, {
      headers: { authorization: `Bearer ${stack.apiKey}` },
    });
    const report = (await response.json()) as {
      rows: { key: string; jobs: number; completion_tokens: number; charge: string }[];
      totals: { charge: string };
    };
    const records = await stack.store.listUsage({ accountId: TEST_ACCOUNT_ID });
    expect(report.rows).toEqual([expect.objectContaining({ key: MODEL, jobs: 3, completion_tokens: 16 })]);
    expect(BigInt(report.totals.charge)).toBe(records.reduce((sum, record) => sum + record.charge, 0n));
    const csv = await fetch(`${stack.url}/admin/usage?by=intent&format=csv`, {
      headers: { authorization: `Bearer ${stack.adminToken}` },
    });
    expect(csv.headers.get("content-type")).toContain("text/csv");
    expect((await csv.text()).split("\n")[0]).toBe("intent,jobs,prompt_tokens,completion_tokens,charge");
  });
});

async function waitFor<T>(read: () => Promise<T | undefined> | undefined, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("condition not met");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
