/**
 * The job's books when the client leaves at awkward moments: a hold being taken when the client
 * disconnects is given back at once, not left to expire.
 */
import { describe, expect, it } from "vitest";
import { Metering } from "../../billing/metering.ts";
import { SqliteBillingStore } from "../../billing/store/sqlite-store.ts";
import { JobService } from "../../gateway/jobs/job-service.ts";
import { RunnerRegistry } from "../../gateway/runners/registry.ts";
import { ModelCatalog } from "../../models/catalog.ts";
import { fundTestIntent } from "../support/test-stack.ts";

describe("job billing", () => {
  it("gives the hold back when the client leaves while it is being taken", async () => {
    const store = SqliteBillingStore.open(":memory:");
    await store.createAccount({ id: "acct_slow", name: "slow", activeIntentId: undefined, createdAt: Date.now() });
    const intentId = await fundTestIntent(store, "acct_slow", 10_000_000n);
    // The store answers the reserve only after the client has gone.
    const slowStore = new Proxy(store, {
      get(target, property, receiver) {
        if (property === "reserve") {
          return async (...parameters: Parameters<typeof store.reserve>) => {
            await new Promise((resolve) => setTimeout(resolve, 50));
            return target.reserve(...parameters);
          };
        }
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const jobs = new JobService(
      new RunnerRegistry(15_000),
      { firstTokenTimeoutMs: 1_000, totalTimeoutMs: 5_000, maxAttempts: 1 },
      new Metering(slowStore, { enabled: true, holdTtlMs: 600_000 }),
    );
    const model = ModelCatalog.builtIn().resolve("qwen2.5-7b-instruct");
    if (!model) throw new Error("model missing");
    const job = jobs.create({
      id: "job-leaves-early",
      operation: "chat",
      model,
      body: { model: model.id, messages: [{ role: "user", content: "bye" }] },
      stream: true,
      accountId: "acct_slow",
      apiKeyId: "key",
      estimatedTokens: 100,
      promptTokenBound: 50,
      completionCap: 50,
    });
    const started = job.start();
    job.cancel("client disconnected");
    await expect(started).rejects.toBeDefined();
    expect(await store.getHold("job-leaves-early")).toBeUndefined();
    const intent = await store.getIntent(intentId);
    expect(intent?.held).toBe(0n);
    expect(intent?.spent).toBe(0n);
    expect((await store.getUsage("job-leaves-early"))?.charge).toBe(0n);
    await store.close();
  });
});
