/**
 * The one contract every BillingStore adapter passes (SQLite and Redis run the same suite).
 * Each test gets a fresh, empty store from the harness.
 */
import { createHash } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { BillingStore, ReportDimension, UsageRecord } from "../../billing/store/types.ts";
import { DAY_MS, fundedIntent, intentRecord, T0, uniqueId, usageRecord } from "./store-fixtures.ts";

export interface StoreHarness {
  store: BillingStore;
  /** A second, independent connection to the same data (another gateway replica). */
  connectAgain(): Promise<BillingStore>;
  dispose(): Promise<void>;
}

const TTL = 60_000;

function sum(values: readonly bigint[]): bigint {
  return values.reduce((total, value) => total + value, 0n);
}

export function describeBillingStoreContract(name: string, openHarness: () => Promise<StoreHarness>): void {
  describe(`BillingStore contract: ${name}`, () => {
    let harness: StoreHarness;
    let store: BillingStore;

    beforeEach(async () => {
      harness = await openHarness();
      store = harness.store;
    });
    afterEach(async () => {
      await harness.dispose();
    });

    it("creates, reads and points accounts at an intent", async () => {
      const account = { id: "acct_9", name: "Nine", activeIntentId: undefined, createdAt: T0 };
      await store.createAccount(account);
      expect(await store.getAccount("acct_9")).toEqual(account);
      expect(await store.getAccount("acct_missing")).toBeUndefined();
      await expect(store.createAccount(account)).rejects.toThrow(/already exists/);
      await store.setActiveIntent("acct_9", "in_x");
      expect((await store.getAccount("acct_9"))?.activeIntentId).toBe("in_x");
      await store.setActiveIntent("acct_9", undefined);
      expect((await store.getAccount("acct_9"))?.activeIntentId).toBeUndefined();
      await expect(store.setActiveIntent("acct_missing", "in_x")).rejects.toThrow(/unknown account/);
    });

    it("stores API keys hashed, shows the plain key once, verifies and revokes", async () => {
      const { key, record } = await store.apiKeys.create("acct_1", "ci");
      expect(key).toMatch(/^sk-hn-/);
      expect(record.keyHash).toBe(createHash("sha256").update(key).digest("hex"));
      expect(JSON.stringify(record)).not.toContain(key);
      expect(await store.apiKeys.verify(key)).toEqual(record);
      expect(await store.apiKeys.verify(`${key}x`)).toBeUndefined();
      const other = await store.apiKeys.create("acct_2", "other");
      expect(await store.apiKeys.list("acct_1")).toEqual([record]);
      expect((await store.apiKeys.list()).map((entry) => entry.id).sort()).toEqual([record.id, other.record.id].sort());
      expect(JSON.stringify(await store.apiKeys.list())).not.toContain(key);

      // Importing a live key again (the demo key at each boot) keeps its record.
      const demo = await store.apiKeys.import("sk-hn-demo-key", "acct_1", "demo");
      expect(await store.apiKeys.import("sk-hn-demo-key", "acct_1", "demo")).toEqual(demo);

      expect(await store.apiKeys.revoke(record.id)).toBe(true);
      expect(await store.apiKeys.revoke(record.id)).toBe(false);
      expect(await store.apiKeys.revoke("key_missing")).toBe(false);
      expect(await store.apiKeys.verify(key)).toBeUndefined();
      const listed = (await store.apiKeys.list("acct_1")).find((entry) => entry.id === record.id);
      expect(listed?.revokedAt).toEqual(expect.any(Number));
      expect(await store.apiKeys.verify("sk-hn-demo-key")).toEqual(demo);
    });

    it("runs the intent lifecycle: pending → active → holds → closed", async () => {
      const intent = intentRecord({ amount: 1000n, expiresAt: T0 + DAY_MS });
      await store.createIntent(intent);
      await expect(store.createIntent(intent)).rejects.toThrow(/already exists/);
      expect(await store.getIntent(intent.id)).toEqual(intent);
      expect(await store.getIntent("in_missing")).toBeUndefined();
      expect(await store.reserve(intent.id, "job-early", 1n, T0, TTL)).toEqual({
        ok: false,
        reason: "intent_not_active",
        available: 0n,
      });

      expect(await store.activateIntent(intent.id, 1000n, "sig-funding")).toBe(true);
      expect(await store.activateIntent(intent.id, 1000n, "sig-other")).toBe(false);
      const active = await store.getIntent(intent.id);
      expect(active).toMatchObject({ state: "active", funded: 1000n, fundingSignature: "sig-funding" });

      const reserved = await store.reserve(intent.id, "job-1", 400n, T0, TTL);
      expect(reserved).toEqual({
        ok: true,
        hold: { jobId: "job-1", intentId: intent.id, amount: 400n, createdAt: T0, expiresAt: T0 + TTL },
      });
      expect(await store.getHold("job-1")).toEqual(reserved.ok ? reserved.hold : undefined);
      // A retried reserve of the same job gets the same hold, not a second one.
      expect(await store.reserve(intent.id, "job-1", 400n, T0 + 5, TTL)).toEqual(reserved);
      expect(await store.reserve(intent.id, "job-2", 100n, T0, TTL)).toMatchObject({ ok: true });
      expect(await store.getIntent(intent.id)).toMatchObject({ held: 500n, spent: 0n });

      await store.capture(usageRecord("job-1", { intentId: intent.id, charge: 300n }));
      expect(await store.getHold("job-1")).toBeUndefined();
      expect(await store.closeIntent(intent.id, "sig-refund", T0 + 10)).toBe(false);
      expect(await store.release("job-2")).toBe(true);
      expect(await store.release("job-2")).toBe(false);
      expect(await store.getIntent(intent.id)).toMatchObject({ held: 0n, spent: 300n });
      await expect(store.reserve(intent.id, "job-1", 1n, T0, TTL)).rejects.toThrow(/already captured/);

      expect(await store.recordSettlement(intent.id, "payout-1", 200n)).toBe(true);
      await expect(store.recordSettlement(intent.id, "payout-2", 101n)).rejects.toThrow(RangeError);
      expect(await store.closeIntent(intent.id, "sig-refund", T0 + 10)).toBe(true);
      expect(await store.closeIntent(intent.id, "sig-refund", T0 + 11)).toBe(false);
      expect(await store.getIntent(intent.id)).toMatchObject({
        state: "closed",
        refundSignature: "sig-refund",
        closedAt: T0 + 10,
        settled: 200n,
      });
      expect(await store.reserve(intent.id, "job-3", 1n, T0, TTL)).toMatchObject({ reason: "intent_not_active" });
    });

    it("refuses a funding signature already used, even by another intent", async () => {
      const first = intentRecord();
      const second = intentRecord();
      await store.createIntent(first);
      await store.createIntent(second);
      expect(await store.activateIntent(first.id, 10n, "sig-shared")).toBe(true);
      expect(await store.activateIntent(second.id, 10n, "sig-shared")).toBe(false);
      expect((await store.getIntent(second.id))?.state).toBe("pending");
      await expect(store.createIntent(intentRecord({ fundingSignature: "sig-shared" }))).rejects.toThrow(
        /already used/,
      );
      expect(await store.closeIntent(second.id, undefined, T0)).toBe(false);
    });

    it("lists intents per account, oldest first", async () => {
      const older = intentRecord({ accountId: "acct_a", createdAt: T0 });
      const newer = intentRecord({ accountId: "acct_a", createdAt: T0 + 1 });
      const elsewhere = intentRecord({ accountId: "acct_b", createdAt: T0 - 1 });
      for (const intent of [newer, elsewhere, older]) await store.createIntent(intent);
      expect((await store.listIntents("acct_a")).map((intent) => intent.id)).toEqual([older.id, newer.id]);
      expect((await store.listIntents()).map((intent) => intent.id)).toEqual([elsewhere.id, older.id, newer.id]);
    });

    it("expires intents past expiresAt: no more holds, still closable", async () => {
      const due = await fundedIntent(store, 100n, { expiresAt: T0 + 1000 });
      const later = await fundedIntent(store, 100n, { expiresAt: T0 + 5000 });
      const never = await fundedIntent(store, 100n);
      expect(await store.reserve(due, "job-late", 1n, T0 + 1000, TTL)).toMatchObject({ reason: "intent_not_active" });
      expect(await store.expireIntents(T0 + 1000)).toEqual([due]);
      expect(await store.expireIntents(T0 + 1000)).toEqual([]);
      expect((await store.getIntent(due))?.state).toBe("expired");
      expect((await store.getIntent(later))?.state).toBe("active");
      expect((await store.getIntent(never))?.state).toBe("active");
      expect(await store.closeIntent(due, undefined, T0 + 2000)).toBe(true);
    });

    it("refuses a hold beyond the balance and says what is available", async () => {
      const intent = await fundedIntent(store, 1000n);
      expect(await store.reserve(intent, "job-a", 700n, T0, TTL)).toMatchObject({ ok: true });
      expect(await store.reserve(intent, "job-b", 301n, T0, TTL)).toEqual({
        ok: false,
        reason: "insufficient_funds",
        available: 300n,
      });
      expect(await store.reserve(intent, "job-b", 300n, T0, TTL)).toMatchObject({ ok: true });
      expect(await store.reserve("in_missing", "job-c", 1n, T0, TTL)).toMatchObject({ reason: "intent_not_active" });
      await expect(store.reserve(intent, "job-d", -1n, T0, TTL)).rejects.toThrow(RangeError);
    });

    it("captures a job once: a second capture returns the record and moves nothing", async () => {
      const intent = await fundedIntent(store, 1000n);
      await store.reserve(intent, "job-1", 100n, T0, TTL);
      const record = usageRecord("job-1", { intentId: intent, charge: 60n });
      expect(await store.capture(record)).toEqual({ created: true, record });
      const again = await store.capture({ ...record, charge: 90n });
      expect(again).toEqual({ created: false, record });
      expect(await store.getIntent(intent)).toMatchObject({ held: 0n, spent: 60n });
      expect(await store.getUsage("job-1")).toEqual(record);
      expect(await store.getUsage("job-missing")).toBeUndefined();
    });

    it("charges beyond the hold only from free balance, capped at hold + free", async () => {
      const intent = await fundedIntent(store, 1000n);
      await store.reserve(intent, "job-covered", 100n, T0, TTL);
      const covered = await store.capture(usageRecord("job-covered", { intentId: intent, charge: 150n }));
      expect(covered.record.charge).toBe(150n);
      await store.reserve(intent, "job-big", 100n, T0, TTL);
      await store.reserve(intent, "job-other", 600n, T0, TTL);
      // Free is 1000 − 150 − 700 = 150, so job-big can pay at most its 100 hold + 150.
      const capped = await store.capture(usageRecord("job-big", { intentId: intent, charge: 10_000n }));
      expect(capped.record.charge).toBe(250n);
      expect(await store.getUsage("job-big")).toMatchObject({ charge: 250n });
      expect(await store.getIntent(intent)).toMatchObject({ held: 600n, spent: 400n, funded: 1000n });
    });

    it("records a job without a hold with its own charge and no intent movement", async () => {
      const intent = await fundedIntent(store, 1000n);
      const record = usageRecord("job-unbilled", { intentId: intent, charge: 42n, engineUsage: undefined });
      expect(await store.capture(record)).toEqual({ created: true, record });
      expect(await store.getIntent(intent)).toMatchObject({ held: 0n, spent: 0n });
    });

    it("releases holds past their expiry", async () => {
      const intent = await fundedIntent(store, 1000n);
      await store.reserve(intent, "job-old", 100n, T0, 1000);
      await store.reserve(intent, "job-new", 200n, T0, 5000);
      expect(await store.expireHolds(T0 + 999)).toEqual([]);
      expect(await store.expireHolds(T0 + 1000)).toEqual(["job-old"]);
      expect(await store.getHold("job-old")).toBeUndefined();
      expect(await store.getIntent(intent)).toMatchObject({ held: 200n });
      expect(await store.expireHolds(T0 + 10_000)).toEqual(["job-new"]);
      expect(await store.getIntent(intent)).toMatchObject({ held: 0n, spent: 0n });
    });

    it("lists usage by filter and reports totals equal to the sum of records", async () => {
      const first = await fundedIntent(store, 10_000n);
      const second = await fundedIntent(store, 10_000n, { accountId: "acct_2" });
      const plan: Array<[string, Partial<UsageRecord>]> = [
        ["job-1", { intentId: first, nodeId: "runner-a", modelType: "m1", timestamp: T0, charge: 11n }],
        ["job-2", { intentId: first, nodeId: "runner-b", modelType: "m2", timestamp: T0 + 1, charge: 22n }],
        ["job-3", { intentId: first, nodeId: undefined, modelType: "m1", timestamp: T0 + DAY_MS, charge: 33n }],
        ["job-4", { intentId: second, accountId: "acct_2", nodeId: "runner-a", timestamp: T0 + 2, charge: 44n }],
        [
          "job-5",
          {
            intentId: second,
            accountId: "acct_2",
            nodeId: undefined,
            timestamp: T0 + DAY_MS + 5,
            charge: 55n,
            epoch: 7,
          },
        ],
      ];
      for (const [jobId, overrides] of plan) {
        const record = usageRecord(jobId, { errorMessage: "", logsHash: "cd".repeat(32), ...overrides });
        if (record.intentId) await store.reserve(record.intentId, jobId, 100n, T0, TTL);
        await store.capture(record);
      }
      const ids = (records: UsageRecord[]) => records.map((record) => record.jobId);
      expect(ids(await store.listUsage({}))).toEqual(["job-1", "job-2", "job-4", "job-3", "job-5"]);
      expect(ids(await store.listUsage({}, 2))).toEqual(["job-1", "job-2"]);
      expect(ids(await store.listUsage({ intentId: first }))).toEqual(["job-1", "job-2", "job-3"]);
      expect(ids(await store.listUsage({ nodeId: "runner-a" }))).toEqual(["job-1", "job-4"]);
      expect(ids(await store.listUsage({ accountId: "acct_2" }))).toEqual(["job-4", "job-5"]);
      expect(ids(await store.listUsage({ from: T0 + 1, to: T0 + DAY_MS }))).toEqual(["job-2", "job-4"]);
      expect(ids(await store.listUsage({ accountId: "acct_1", nodeId: "runner-a" }))).toEqual(["job-1"]);
      expect((await store.getUsage("job-2"))?.errorMessage).toBe("");

      expect(await store.report("runner", {})).toEqual([
        { key: "", jobs: 2, promptTokens: 20, completionTokens: 40, charge: 88n },
        { key: "runner-a", jobs: 2, promptTokens: 20, completionTokens: 40, charge: 55n },
        { key: "runner-b", jobs: 1, promptTokens: 10, completionTokens: 20, charge: 22n },
      ]);
      expect((await store.report("epoch", {})).map((row) => [row.key, row.charge])).toEqual([
        ["", 110n],
        ["7", 55n],
      ]);
      expect((await store.report("day", { accountId: "acct_1" })).map((row) => [row.key, row.jobs])).toEqual([
        ["2023-11-14", 2],
        ["2023-11-15", 1],
      ]);
      const filters = [{}, { accountId: "acct_2" }, { intentId: first }, { nodeId: "runner-a" }, { from: T0 + 2 }];
      const dimensions: ReportDimension[] = ["intent", "runner", "model", "epoch", "day"];
      for (const filter of filters) {
        const records = await store.listUsage(filter);
        for (const by of dimensions) {
          const rows = await store.report(by, filter);
          expect(sum(rows.map((row) => row.charge))).toBe(sum(records.map((record) => record.charge)));
          expect(rows.reduce((total, row) => total + row.jobs, 0)).toBe(records.length);
        }
      }
      const byIntent = await store.report("intent", {});
      for (const intentId of [first, second]) {
        const row = byIntent.find((entry) => entry.key === intentId);
        expect(row?.charge).toBe((await store.getIntent(intentId))?.spent);
      }
    });

    it("records a settlement once per payout id and never beyond spent", async () => {
      const intent = await fundedIntent(store, 1000n);
      await store.reserve(intent, "job-1", 300n, T0, TTL);
      await store.capture(usageRecord("job-1", { intentId: intent, charge: 300n }));

      expect(await store.recordSettlement(intent, "payout-a", 100n)).toBe(true);
      expect(await store.getIntent(intent)).toMatchObject({ spent: 300n, settled: 100n });
      // A settlement resumed after a crash reports the payout again: nothing changes.
      expect(await store.recordSettlement(intent, "payout-a", 100n)).toBe(false);
      expect(await store.recordSettlement(intent, "payout-a", 50n)).toBe(false);
      expect((await store.getIntent(intent))?.settled).toBe(100n);

      // A payout refused by the guard is not recorded, so it can still be counted later.
      await expect(store.recordSettlement(intent, "payout-b", 201n)).rejects.toThrow(RangeError);
      expect((await store.getIntent(intent))?.settled).toBe(100n);
      expect(await store.recordSettlement(intent, "payout-b", 200n)).toBe(true);
      expect(await store.getIntent(intent)).toMatchObject({ held: 0n, spent: 300n, settled: 300n });
      await expect(store.recordSettlement(intent, "payout-c", 1n)).rejects.toThrow(RangeError);
      expect(await store.recordSettlement(intent, "payout-zero", 0n)).toBe(true);
      expect(await store.recordSettlement(intent, "payout-zero", 0n)).toBe(false);

      await expect(store.recordSettlement("in_missing", "payout-d", 1n)).rejects.toThrow(/unknown intent/);
      await expect(store.recordSettlement(intent, "", 1n)).rejects.toThrow(RangeError);
      await expect(store.recordSettlement(intent, "payout-e", -1n)).rejects.toThrow(RangeError);
      expect((await store.getIntent(intent))?.settled).toBe(300n);
      // An unknown intent or a refused amount left the payout id unused.
      expect(await store.recordSettlement(intent, "payout-c", 0n)).toBe(true);
    });

    it("marks escrowed records verified in an epoch, then verified ones settled", async () => {
      const records = [
        usageRecord("job-1", { charge: 10n }),
        usageRecord("job-2", { charge: 20n }),
        usageRecord("job-3", { charge: 40n }),
        usageRecord("job-auth", { charge: 80n, chargeState: "authorized" }),
        usageRecord("job-done", { charge: 160n, chargeState: "settled" }),
      ];
      for (const record of records) await store.capture(record);
      const [job1, job2, job3, jobAuth, jobDone] = records.map((record) => ({ ...record }));
      const stored = async (jobId: string) => store.getUsage(jobId);

      // Duplicates and unknown ids are allowed; only escrowed records move, each counted once.
      expect(await store.markVerified(["job-1", "job-2", "job-auth", "job-done", "job-missing", "job-1"], 4)).toBe(2);
      expect(await stored("job-1")).toEqual({ ...job1, chargeState: "verified", epoch: 4 });
      expect(await stored("job-2")).toEqual({ ...job2, chargeState: "verified", epoch: 4 });
      expect(await stored("job-3")).toEqual(job3);
      expect(await stored("job-auth")).toEqual(jobAuth);
      expect(await stored("job-done")).toEqual(jobDone);
      expect(await stored("job-missing")).toBeUndefined();

      // Already verified records keep their epoch.
      expect(await store.markVerified(["job-1", "job-2"], 10)).toBe(0);
      expect((await stored("job-1"))?.epoch).toBe(4);
      expect(await store.markVerified(["job-3"], 10)).toBe(1);
      expect(await store.markVerified([], 11)).toBe(0);
      await expect(store.markVerified(["job-1"], -1)).rejects.toThrow(RangeError);
      await expect(store.markVerified(["job-1"], 1.5)).rejects.toThrow(RangeError);

      const epochs = async (filter: { accountId?: string }) =>
        (await store.report("epoch", filter)).map((row) => [row.key, row.jobs, row.charge]);
      expect(await epochs({})).toEqual([
        ["", 2, 240n],
        ["4", 2, 30n],
        ["10", 1, 40n],
      ]);
      expect(await epochs({ accountId: "acct_1" })).toEqual(await epochs({}));
      expect(await epochs({ accountId: "acct_other" })).toEqual([]);

      expect(await store.markSettled(["job-1", "job-3", "job-auth", "job-done", "job-missing", "job-1"])).toBe(2);
      expect(await stored("job-1")).toEqual({ ...job1, chargeState: "settled", epoch: 4 });
      expect(await stored("job-3")).toEqual({ ...job3, chargeState: "settled", epoch: 10 });
      expect(await stored("job-2")).toEqual({ ...job2, chargeState: "verified", epoch: 4 });
      expect(await stored("job-auth")).toEqual(jobAuth);
      expect(await stored("job-done")).toEqual(jobDone);
      expect(await store.markSettled(["job-1", "job-3"])).toBe(0);
      expect(await store.markSettled([])).toBe(0);
      // Settled never goes back to verified; escrowed never skips straight to settled.
      expect(await store.markVerified(["job-1"], 12)).toBe(0);
      expect(await store.capture(usageRecord("job-4", { charge: 1n }))).toMatchObject({ created: true });
      expect(await store.markSettled(["job-4"])).toBe(0);
      expect((await stored("job-4"))?.chargeState).toBe("escrowed");
      // The epoch report still sums to every record.
      const rows = await store.report("epoch", {});
      expect(sum(rows.map((row) => row.charge))).toBe(311n);
      expect(rows.map((row) => [row.key, row.jobs])).toEqual([
        ["", 3],
        ["4", 2],
        ["10", 1],
      ]);
    });

    it("claims a nullifier the first time only, on every connection", async () => {
      expect(await store.claimNullifier("job-1")).toBe(true);
      expect(await store.claimNullifier("job-1")).toBe(false);
      expect(await store.claimNullifier("job-1")).toBe(false);
      expect(await store.claimNullifier("job-2")).toBe(true);
      const second = await harness.connectAgain();
      try {
        expect(await second.claimNullifier("job-1")).toBe(false);
        expect(await second.claimNullifier("job-3")).toBe(true);
        expect(await store.claimNullifier("job-3")).toBe(false);
      } finally {
        await second.close();
      }
      await expect(store.claimNullifier("")).rejects.toThrow(RangeError);
    });

    it("grants one nullifier claim out of 50 concurrent ones on two connections", async () => {
      const second = await harness.connectAgain();
      try {
        const claims = await Promise.all(
          Array.from({ length: 50 }, (_, index) => (index % 2 === 0 ? store : second).claimNullifier("job-raced")),
        );
        expect(claims.filter((claimed) => claimed)).toHaveLength(1);
        expect(await store.claimNullifier("job-raced")).toBe(false);
      } finally {
        await second.close();
      }
    });

    it("counts a payout once under 20 concurrent reports of it on two connections", async () => {
      const intent = await fundedIntent(store, 10_000n);
      await store.reserve(intent, "job-1", 5_000n, T0, TTL);
      await store.capture(usageRecord("job-1", { intentId: intent, charge: 5_000n }));
      const second = await harness.connectAgain();
      try {
        const results = await Promise.all([
          ...Array.from({ length: 20 }, (_, index) =>
            (index % 2 === 0 ? store : second).recordSettlement(intent, "payout-raced", 700n),
          ),
          // Distinct payouts racing alongside all count.
          ...Array.from({ length: 4 }, (_, index) =>
            (index % 2 === 0 ? second : store).recordSettlement(intent, `payout-${index}`, 100n),
          ),
        ]);
        expect(results.slice(0, 20).filter((recorded) => recorded)).toHaveLength(1);
        expect(results.slice(20)).toEqual([true, true, true, true]);
        expect(await second.getIntent(intent)).toMatchObject({ spent: 5_000n, settled: 1_100n });
      } finally {
        await second.close();
      }
    });

    it("moves each record once when two connections mark overlapping batches at once", async () => {
      const jobIds = Array.from({ length: 40 }, (_, index) => `job-${index}`);
      for (const jobId of jobIds) await store.capture(usageRecord(jobId, { charge: 1n }));
      const second = await harness.connectAgain();
      try {
        const verified = await Promise.all([
          store.markVerified(jobIds.slice(0, 30), 1),
          second.markVerified(jobIds.slice(10), 2),
          store.markVerified(jobIds.slice(5, 35), 3),
        ]);
        expect(sum(verified.map(BigInt))).toBe(40n);
        const settled = await Promise.all([store.markSettled(jobIds), second.markSettled(jobIds)]);
        expect(settled[0] + settled[1]).toBe(40);
        const records = await store.listUsage({});
        expect(records.every((record) => record.chargeState === "settled" && record.epoch !== undefined)).toBe(true);
        const rows = await store.report("epoch", {});
        expect(rows.reduce((total, row) => total + row.jobs, 0)).toBe(40);
        expect(rows.every((row) => row.key !== "")).toBe(true);
      } finally {
        await second.close();
      }
    });

    it("round-trips amounts beyond 2^53 exactly and refuses amounts beyond 2^63 − 1", async () => {
      const big = 2n ** 62n + 12_345n;
      const intent = await fundedIntent(store, big);
      const hold = 2n ** 53n + 1n;
      await store.reserve(intent, "job-big", hold, T0, TTL);
      expect(await store.getHold("job-big")).toMatchObject({ amount: hold });
      const record = usageRecord("job-big", {
        intentId: intent,
        charge: hold + 2n ** 54n + 3n,
        inputPricePerMillion: 2n ** 60n + 1n,
        outputPricePerMillion: 2n ** 61n + 7n,
      });
      expect((await store.capture(record)).record).toEqual(record);
      expect(await store.getUsage("job-big")).toEqual(record);
      expect(await store.getIntent(intent)).toMatchObject({ funded: big, held: 0n, spent: record.charge });
      expect((await store.report("intent", {}))[0]?.charge).toBe(record.charge);
      const tooBig = 2n ** 63n;
      await expect(store.activateIntent(intent, tooBig, uniqueId("sig_"))).rejects.toThrow(/2\^63/);
      await expect(store.reserve(intent, "job-huge", tooBig, T0, TTL)).rejects.toThrow(/2\^63/);
      await expect(store.capture(usageRecord("job-huge", { charge: tooBig }))).rejects.toThrow(/2\^63/);
    });

    it("grants exactly the affordable holds under 500 concurrent reserves on two connections", async () => {
      const hold = 2n ** 53n + 1n;
      const affordable = 100;
      // Funded for 100 holds plus a sliver less than one more.
      const funded = hold * BigInt(affordable) + hold - 1n;
      const intent = await fundedIntent(store, funded);
      const second = await harness.connectAgain();
      try {
        const results = await Promise.all(
          Array.from({ length: 500 }, (_, index) =>
            (index % 2 === 0 ? store : second).reserve(intent, `job-${index}`, hold, T0, TTL),
          ),
        );
        const granted = results.flatMap((result) => (result.ok ? [result.hold.jobId] : []));
        expect(granted).toHaveLength(affordable);
        for (const result of results) {
          if (!result.ok) expect(result).toMatchObject({ reason: "insufficient_funds", available: hold - 1n });
        }
        expect(await store.getIntent(intent)).toMatchObject({ held: hold * BigInt(affordable), spent: 0n });

        const charges = granted.map((_, index) => hold - BigInt(index * 7919));
        await Promise.all(
          granted.map((jobId, index) =>
            (index % 2 === 0 ? second : store).capture(
              usageRecord(jobId, { intentId: intent, charge: charges[index] }),
            ),
          ),
        );
        const after = await store.getIntent(intent);
        expect(after?.held).toBe(0n);
        expect(after?.spent).toBe(sum(charges));
        expect((after?.funded ?? 0n) - (after?.spent ?? 0n)).toBe(funded - sum(charges));
        const records = await second.listUsage({ intentId: intent });
        expect(sum(records.map((record) => record.charge))).toBe(sum(charges));
      } finally {
        await second.close();
      }
    });
  });
}
