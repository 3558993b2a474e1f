/**
 * Records ↔ Redis hash fields. Every value is a string: amounts are bigint decimal strings (never
 * JavaScript numbers), counts and times are integer strings, and an absent optional field is an
 * absent hash field, so `undefined` and `""` stay distinct.
 */
import type { ApiKeyRecord } from "../api-keys.ts";
import type { AccountRecord, ChargeState, HoldRecord, IntentRecord, IntentState, UsageRecord } from "./types.ts";

export type Fields = Record<string, string>;

/** Field/value pairs as a flat list (HSET's argument form), skipping undefined values. */
export function fieldList(fields: Record<string, string | undefined>): string[] {
  const list: string[] = [];
  for (const [name, value] of Object.entries(fields)) {
    if (value !== undefined) list.push(name, value);
  }
  return list;
}

/** A flat [field, value, …] reply → an object. */
export function fieldsFromList(list: readonly string[]): Fields {
  const fields: Fields = {};
  for (let index = 0; index + 1 < list.length; index += 2) {
    fields[list[index] as string] = list[index + 1] as string;
  }
  return fields;
}

function optionalText(value: number | undefined): string | undefined {
  return value === undefined ? undefined : String(value);
}

function optionalNumber(value: string | undefined): number | undefined {
  return value === undefined ? undefined : Number(value);
}

function required(fields: Fields, name: string): string {
  const value = fields[name];
  if (value === undefined) throw new Error(`billing record is missing field ${name}`);
  return value;
}

export function accountFields(account: AccountRecord): string[] {
  return fieldList({
    id: account.id,
    name: account.name,
    activeIntentId: account.activeIntentId,
    createdAt: String(account.createdAt),
  });
}

export function accountFromFields(fields: Fields): AccountRecord {
  return {
    id: required(fields, "id"),
    name: required(fields, "name"),
    activeIntentId: fields.activeIntentId,
    createdAt: Number(required(fields, "createdAt")),
  };
}

export function intentFields(intent: IntentRecord): string[] {
  return fieldList({
    id: intent.id,
    accountId: intent.accountId,
    payer: intent.payer,
    mint: intent.mint,
    escrow: intent.escrow,
    amount: intent.amount.toString(),
    funded: intent.funded.toString(),
    held: intent.held.toString(),
    spent: intent.spent.toString(),
    settled: intent.settled.toString(),
    state: intent.state,
    fundingSignature: intent.fundingSignature,
    refundSignature: intent.refundSignature,
    createdAt: String(intent.createdAt),
    expiresAt: optionalText(intent.expiresAt),
    closedAt: optionalText(intent.closedAt),
  });
}

export function intentFromFields(fields: Fields): IntentRecord {
  return {
    id: required(fields, "id"),
    accountId: required(fields, "accountId"),
    payer: required(fields, "payer"),
    mint: required(fields, "mint"),
    escrow: required(fields, "escrow"),
    amount: BigInt(required(fields, "amount")),
    funded: BigInt(required(fields, "funded")),
    held: BigInt(required(fields, "held")),
    spent: BigInt(required(fields, "spent")),
    settled: BigInt(required(fields, "settled")),
    state: required(fields, "state") as IntentState,
    fundingSignature: fields.fundingSignature,
    refundSignature: fields.refundSignature,
    createdAt: Number(required(fields, "createdAt")),
    expiresAt: optionalNumber(fields.expiresAt),
    closedAt: optionalNumber(fields.closedAt),
  };
}

export function holdFromFields(fields: Fields): HoldRecord {
  return {
    jobId: required(fields, "jobId"),
    intentId: required(fields, "intentId"),
    amount: BigInt(required(fields, "amount")),
    createdAt: Number(required(fields, "createdAt")),
    expiresAt: Number(required(fields, "expiresAt")),
  };
}

/** The record's fields except `intentId` and `charge`, which the capture script decides. */
export function usageFields(record: UsageRecord, day: string): string[] {
  return fieldList({
    jobId: record.jobId,
    nodeId: record.nodeId,
    accountId: record.accountId,
    apiKeyId: record.apiKeyId,
    modelType: record.modelType,
    promptTokens: String(record.tokenUsage.promptTokens),
    completionTokens: String(record.tokenUsage.completionTokens),
    totalTokens: String(record.tokenUsage.totalTokens),
    localPromptTokens: String(record.localUsage.promptTokens),
    localCompletionTokens: String(record.localUsage.completionTokens),
    engineReported: record.engineUsage === undefined ? "0" : "1",
    enginePromptTokens: optionalText(record.engineUsage?.promptTokens),
    engineCompletionTokens: optionalText(record.engineUsage?.completionTokens),
    // String(number) is the shortest text that parses back to the same double.
    executionDuration: String(record.executionDuration),
    executionHash: record.executionHash,
    logsHash: record.logsHash,
    timestamp: String(record.timestamp),
    day,
    success: record.success ? "1" : "0",
    errorMessage: record.errorMessage,
    receiptJson: record.receiptJson,
    inputPricePerMillion: record.inputPricePerMillion.toString(),
    outputPricePerMillion: record.outputPricePerMillion.toString(),
    chargeState: record.chargeState,
    epoch: optionalText(record.epoch),
  });
}

export function usageFromFields(fields: Fields): UsageRecord {
  return {
    jobId: required(fields, "jobId"),
    nodeId: fields.nodeId,
    intentId: fields.intentId,
    accountId: required(fields, "accountId"),
    apiKeyId: required(fields, "apiKeyId"),
    modelType: required(fields, "modelType"),
    tokenUsage: {
      promptTokens: Number(required(fields, "promptTokens")),
      completionTokens: Number(required(fields, "completionTokens")),
      totalTokens: Number(required(fields, "totalTokens")),
    },
    localUsage: {
      promptTokens: Number(required(fields, "localPromptTokens")),
      completionTokens: Number(required(fields, "localCompletionTokens")),
    },
    engineUsage:
      fields.engineReported === "1"
        ? {
            promptTokens: optionalNumber(fields.enginePromptTokens),
            completionTokens: optionalNumber(fields.engineCompletionTokens),
          }
        : undefined,
    executionDuration: Number(required(fields, "executionDuration")),
    executionHash: fields.executionHash,
    logsHash: fields.logsHash,
    timestamp: Number(required(fields, "timestamp")),
    success: fields.success === "1",
    errorMessage: fields.errorMessage,
    receiptJson: fields.receiptJson,
    inputPricePerMillion: BigInt(required(fields, "inputPricePerMillion")),
    outputPricePerMillion: BigInt(required(fields, "outputPricePerMillion")),
    charge: BigInt(required(fields, "charge")),
    chargeState: required(fields, "chargeState") as ChargeState,
    epoch: optionalNumber(fields.epoch),
  };
}

export function apiKeyFields(record: ApiKeyRecord): string[] {
  return fieldList({
    id: record.id,
    accountId: record.accountId,
    label: record.label,
    hint: record.hint,
    keyHash: record.keyHash,
    createdAt: String(record.createdAt),
    revokedAt: optionalText(record.revokedAt),
  });
}

export function apiKeyFromFields(fields: Fields): ApiKeyRecord {
  return {
    id: required(fields, "id"),
    accountId: required(fields, "accountId"),
    label: required(fields, "label"),
    hint: required(fields, "hint"),
    keyHash: required(fields, "keyHash"),
    createdAt: Number(required(fields, "createdAt")),
    revokedAt: optionalNumber(fields.revokedAt),
  };
}
