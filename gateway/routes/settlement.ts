/**
 * Settlement and the oracle over HTTP.
 *
 *   POST /admin/settle                      run a settlement round now (admin)
 *   GET  /admin/runners/{id}/earnings       jobs, charged, settled payouts with signatures, pending (admin)
 *   GET  /admin/usage/{jobId}/proof         the record's Merkle inclusion proof in its epoch's root (admin)
 *   GET  /admin/reconcile                   ledger vs chain: escrows, recipients, memo roots (admin)
 *
 * The oracle's own routes are in `oracle.ts`.
 */
import type { FastifyInstance, FastifyPluginAsync } from "fastify";
import fastifyPlugin from "fastify-plugin";
import type { BillingStore } from "../../billing/store/types.ts";
import { GatewayError } from "../errors.ts";
import type { RunnerRegistry } from "../runners/registry.ts";
import type { SettlementService } from "../stack/settlement.ts";
import { jsonSafe } from "./json-safe.ts";

export interface SettlementRoutesOptions {
  settlement: SettlementService;
  store: BillingStore;
  registry: RunnerRegistry;
}

const settlementRoutes: FastifyPluginAsync<SettlementRoutesOptions> = async (
  app: FastifyInstance,
  { settlement, store, registry },
) => {
  app.post("/admin/settle", { config: { auth: "admin" } }, async () => {
    const summary = await settlement.settleNow();
    return jsonSafe({
      epoch: summary.epoch,
      root: summary.root ?? null,
      records: summary.records,
      accepted: summary.accepted,
      rejected: summary.rejected,
      verification_id: summary.verificationId ?? null,
      payouts: summary.payouts,
      paid: summary.paid,
      confirmed_batches: summary.report?.confirmed ?? [],
      pending_batches: summary.report?.pending ?? [],
      failed_batches: summary.report?.failed ?? [],
    });
  });

  app.get<{ Params: { jobId: string } }>(
    "/admin/usage/:jobId/proof",
    { config: { auth: "admin" } },
    async (request) => {
      const found = await settlement.pipeline.inclusionProofOf(request.params.jobId);
      if (!found)
        throw new GatewayError("GW_ERR_NOT_FOUND", `No verified record ${request.params.jobId} in a settled batch.`);
      return found;
    },
  );

  app.get("/admin/reconcile", { config: { auth: "admin" } }, async () => jsonSafe(await settlement.reconcile()));

  app.get<{ Params: { id: string } }>("/admin/runners/:id/earnings", { config: { auth: "admin" } }, async (request) => {
    const runnerId = request.params.id;
    const runner = registry.get(runnerId);
    const records = await store.listUsage({ nodeId: runnerId }, 1_000_000);
    if (!runner && records.length === 0) throw new GatewayError("GW_ERR_NOT_FOUND", `No runner ${runnerId}.`);
    let charged = 0n;
    let settledCharges = 0n;
    for (const record of records) {
      charged += record.charge;
      if (record.chargeState === "settled") settledCharges += record.charge;
    }
    const payouts: { epoch: number; amount: bigint; signature: string | undefined; intentId: string }[] = [];
    let earned = 0n;
    const latest = await settlement.journal.latestEpoch();
    for (let epoch = 1; epoch <= (latest?.epoch ?? 0); epoch++) {
      for (const batch of await settlement.journal.batchesOfEpoch(epoch)) {
        if (batch.state !== "confirmed") continue;
        for (const payout of batch.payouts) {
          if (payout.role !== "runner" || !payout.nodeIds.includes(runnerId)) continue;
          earned += payout.amount;
          payouts.push({ epoch, amount: payout.amount, signature: batch.signature, intentId: payout.intentId });
        }
      }
    }
    return jsonSafe({
      runner_id: runnerId,
      wallet: runner?.wallet ?? null,
      jobs: records.length,
      charged,
      settled_charges: settledCharges,
      pending_charges: charged - settledCharges,
      earned,
      payouts,
    });
  });
};

export default fastifyPlugin(settlementRoutes, {
  name: "hypernode-settlement-routes",
  dependencies: ["hypernode-auth"],
});
