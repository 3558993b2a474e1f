/**
 * A second process writing to a SQLite billing database, for the cross-process tests:
 *   reserve <db> <intent> <count> <amount> <job prefix>   waits for "go" on stdin, then reserves
 *       `count` holds, yielding between calls; prints {"granted": n} when done.
 *   capture-loop <db> <intent> <amount> <job prefix>      reserves and captures jobs forever,
 *       printing "captured <job id> <charge>" only after each capture has returned.
 */
import { createInterface } from "node:readline";
import { SqliteBillingStore } from "../../billing/store/sqlite-store.ts";
import { T0, usageRecord } from "./store-fixtures.ts";

const [mode, databasePath = "", intentId = "", ...rest] = process.argv.slice(2);
const store = SqliteBillingStore.open(databasePath);
const yieldToOthers = () => new Promise((resolve) => setImmediate(resolve));

if (mode === "reserve") {
  const [count = "0", amount = "0", jobPrefix = "job"] = rest;
  const input = createInterface({ input: process.stdin });
  process.stdout.write("ready\n");
  await new Promise<void>((resolve) => input.once("line", () => resolve()));
  input.close();
  let granted = 0;
  for (let index = 0; index < Number(count); index += 1) {
    const result = await store.reserve(intentId, `${jobPrefix}-${index}`, BigInt(amount), T0, 60_000);
    if (result.ok) granted += 1;
    await yieldToOthers();
  }
  process.stdout.write(`${JSON.stringify({ granted })}\n`);
  await store.close();
} else if (mode === "capture-loop") {
  const [amount = "0", jobPrefix = "job"] = rest;
  for (let index = 0; ; index += 1) {
    const jobId = `${jobPrefix}-${index}`;
    const reserved = await store.reserve(intentId, jobId, BigInt(amount), T0, 60_000);
    if (!reserved.ok) break;
    // Vary the charge so a lost or duplicated capture would show in the sums.
    const charge = BigInt(amount) - BigInt(index % 97);
    const { record } = await store.capture(usageRecord(jobId, { intentId, charge, timestamp: T0 + index }));
    process.stdout.write(`captured ${jobId} ${record.charge}\n`);
  }
  await store.close();
} else {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}
