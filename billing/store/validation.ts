/**
 * Checks and helpers both store adapters share, so they accept and refuse exactly the same input
 * and derive report keys the same way.
 */
import type { IntentRecord, ReportDimension, ReportRow, UsageRecord } from "./types.ts";

/**
 * The largest amount either adapter stores: SQLite INTEGER and Redis integers are 64-bit
 * signed. A 6-decimal mint would need 9.2 trillion whole tokens in one intent to reach it.
 */
export const MAX_BASE_UNITS = 2n ** 63n - 1n;

export function assertBaseUnits(value: bigint, name: string): bigint {
  if (typeof value !== "bigint") throw new TypeError(`${name} must be a bigint of base units`);
  if (value < 0n) throw new RangeError(`${name} must not be negative, got ${value}`);
  if (value > MAX_BASE_UNITS) {
    throw new RangeError(`${name} ${value} exceeds the largest storable amount (2^63 - 1 base units)`);
  }
  return value;
}

export function assertCount(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  }
}

/** Ids the store keys by (job ids, payout ids): a non-empty string. */
export function assertId(value: string, name: string): void {
  if (typeof value !== "string" || value === "") throw new RangeError(`${name} must be a non-empty string`);
}

function assertTime(value: number, name: string): void {
  if (!Number.isSafeInteger(value)) throw new RangeError(`${name} must be an integer of ms, got ${value}`);
}

export function assertIntent(intent: IntentRecord): void {
  if (intent.id === "") throw new RangeError("intent id must not be empty");
  for (const field of ["amount", "funded", "held", "spent", "settled"] as const) {
    assertBaseUnits(intent[field], `intent.${field}`);
  }
  if (intent.held + intent.spent > intent.funded) {
    throw new RangeError(`intent ${intent.id}: held + spent exceeds funded`);
  }
  if (intent.settled > intent.spent) throw new RangeError(`intent ${intent.id}: settled exceeds spent`);
  assertTime(intent.createdAt, "intent.createdAt");
  if (intent.expiresAt !== undefined) assertTime(intent.expiresAt, "intent.expiresAt");
  if (intent.closedAt !== undefined) assertTime(intent.closedAt, "intent.closedAt");
}

export function assertHoldRequest(jobId: string, amount: bigint, now: number, ttlMs: number): void {
  if (jobId === "") throw new RangeError("job id must not be empty");
  assertBaseUnits(amount, "hold amount");
  assertTime(now, "now");
  assertCount(ttlMs, "ttlMs");
}

export function assertUsageRecord(record: UsageRecord): void {
  if (record.jobId === "") throw new RangeError("job id must not be empty");
  assertCount(record.tokenUsage.promptTokens, "tokenUsage.promptTokens");
  assertCount(record.tokenUsage.completionTokens, "tokenUsage.completionTokens");
  assertCount(record.tokenUsage.totalTokens, "tokenUsage.totalTokens");
  assertCount(record.localUsage.promptTokens, "localUsage.promptTokens");
  assertCount(record.localUsage.completionTokens, "localUsage.completionTokens");
  if (record.engineUsage?.promptTokens !== undefined) {
    assertCount(record.engineUsage.promptTokens, "engineUsage.promptTokens");
  }
  if (record.engineUsage?.completionTokens !== undefined) {
    assertCount(record.engineUsage.completionTokens, "engineUsage.completionTokens");
  }
  if (!Number.isFinite(record.executionDuration) || record.executionDuration < 0) {
    throw new RangeError(`executionDuration must be a non-negative number, got ${record.executionDuration}`);
  }
  assertTime(record.timestamp, "timestamp");
  if (record.epoch !== undefined) assertCount(record.epoch, "epoch");
  assertBaseUnits(record.inputPricePerMillion, "inputPricePerMillion");
  assertBaseUnits(record.outputPricePerMillion, "outputPricePerMillion");
  assertBaseUnits(record.charge, "charge");
}

/** The UTC day (YYYY-MM-DD) a record falls on: the "day" report key. */
export function utcDay(timestamp: number): string {
  return new Date(timestamp).toISOString().slice(0, 10);
}

/** A record's key along a report dimension ("" when it has none). */
export function reportKey(record: UsageRecord, by: ReportDimension): string {
  switch (by) {
    case "intent":
      return record.intentId ?? "";
    case "runner":
      return record.nodeId ?? "";
    case "model":
      return record.modelType;
    case "epoch":
      return record.epoch === undefined ? "" : String(record.epoch);
    case "day":
      return utcDay(record.timestamp);
  }
}

/** Report rows in one order for both adapters: by key (epochs numerically). */
export function sortReportRows(rows: ReportRow[], by: ReportDimension): ReportRow[] {
  const numeric = by === "epoch";
  return rows.sort((left, right) => {
    if (numeric && left.key !== "" && right.key !== "") return Number(left.key) - Number(right.key);
    return left.key < right.key ? -1 : left.key > right.key ? 1 : 0;
  });
}

/** Sums records into report rows (the adapters' fallback when no aggregate answers the query). */
export function aggregateRecords(records: Iterable<UsageRecord>, by: ReportDimension): ReportRow[] {
  const rows = new Map<string, ReportRow>();
  for (const record of records) {
    const key = reportKey(record, by);
    let row = rows.get(key);
    if (!row) {
      row = { key, jobs: 0, promptTokens: 0, completionTokens: 0, charge: 0n };
      rows.set(key, row);
    }
    row.jobs += 1;
    row.promptTokens += record.tokenUsage.promptTokens;
    row.completionTokens += record.tokenUsage.completionTokens;
    row.charge += record.charge;
  }
  return sortReportRows([...rows.values()], by);
}
