/**
 * The one JSON line `billing/settlement/bench-main.ts` prints, parsed without trusting it: a
 * missing, garbled or incomplete line, or one for another record count, is `undefined` ("not
 * measured"), never a 0 figure.
 */

export interface SettlementFigures {
  records: number;
  batchMs: number;
  proofsMs: number;
  planMs: number;
  totalMs: number;
  payouts: number;
}

const DURATIONS = ["batchMs", "proofsMs", "planMs", "totalMs"] as const;

function isFigures(value: unknown, expectedRecords: number): value is SettlementFigures {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const line = value as Record<string, unknown>;
  if (line.records !== expectedRecords) return false;
  if (!Number.isSafeInteger(line.payouts) || (line.payouts as number) < 1) return false;
  for (const key of DURATIONS) {
    const duration = line[key];
    if (typeof duration !== "number" || !Number.isFinite(duration) || duration < 0) return false;
  }
  // A total of 0 ms for any records is not a measurement.
  return (line.totalMs as number) > 0;
}

/** The last line of `stdout` that is a complete figures object for `expectedRecords` records. */
export function parseSettlementLine(stdout: string, expectedRecords: number): SettlementFigures | undefined {
  const lines = stdout.split("\n");
  for (let index = lines.length - 1; index >= 0; index -= 1) {
    const text = (lines[index] as string).trim();
    if (!text.startsWith("{")) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      continue;
    }
    if (!isFigures(parsed, expectedRecords)) continue;
    const { records, batchMs, proofsMs, planMs, totalMs, payouts } = parsed;
    return { records, batchMs, proofsMs, planMs, totalMs, payouts };
  }
  return undefined;
}
