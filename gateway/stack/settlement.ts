/**
 * The leader's settlement machinery for one gateway: an oracle (in process), the payout journal
 * beside the ledger, the executor on the payment rail, and the round pipeline. Confirmed
 * payouts raise the intents' `settled` and publish `paymentSettled`; each round publishes
 * `epochSettled`.
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { NullifierSet } from "../../billing/oracle/nullifiers.ts";
import { Oracle } from "../../billing/oracle/oracle.ts";
import { generateKeypair, type WalletKeypair } from "../../billing/receipts/ed25519.ts";
import { SettlementExecutor } from "../../billing/settlement/executor.ts";
import type { PayoutJournal } from "../../billing/settlement/journal.ts";
import { type RoundSummary, SettlementPipeline } from "../../billing/settlement/pipeline.ts";
import type { SettlementPayout } from "../../billing/settlement/plan.ts";
import { type ReconcileReport, reconcile } from "../../billing/settlement/reconcile.ts";
import { SqlitePayoutJournal } from "../../billing/settlement/sqlite-journal.ts";
import type { BillingStore } from "../../billing/store/types.ts";
import type { ModelCatalog } from "../../models/catalog.ts";
import type { EventPublisher } from "../events/types.ts";
import type { RunnerRegistry } from "../runners/registry.ts";
import type { Payments } from "./payments.ts";

export interface SettlementService {
  oracle: Oracle;
  pipeline: SettlementPipeline;
  journal: PayoutJournal;
  gatewayKeypair: WalletKeypair;
  treasuryWallet: string;
  oracleWallet: string;
  /** Runs a round now (the leader's timer and `POST /admin/settle` both come here). */
  settleNow(): Promise<RoundSummary>;
  /** The books against the chain: escrows, recipients, memo roots. */
  reconcile(): Promise<ReconcileReport>;
  close(): Promise<void>;
}

export interface SettlementServiceOptions {
  store: BillingStore;
  payments: Payments;
  registry: RunnerRegistry;
  catalog: ModelCatalog;
  events: EventPublisher | undefined;
  /** Where the payout journal lives (`:memory:` in tests). */
  journalPath: string;
  gatewayKeypair?: WalletKeypair;
  oracleKeypair?: WalletKeypair;
  treasuryWallet?: string;
  lagMs?: number;
}

/** A job id is spent once its record was verified: the store's state is the nullifier's truth. */
export function storeNullifiers(store: BillingStore): NullifierSet {
  return {
    has: async (jobId) => {
      const record = await store.getUsage(jobId);
      return record !== undefined && (record.chargeState === "verified" || record.chargeState === "settled");
    },
    claim: (jobId) => store.claimNullifier(jobId),
  };
}

export function journalPathFor(dataDirectory: string): string {
  const directory = resolve(dataDirectory);
  mkdirSync(directory, { recursive: true });
  return join(directory, "settlement.db");
}

export function createSettlementService(options: SettlementServiceOptions): SettlementService {
  const { store, payments, registry, catalog, events } = options;
  const gatewayKeypair = options.gatewayKeypair ?? generateKeypair();
  const oracleKeypair = options.oracleKeypair ?? generateKeypair();
  const treasuryWallet = options.treasuryWallet ?? generateKeypair().address;
  const journal = SqlitePayoutJournal.open(options.journalPath);

  let pipeline: SettlementPipeline | undefined;
  const oracle = new Oracle(
    {
      runners: { isRegisteredRunnerWallet: (nodeId, wallet) => registry.get(nodeId)?.wallet === wallet },
      catalog,
      intents: {
        intentStatus: async (intentId) => {
          const intent = await store.getIntent(intentId);
          return intent ? { state: intent.state, funded: intent.funded, closedAt: intent.closedAt } : undefined;
        },
      },
      nullifiers: storeNullifiers(store),
      epochs: { epochBounds: (epoch) => pipeline?.epochBounds(epoch) },
    },
    { keypair: oracleKeypair, trustedGateways: [gatewayKeypair.address] },
  );

  const onPaid = async (payout: SettlementPayout, signature: string) => {
    // Idempotent per payout id: a payout reported twice after a crash counts once.
    const recorded = await store.recordSettlement(payout.intentId, payout.payoutId, payout.amount);
    if (!recorded) return;
    events?.publish("paymentSettled", {
      intentId: payout.intentId,
      runnerId: payout.role === "runner" ? payout.nodeIds.join(",") : undefined,
      recipient: payout.recipient,
      role: payout.role,
      amount: payout.amount.toString(),
      signature,
      epoch: payout.epoch,
    });
  };
  const executor = new SettlementExecutor({
    chain: payments.chain,
    authority: payments.settlementAuthority,
    mint: payments.mint,
    decimals: payments.decimals,
    journal,
    onPaid,
  });
  pipeline = new SettlementPipeline({
    store,
    journal,
    executor,
    verifier: oracle,
    gatewayKeypair,
    treasuryWallet,
    oracleWallet: oracleKeypair.address,
    lagMs: options.lagMs,
  });
  const activePipeline = pipeline;

  return {
    oracle,
    pipeline: activePipeline,
    journal,
    gatewayKeypair,
    treasuryWallet,
    oracleWallet: oracleKeypair.address,
    async settleNow() {
      const summary = await activePipeline.settleRound();
      if (summary.root !== undefined) {
        const signatures = new Set<string>();
        for (const batch of await journal.batchesOfEpoch(summary.epoch))
          if (batch.signature) signatures.add(batch.signature);
        events?.publish("epochSettled", {
          epoch: summary.epoch,
          root: summary.root,
          records: summary.accepted,
          payouts: summary.payouts.length,
          amount: summary.paid.toString(),
          signatures: [...signatures],
        });
      }
      return summary;
    },
    reconcile: () => reconcile({ store, journal, chain: payments.chain, mint: payments.mint }),
    async close() {
      journal.close?.();
    },
  };
}
