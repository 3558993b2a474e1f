import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SCHEMA_VERSION } from "../../billing/store/sqlite-schema.ts";
import { SqliteBillingStore } from "../../billing/store/sqlite-store.ts";
import { describeBillingStoreContract } from "./store-contract.ts";
import { fundedIntent, T0, usageRecord } from "./store-fixtures.ts";

const repositoryRoot = fileURLToPath(new URL("../..", import.meta.url));
const workerPath = fileURLToPath(new URL("./sqlite-worker.ts", import.meta.url));

function temporaryDatabase(): { path: string; remove(): void } {
  const directory = mkdtempSync(join(tmpdir(), "hn-sqlite-"));
  return { path: join(directory, "billing.db"), remove: () => rmSync(directory, { recursive: true, force: true }) };
}

function startWorker(args: string[]): { child: ChildProcess; lines: AsyncIterableIterator<string> } {
  const child = spawn(process.execPath, ["--import", "tsx", workerPath, ...args], {
    cwd: repositoryRoot,
    stdio: ["pipe", "pipe", "inherit"],
  });
  if (!child.stdout) throw new Error("worker has no stdout");
  return { child, lines: createInterface({ input: child.stdout })[Symbol.asyncIterator]() };
}

async function nextLine(lines: AsyncIterableIterator<string>): Promise<string> {
  const { value, done } = await lines.next();
  if (done) throw new Error("worker exited before answering");
  return value;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

describeBillingStoreContract("sqlite", async () => {
  const database = temporaryDatabase();
  const store = SqliteBillingStore.open(database.path);
  const others: SqliteBillingStore[] = [];
  return {
    store,
    async connectAgain() {
      const other = SqliteBillingStore.open(database.path);
      others.push(other);
      return other;
    },
    async dispose() {
      for (const other of others) await other.close();
      await store.close();
      database.remove();
    },
  };
});

describe("SqliteBillingStore on disk", () => {
  let database: { path: string; remove(): void };
  beforeEach(() => {
    database = temporaryDatabase();
  });
  afterEach(() => database.remove());

  it("opens in memory too", async () => {
    const store = SqliteBillingStore.open(":memory:");
    const intent = await fundedIntent(store, 10n);
    expect(await store.reserve(intent, "job-1", 10n, T0, 1000)).toMatchObject({ ok: true });
    await store.close();
  });

  it("persists across reopen, in WAL with synchronous FULL, at the current schema version", async () => {
    const store = SqliteBillingStore.open(database.path);
    const intent = await fundedIntent(store, 2n ** 60n);
    await store.reserve(intent, "job-1", 2n ** 55n, T0, 1000);
    await store.close();

    const reopened = SqliteBillingStore.open(database.path);
    expect(await reopened.getIntent(intent)).toMatchObject({ funded: 2n ** 60n, held: 2n ** 55n });
    await reopened.close();

    const raw = new Database(database.path);
    expect(raw.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(raw.prepare("SELECT version FROM schema_version").all()).toEqual([{ version: SCHEMA_VERSION }]);
    raw.close();
  });

  it("upgrades a version 1 database in place: settlement payouts and nullifiers start empty", async () => {
    const store = SqliteBillingStore.open(database.path);
    const intent = await fundedIntent(store, 1000n);
    await store.reserve(intent, "job-1", 100n, T0, 1000);
    await store.capture(usageRecord("job-1", { intentId: intent, charge: 100n }));
    await store.close();
    // What a version 1 file looks like: the first migration only.
    const raw = new Database(database.path);
    raw.exec("DROP TABLE settlement_payouts; DROP TABLE nullifiers; UPDATE schema_version SET version = 1");
    raw.close();

    const upgraded = SqliteBillingStore.open(database.path);
    expect(await upgraded.getIntent(intent)).toMatchObject({ funded: 1000n, spent: 100n, settled: 0n });
    expect(await upgraded.recordSettlement(intent, "payout-1", 60n)).toBe(true);
    expect(await upgraded.recordSettlement(intent, "payout-1", 60n)).toBe(false);
    expect(await upgraded.claimNullifier("job-1")).toBe(true);
    expect(await upgraded.markVerified(["job-1"], 3)).toBe(1);
    expect(await upgraded.getUsage("job-1")).toMatchObject({ chargeState: "verified", epoch: 3, charge: 100n });
    await upgraded.close();
    const check = new Database(database.path);
    expect(check.prepare("SELECT version FROM schema_version").all()).toEqual([{ version: SCHEMA_VERSION }]);
    check.close();
  });

  it("refuses a database written by a newer schema", () => {
    SqliteBillingStore.open(database.path).close();
    const raw = new Database(database.path);
    raw.prepare("UPDATE schema_version SET version = 99").run();
    raw.close();
    expect(() => SqliteBillingStore.open(database.path)).toThrow(/schema version 99/);
  });

  it("grants exactly the affordable holds when two processes reserve at once", async () => {
    const store = SqliteBillingStore.open(database.path);
    const hold = 2n ** 53n + 1n;
    const intent = await fundedIntent(store, hold * 100n + hold - 1n);
    const workers = ["a", "b"].map((name) =>
      startWorker(["reserve", database.path, intent, "250", hold.toString(), `job-${name}`]),
    );
    for (const worker of workers) expect(await nextLine(worker.lines)).toBe("ready");
    for (const worker of workers) worker.child.stdin?.write("go\n");
    const granted = await Promise.all(
      workers.map(async (worker) => (JSON.parse(await nextLine(worker.lines)) as { granted: number }).granted),
    );
    await Promise.all(workers.map((worker) => exited(worker.child)));
    // How the 100 split between the processes depends on scheduling; the total never does.
    expect((granted[0] ?? 0) + (granted[1] ?? 0)).toBe(100);
    expect(await store.getIntent(intent)).toMatchObject({ held: hold * 100n, spent: 0n });
    await store.close();
  });

  it("keeps every acknowledged capture when the writing process is killed -9", async () => {
    const store = SqliteBillingStore.open(database.path);
    const hold = 1_000_000_007n;
    const intent = await fundedIntent(store, hold * 1_000_000n);
    const worker = startWorker(["capture-loop", database.path, intent, hold.toString(), "job"]);
    const acknowledged = new Map<string, bigint>();
    while (acknowledged.size < 60) {
      const [, jobId = "", charge = "0"] = (await nextLine(worker.lines)).split(" ");
      acknowledged.set(jobId, BigInt(charge));
    }
    worker.child.kill("SIGKILL");
    await exited(worker.child);
    await store.close();

    const reopened = SqliteBillingStore.open(database.path);
    for (const [jobId, charge] of acknowledged) {
      expect((await reopened.getUsage(jobId))?.charge, jobId).toBe(charge);
    }
    const records = await reopened.listUsage({ intentId: intent });
    expect(records.length).toBeGreaterThanOrEqual(acknowledged.size);
    const after = await reopened.getIntent(intent);
    expect(after?.spent).toBe(records.reduce((total, record) => total + record.charge, 0n));
    // At most the one job between its reserve and its capture can still hold funds.
    const holds = await reopened.expireHolds(Number.MAX_SAFE_INTEGER);
    expect(holds.length).toBeLessThanOrEqual(1);
    expect((await reopened.getIntent(intent))?.held).toBe(0n);
    await reopened.close();
  });
});
