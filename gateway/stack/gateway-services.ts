/**
 * Everything a gateway process needs besides HTTP: the billing store, metering, the payment
 * rail and the demo account. Both `hypernode start` and `hypernode gateway` start here.
 */
import { join, resolve } from "node:path";
import { Metering } from "../../billing/metering.ts";
import type { ModelCatalog } from "../../models/catalog.ts";
import { createGatewayServices, type GatewayServices } from "../app.ts";
import type { GatewayConfig } from "../config.ts";
import { ensureAccount, openBillingStore } from "./billing-store.ts";
import { loadOrCreateKeypair } from "./keypairs.ts";
import { connectClusterPayments, fundDemoIntent, type Payments, startLocalPayments } from "./payments.ts";
import { createSettlementService, journalPathFor } from "./settlement.ts";

export const DEMO_ACCOUNT_ID = "acct_demo";
/** 100 tokens of the 6-decimal local mint. */
export const DEMO_INTENT_AMOUNT = 100_000_000n;

export interface StartedServices {
  services: GatewayServices;
  /** Present when a demo intent was funded on the local chain. */
  demoIntentId: string | undefined;
  close(): Promise<void>;
}

export async function startGatewayServices(
  config: GatewayConfig,
  catalog: ModelCatalog,
  options: { demoKey: string | undefined; fundDemoIntent: boolean },
): Promise<StartedServices> {
  const store = await openBillingStore(config);
  const metering = new Metering(store, { enabled: config.billingEnabled, holdTtlMs: config.holdTtlMs });
  // The embedded SQLite store has one user: holds left by a previous process died with it.
  if (store.kind === "sqlite") await metering.reconcileAfterRestart();
  let payments: Payments | undefined;
  if (config.solanaRpcUrl && config.settlementKeypairPath && config.mint) {
    payments = await connectClusterPayments(store, {
      rpcUrl: config.solanaRpcUrl,
      settlementKeypairPath: config.settlementKeypairPath,
      mint: config.mint,
    });
  } else {
    payments = await startLocalPayments(store);
  }
  let demoIntentId: string | undefined;
  if (options.demoKey) {
    await ensureAccount(store, DEMO_ACCOUNT_ID, "demo");
    await store.apiKeys.import(options.demoKey, DEMO_ACCOUNT_ID, "demo key");
    if (options.fundDemoIntent && payments.localChain) {
      // The local chain starts empty each time: a fresh demo intent, funded for real.
      demoIntentId = (
        await fundDemoIntent({ ...payments, localChain: payments.localChain }, DEMO_ACCOUNT_ID, DEMO_INTENT_AMOUNT)
      ).intentId;
    }
  }
  const services = createGatewayServices(config, { catalog, apiKeys: store.apiKeys, store, metering, payments });
  if (config.nodeToken) services.nodeTokens.import(config.nodeToken, "HYPERNODE_NODE_TOKEN");
  services.settlement = createSettlementService({
    store,
    payments,
    registry: services.registry,
    catalog,
    events: services.events,
    journalPath: journalPathFor(config.dataDirectory),
    // Stable across restarts: a separately run oracle trusts this gateway's batch key.
    gatewayKeypair: loadOrCreateKeypair(join(resolve(config.dataDirectory), "gateway-keypair.json")),
    oracleKeypair: loadOrCreateKeypair(join(resolve(config.dataDirectory), "oracle-keypair.json")),
    treasuryWallet: loadOrCreateKeypair(join(resolve(config.dataDirectory), "treasury-keypair.json")).address,
  });
  // Payouts a previous process left in flight are resolved from the chain before anything new.
  await services.settlement.pipeline.resume();
  return { services, demoIntentId, close: () => store.close() };
}
