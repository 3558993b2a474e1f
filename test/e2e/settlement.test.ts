/**
 * Settlement end to end: requests spread over 3 runners and 2 intents → a round → the oracle
 * → payouts on chain. Every wallet's token balance equals the ledger's split to the base unit,
 * escrows hold funded − settled, and payouts + carried remainders = charges.
 */
import {
  createAssociatedTokenAccountIdempotentInstruction,
  createTransferCheckedInstruction,
  getAssociatedTokenAddressSync,
} from "@solana/spl-token";
import { PublicKey, Transaction } from "@solana/web3.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildBatch, type InclusionProof, verifyInclusion } from "../../billing/batches/batch.ts";
import { decodeBatchJson, encodeBatchJson } from "../../billing/batches/batch-json.ts";
import { generateKeypair } from "../../billing/receipts/ed25519.ts";
import { fundDemoIntent, type Payments } from "../../gateway/stack/payments.ts";
import type { LocalChain } from "../../programs/local-chain.ts";
import { startTestStack, type TestStack } from "../support/test-stack.ts";

let stack: TestStack;
let payments: Payments & { localChain: LocalChain };
const accounts: { id: string; key: string; intentId: string }[] = [];

async function chat(key: string): Promise<void> {
  const response = await fetch(`${stack.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({
      model: "qwen2.5-7b-instruct",
      max_tokens: 25,
      ignore_eos: true,
      messages: [{ role: "user", content: "Earn something." }],
    }),
  });
  expect(response.status).toBe(200);
  await response.text();
}

async function tokenBalance(owner: string): Promise<bigint> {
  return (
    (await payments.localChain.tokenBalance(getAssociatedTokenAddressSync(payments.mint, new PublicKey(owner)))) ?? 0n
  );
}

beforeAll(async () => {
  stack = await startTestStack({ runners: 0, payments: true, settlement: true, billing: { fundedAmount: 0n } });
  if (!stack.payments?.localChain) throw new Error("no local chain");
  payments = { ...stack.payments, localChain: stack.payments.localChain };
  for (let runner = 0; runner < 3; runner++) await stack.addRunner({ runnerId: `runner-${runner}` });
  for (const name of ["alpha", "beta"]) {
    const id = `acct_${name}`;
    await stack.store.createAccount({ id, name, activeIntentId: undefined, createdAt: Date.now() });
    const { key } = await stack.store.apiKeys.create(id, name);
    const { intentId } = await fundDemoIntent(payments, id, 50_000_000n);
    accounts.push({ id, key, intentId });
  }
}, 90_000);
afterAll(async () => {
  await stack?.close();
});

describe("settlement on the embedded network", () => {
  it("pays runners, treasury and oracle exactly what the ledger says, from the right escrows", async () => {
    // Concurrent requests so least-outstanding routing spreads them over all three runners.
    await Promise.all(Array.from({ length: 24 }, (_, index) => chat(accounts[index % 2]?.key ?? "")));
    const records = (await stack.store.listUsage({}, 1_000)).filter((record) => record.intentId !== undefined);
    expect(new Set(records.map((record) => record.nodeId)).size).toBe(3);

    const response = await fetch(`${stack.url}/admin/settle`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.adminToken}` },
    });
    expect(response.status).toBe(200);
    const summary = (await response.json()) as {
      epoch: number;
      root: string;
      accepted: number;
      rejected: number;
      pending_batches: string[];
    };
    expect(summary).toMatchObject({ epoch: 1, accepted: records.length, rejected: 0, pending_batches: [] });

    const settlement = stack.gateway.services.settlement;
    if (!settlement) throw new Error("no settlement");
    const batches = await settlement.journal.batchesOfEpoch(1);
    expect(batches.every((batch) => batch.state === "confirmed")).toBe(true);
    const paidTo = new Map<string, bigint>();
    const paidFrom = new Map<string, bigint>();
    for (const batch of batches) {
      for (const payout of batch.payouts) {
        paidTo.set(payout.recipient, (paidTo.get(payout.recipient) ?? 0n) + payout.amount);
        paidFrom.set(payout.intentId, (paidFrom.get(payout.intentId) ?? 0n) + payout.amount);
      }
    }

    // Each runner wallet, the treasury and the oracle hold exactly what the ledger paid them.
    for (const runner of stack.gateway.services.registry.list()) {
      const owed = paidTo.get(runner.wallet) ?? 0n;
      expect(owed).toBeGreaterThan(0n);
      expect(await tokenBalance(runner.wallet)).toBe(owed);
    }
    expect(await tokenBalance(settlement.treasuryWallet)).toBe(paidTo.get(settlement.treasuryWallet));
    expect(await tokenBalance(settlement.oracleWallet)).toBe(paidTo.get(settlement.oracleWallet));

    // Each escrow holds funded − settled; payouts + carried remainders = charges, per intent.
    const carried = (await settlement.journal.latestEpoch())?.carried ?? new Map<string, bigint>();
    for (const account of accounts) {
      const intent = await stack.store.getIntent(account.intentId);
      if (!intent) throw new Error("intent missing");
      expect(intent.settled).toBe(paidFrom.get(intent.id));
      expect(await payments.localChain.tokenBalance(new PublicKey(intent.escrow))).toBe(intent.funded - intent.settled);
      const charges = records
        .filter((record) => record.intentId === intent.id)
        .reduce((sum, record) => sum + record.charge, 0n);
      let carriedForIntent = 0n;
      for (const [key, amount] of carried) if (key.startsWith(`${intent.id} `)) carriedForIntent += amount;
      expect((paidFrom.get(intent.id) ?? 0n) + carriedForIntent).toBe(charges);
      expect(intent.spent).toBe(charges);
    }
    for (const record of records) expect((await stack.store.getUsage(record.jobId))?.chargeState).toBe("settled");

    // Any record's inclusion proof in the signed root can be fetched and checked.
    const sample = records[5];
    if (!sample) throw new Error("no record");
    const proofResponse = await fetch(`${stack.url}/admin/usage/${sample.jobId}/proof`, {
      headers: { authorization: `Bearer ${stack.adminToken}` },
    });
    const { root, proof } = (await proofResponse.json()) as { root: string; proof: InclusionProof };
    expect(root).toBe(summary.root);
    const settledRecord = await stack.store.getUsage(sample.jobId);
    if (!settledRecord) throw new Error("record vanished");
    expect(verifyInclusion(settledRecord, proof, root)).toBe(true);
    expect(verifyInclusion({ ...settledRecord, charge: settledRecord.charge + 1n }, proof, root)).toBe(false);

    // The transactions carry the batch root in their memo.
    const landed = await payments.localChain.getTransaction(batches[0]?.signature ?? "");
    expect(JSON.stringify(landed?.logs ?? [])).toContain(`hn:1:`);

    // A second round has nothing new to pay and pays nothing twice.
    const again = (await (
      await fetch(`${stack.url}/admin/settle`, {
        method: "POST",
        headers: { authorization: `Bearer ${stack.adminToken}` },
      })
    ).json()) as {
      records: number;
    };
    expect(again.records).toBe(0);
    const earnings = (await (
      await fetch(`${stack.url}/admin/runners/runner-0/earnings`, {
        headers: { authorization: `Bearer ${stack.adminToken}` },
      })
    ).json()) as {
      earned: string;
      payouts: { signature: string }[];
    };
    expect(BigInt(earnings.earned)).toBe(paidTo.get(stack.gateway.services.registry.get("runner-0")?.wallet ?? ""));
    expect(earnings.payouts.every((payout) => payout.signature.length > 40)).toBe(true);
  }, 120_000);

  it("reconciles the books with the chain, and reports an escrow drained behind the ledger's back", async () => {
    const headers = { authorization: `Bearer ${stack.adminToken}` };
    const clean = (await (await fetch(`${stack.url}/admin/reconcile`, { headers })).json()) as {
      transactions: number;
      differences: unknown[];
    };
    expect(clean.transactions).toBeGreaterThan(0);
    expect(clean.differences).toEqual([]);

    // The settlement authority moves tokens out of an escrow without the ledger knowing.
    const intent = await stack.store.getIntent(accounts[0]?.intentId ?? "");
    if (!intent) throw new Error("intent missing");
    const thief = generateKeypair().address;
    const destination = getAssociatedTokenAddressSync(payments.mint, new PublicKey(thief));
    const authority = payments.settlementAuthority;
    const { blockhash } = await payments.localChain.latestBlockhash();
    const drain = new Transaction({ feePayer: authority.publicKey, recentBlockhash: blockhash }).add(
      createAssociatedTokenAccountIdempotentInstruction(
        authority.publicKey,
        destination,
        new PublicKey(thief),
        payments.mint,
      ),
      createTransferCheckedInstruction(
        new PublicKey(intent.escrow),
        payments.mint,
        destination,
        authority.publicKey,
        1_000n,
        payments.decimals,
      ),
    );
    drain.sign(authority);
    await payments.localChain.send(drain);
    const tampered = (await (await fetch(`${stack.url}/admin/reconcile`, { headers })).json()) as {
      differences: { kind: string; subject: string; expected: string; actual: string }[];
    };
    expect(tampered.differences).toEqual([
      expect.objectContaining({ kind: "escrow_balance", subject: expect.stringContaining(intent.id) }),
    ]);
    const difference = tampered.differences[0];
    expect(BigInt(difference?.expected ?? "0") - BigInt(difference?.actual ?? "0")).toBe(1_000n);
  });

  it("answers the oracle API: a batch from an untrusted gateway is refused, a garbled one is a 400", async () => {
    const record = (await stack.store.listUsage({}, 1))[0];
    if (!record) throw new Error("no record");
    const forged = buildBatch({
      epoch: 99,
      records: [record],
      gatewayKeypair: generateKeypair(),
      createdAt: Date.now(),
    });
    const encoded = encodeBatchJson(forged);
    expect(decodeBatchJson(JSON.parse(JSON.stringify(encoded))).ok).toBe(true);
    const verify = await fetch(`${stack.url}/api/oracle/verify`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(encoded),
    });
    expect(verify.status).toBe(200);
    const verdict = (await verify.json()) as { success: boolean; verificationId: string; verificationScore: number };
    expect(verdict.success).toBe(false);
    expect(verdict.verificationScore).toBe(0);
    const detail = (await (await fetch(`${stack.url}/api/oracle/verifications/${verdict.verificationId}`)).json()) as {
      results: { failedChecks: string[] }[];
    };
    expect(detail.results[0]?.failedChecks).toContain("batch_signature");
    const garbled = await fetch(`${stack.url}/api/oracle/verify`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ epoch: "one" }),
    });
    expect(garbled.status).toBe(400);
  });
});
