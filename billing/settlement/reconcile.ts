/**
 * Reconciliation: the books against the chain. For every intent, its escrow must hold
 * funded − settled; for every wallet paid, its token account must hold what the journal
 * confirmed paying it (when it receives nothing else); every confirmed payout transaction must
 * carry the memo `hn:<epoch>:<root>` of its batch. Any difference is reported, never fixed.
 */
import { getAssociatedTokenAddressSync } from "@solana/spl-token";
import { PublicKey } from "@solana/web3.js";
import type { Chain } from "../../programs/chain.ts";
import { payoutMemo, readMemo } from "../../programs/memo.ts";
import type { BillingStore } from "../store/types.ts";
import type { PayoutJournal } from "./journal.ts";

export interface ReconcileDifference {
  kind: "escrow_balance" | "recipient_balance" | "memo" | "intent_books";
  subject: string;
  expected: string;
  actual: string;
}

export interface ReconcileReport {
  intents: number;
  recipients: number;
  transactions: number;
  differences: ReconcileDifference[];
}

export interface ReconcileInput {
  store: BillingStore;
  journal: PayoutJournal;
  chain: Chain;
  mint: PublicKey;
}

export async function reconcile({ store, journal, chain, mint }: ReconcileInput): Promise<ReconcileReport> {
  const differences: ReconcileDifference[] = [];
  const intents = await store.listIntents();
  for (const intent of intents) {
    if (intent.held + intent.spent > intent.funded || intent.settled > intent.spent) {
      differences.push({
        kind: "intent_books",
        subject: intent.id,
        expected: "held + spent ≤ funded and settled ≤ spent",
        actual: `funded ${intent.funded}, held ${intent.held}, spent ${intent.spent}, settled ${intent.settled}`,
      });
    }
    if (intent.funded === 0n) continue;
    // A closed intent refunded funded − spent; what stays is spent − settled (owed to payouts).
    const expected = intent.state === "closed" ? intent.spent - intent.settled : intent.funded - intent.settled;
    const actual = (await chain.tokenBalance(new PublicKey(intent.escrow))) ?? 0n;
    if (actual !== expected) {
      differences.push({
        kind: "escrow_balance",
        subject: `${intent.id} (${intent.escrow})`,
        expected: expected.toString(),
        actual: actual.toString(),
      });
    }
  }

  const paidTo = new Map<string, bigint>();
  let transactions = 0;
  const latest = await journal.latestEpoch();
  for (let epoch = 1; epoch <= (latest?.epoch ?? 0); epoch++) {
    const record = await journal.getEpoch(epoch);
    for (const batch of await journal.batchesOfEpoch(epoch)) {
      if (batch.state !== "confirmed" || !batch.signature) continue;
      transactions++;
      for (const payout of batch.payouts)
        paidTo.set(payout.recipient, (paidTo.get(payout.recipient) ?? 0n) + payout.amount);
      const landed = await chain.getTransaction(batch.signature);
      const memos = (landed?.instructions ?? [])
        .map((instruction) => readMemo(instruction))
        .filter((memo) => memo !== undefined);
      const expectedMemo = payoutMemo(epoch, record?.rootHex ?? batch.rootHex);
      if (!memos.includes(expectedMemo)) {
        differences.push({
          kind: "memo",
          subject: batch.signature,
          expected: expectedMemo,
          actual: memos.join(" | ") || "(none)",
        });
      }
    }
  }
  for (const [recipient, amount] of paidTo) {
    const actual =
      (await chain.tokenBalance(getAssociatedTokenAddressSync(mint, new PublicKey(recipient), true))) ?? 0n;
    if (actual !== amount) {
      differences.push({
        kind: "recipient_balance",
        subject: recipient,
        expected: amount.toString(),
        actual: actual.toString(),
      });
    }
  }
  return { intents: intents.length, recipients: paidTo.size, transactions, differences };
}
