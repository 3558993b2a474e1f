/**
 * Builders for billing store tests: records with every field set, and an account with a funded,
 * active intent in one call.
 */
import type { BillingStore, IntentRecord, UsageRecord } from "../../billing/store/types.ts";

/** 2023-11-14T22:13:20Z: a fixed clock, so day keys are predictable. */
export const T0 = 1_700_000_000_000;
export const DAY_MS = 86_400_000;

let sequence = 0;

export function uniqueId(prefix: string): string {
  sequence += 1;
  return `${prefix}${process.pid}_${sequence}`;
}

export function intentRecord(overrides: Partial<IntentRecord> = {}): IntentRecord {
  const id = overrides.id ?? uniqueId("in_");
  return {
    id,
    accountId: "acct_1",
    payer: "PayerWa11et1111111111111111111111111111111",
    mint: "Mint111111111111111111111111111111111111111",
    escrow: `Escrow_${id}`,
    amount: 1_000_000n,
    funded: 0n,
    held: 0n,
    spent: 0n,
    settled: 0n,
    state: "pending",
    fundingSignature: undefined,
    refundSignature: undefined,
    createdAt: T0,
    expiresAt: undefined,
    closedAt: undefined,
    ...overrides,
  };
}

export function usageRecord(jobId: string, overrides: Partial<UsageRecord> = {}): UsageRecord {
  return {
    jobId,
    nodeId: "runner-a",
    intentId: undefined,
    accountId: "acct_1",
    apiKeyId: "key_1",
    modelType: "qwen2.5-7b-instruct",
    tokenUsage: { promptTokens: 10, completionTokens: 20, totalTokens: 30 },
    localUsage: { promptTokens: 10, completionTokens: 19 },
    engineUsage: { promptTokens: 10, completionTokens: undefined },
    executionDuration: 1234.5,
    executionHash: "ab".repeat(32),
    logsHash: undefined,
    timestamp: T0,
    success: true,
    errorMessage: undefined,
    receiptJson: '{"signature":"sig"}',
    inputPricePerMillion: 100_000n,
    outputPricePerMillion: 200_000n,
    charge: 5n,
    chargeState: "escrowed",
    epoch: undefined,
    ...overrides,
  };
}

/** Creates the account (once) and an intent activated with `funded`; returns the intent id. */
export async function fundedIntent(
  store: BillingStore,
  funded: bigint,
  overrides: Partial<IntentRecord> = {},
): Promise<string> {
  const intent = intentRecord({ amount: funded, ...overrides });
  if ((await store.getAccount(intent.accountId)) === undefined) {
    await store.createAccount({ id: intent.accountId, name: "Acme", activeIntentId: undefined, createdAt: T0 });
  }
  await store.createIntent(intent);
  if (!(await store.activateIntent(intent.id, funded, uniqueId("sig_")))) {
    throw new Error(`could not activate ${intent.id}`);
  }
  return intent.id;
}
