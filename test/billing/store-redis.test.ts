import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisBillingStore } from "../../billing/store/redis-store.ts";
import { type RedisServer, startRedisServer } from "../support/redis-server.ts";
import { describeBillingStoreContract } from "./store-contract.ts";
import { fundedIntent, T0, uniqueId, usageRecord } from "./store-fixtures.ts";

let server: RedisServer;

beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await server?.stop();
});

// One private server for the file; a fresh key prefix per test keeps tests apart.
describeBillingStoreContract("redis", async () => {
  const keyPrefix = `${uniqueId("test")}:`;
  const store = await RedisBillingStore.connect(server.url, { keyPrefix });
  const others: RedisBillingStore[] = [];
  return {
    store,
    async connectAgain() {
      const other = await RedisBillingStore.connect(server.options, { keyPrefix });
      others.push(other);
      return other;
    },
    async dispose() {
      for (const other of others) await other.close();
      await store.close();
    },
  };
});

describe("RedisBillingStore on a private redis-server", () => {
  it("keeps its keys under the prefix and streams captured records", async () => {
    const keyPrefix = `${uniqueId("stream")}:`;
    const store = await RedisBillingStore.connect(server.url, { keyPrefix });
    const client = new Redis(server.url);
    try {
      const intent = await fundedIntent(store, 1000n);
      await store.reserve(intent, "job-1", 100n, T0, 60_000);
      await store.capture(usageRecord("job-1", { intentId: intent, charge: 70n }));
      const keys = await client.keys("*");
      expect(keys.filter((key) => key.startsWith(keyPrefix)).length).toBeGreaterThan(0);
      const entries = await client.xrange(`${keyPrefix}usage`, "-", "+");
      expect(entries).toHaveLength(1);
      const fields = entries[0]?.[1] ?? [];
      const field = (name: string) => fields[fields.indexOf(name) + 1];
      expect([field("jobId"), field("intentId"), field("charge")]).toEqual(["job-1", intent, "70"]);
    } finally {
      client.disconnect();
      await store.close();
    }
  });

  it("runs its scripts again after the server forgets them", async () => {
    const store = await RedisBillingStore.connect(server.url, { keyPrefix: `${uniqueId("flush")}:` });
    const client = new Redis(server.url);
    try {
      const intent = await fundedIntent(store, 100n);
      await client.script("FLUSH");
      expect(await store.reserve(intent, "job-1", 10n, T0, 1000)).toMatchObject({ ok: true });
    } finally {
      client.disconnect();
      await store.close();
    }
  });

  it("keeps every acknowledged capture when redis-server is killed -9 and restarted", async () => {
    const crashServer = await startRedisServer({ appendFsync: "always" });
    const keyPrefix = "crash:";
    const store = await RedisBillingStore.connect(crashServer.url, { keyPrefix });
    try {
      const hold = 2n ** 53n + 11n;
      const intent = await fundedIntent(store, hold * 500n);
      const acknowledged = new Map<string, bigint>();
      let stopped = false;
      // Captures keep flowing through the crash; only those that returned count as acknowledged.
      const writer = (async () => {
        for (let index = 0; !stopped; index += 1) {
          const jobId = `job-${index}`;
          try {
            await store.reserve(intent, jobId, hold, T0, 60_000);
            const charge = hold - BigInt(index % 89);
            const { record } = await store.capture(usageRecord(jobId, { intentId: intent, charge }));
            acknowledged.set(jobId, record.charge);
          } catch {
            // A command that failed during the outage was never acknowledged; move on.
          }
        }
      })();
      const waitFor = async (count: number) => {
        while (acknowledged.size < count) await new Promise((resolve) => setTimeout(resolve, 5));
      };
      await waitFor(40);
      crashServer.kill();
      const beforeCrash = new Map(acknowledged);
      await crashServer.restart();
      await waitFor(beforeCrash.size + 20);
      stopped = true;
      await writer;

      const reader = await RedisBillingStore.connect(crashServer.url, { keyPrefix });
      try {
        for (const [jobId, charge] of beforeCrash) expect((await reader.getUsage(jobId))?.charge, jobId).toBe(charge);
        for (const [jobId, charge] of acknowledged) expect((await reader.getUsage(jobId))?.charge, jobId).toBe(charge);
        const records = await reader.listUsage({ intentId: intent });
        const after = await reader.getIntent(intent);
        expect(after?.spent).toBe(records.reduce((total, record) => total + record.charge, 0n));
        const [row] = await reader.report("intent", {});
        expect(row?.charge).toBe(after?.spent);
        expect(row?.jobs).toBe(records.length);
        await reader.expireHolds(Number.MAX_SAFE_INTEGER);
        expect((await reader.getIntent(intent))?.held).toBe(0n);
      } finally {
        await reader.close();
      }
    } finally {
      await store.close();
      await crashServer.stop();
    }
  });
});
