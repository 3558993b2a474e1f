/**
 * Canonical bytes of a usage record: the exact bytes a Merkle leaf commits to. The gateway, the
 * oracle and any auditor must derive the same bytes from the same record, so the encoding is
 * fixed here: a domain tag, then a JSON array of the fields in a fixed order, bigints as decimal
 * strings and absent values as null.
 *
 * `chargeState` and `epoch` are left out on purpose: they are bookkeeping the store updates as the
 * record moves through batching and settlement, and a record read back later must still prove
 * its inclusion in the root it was batched under.
 */
import type { UsageRecord } from "../store/types.ts";

export const USAGE_RECORD_DOMAIN = "hypernode-usage-record:v1:";

type CanonicalValue = string | number | boolean | null | readonly CanonicalValue[];

function finite(value: number, name: string): number {
  // JSON turns NaN and Infinity into null, which would let two different records share bytes.
  if (!Number.isFinite(value)) throw new RangeError(`${name} must be a finite number, got ${value}`);
  return value;
}

function optionalNumber(value: number | undefined, name: string): number | null {
  return value === undefined ? null : finite(value, name);
}

function optionalText(value: string | undefined): string | null {
  return value ?? null;
}

/** The ordered field values; exported so tests can see exactly what a leaf commits to. */
export function canonicalUsageRecordFields(record: UsageRecord): readonly CanonicalValue[] {
  const engine = record.engineUsage;
  return [
    record.jobId,
    optionalText(record.nodeId),
    optionalText(record.intentId),
    record.accountId,
    record.apiKeyId,
    record.modelType,
    finite(record.tokenUsage.promptTokens, "tokenUsage.promptTokens"),
    finite(record.tokenUsage.completionTokens, "tokenUsage.completionTokens"),
    finite(record.tokenUsage.totalTokens, "tokenUsage.totalTokens"),
    finite(record.localUsage.promptTokens, "localUsage.promptTokens"),
    finite(record.localUsage.completionTokens, "localUsage.completionTokens"),
    engine === undefined
      ? null
      : [
          optionalNumber(engine.promptTokens, "engineUsage.promptTokens"),
          optionalNumber(engine.completionTokens, "engineUsage.completionTokens"),
        ],
    finite(record.executionDuration, "executionDuration"),
    optionalText(record.executionHash),
    optionalText(record.logsHash),
    finite(record.timestamp, "timestamp"),
    record.success,
    optionalText(record.errorMessage),
    optionalText(record.receiptJson),
    record.inputPricePerMillion.toString(),
    record.outputPricePerMillion.toString(),
    record.charge.toString(),
  ];
}

/** The canonical bytes as text; their UTF-8 encoding is `canonicalUsageRecordBytes`. */
export function canonicalUsageRecordText(record: UsageRecord): string {
  return `${USAGE_RECORD_DOMAIN}${JSON.stringify(canonicalUsageRecordFields(record))}`;
}

export function canonicalUsageRecordBytes(record: UsageRecord): Buffer {
  return Buffer.from(canonicalUsageRecordText(record), "utf8");
}
