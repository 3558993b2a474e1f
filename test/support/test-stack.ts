/**
 * A whole network in the test process: the engine simulator, a gateway on a real port and
 * runner agents dialling it over real WebSockets. Everything binds 127.0.0.1 port 0 and
 * `close()` stops all of it.
 */
import { randomBytes } from "node:crypto";
import { Metering } from "../../billing/metering.ts";
import { generateKeypair } from "../../billing/receipts/ed25519.ts";
import { SqliteBillingStore } from "../../billing/store/sqlite-store.ts";
import type { BillingStore } from "../../billing/store/types.ts";
import { buildGateway, createGatewayServices, type Gateway, type GatewaySettings } from "../../gateway/app.ts";
import { type Payments, startLocalPayments } from "../../gateway/stack/payments.ts";
import { createSettlementService } from "../../gateway/stack/settlement.ts";
import { ModelCatalog } from "../../models/catalog.ts";
import { RunnerAgent } from "../../runners/agent/index.ts";
import { createEngineAdapter } from "../../runners/engines/index.ts";
import type { EngineKind } from "../../runners/protocol.ts";
import { type SimulatorHandle, type SimulatorOptions, startSimulator } from "../../runners/simulator/server.ts";

export const TEST_API_KEY = "sk-hn-test-0123456789abcdef";
export const TEST_ADMIN_TOKEN = "hn_admin_test_0123456789abcdef";
export const TEST_NODE_TOKEN = "hn_test_node_token_0123456789";

export interface TestRunnerOptions {
  engine?: EngineKind;
  /** Defaults to the stack's shared simulator. */
  engineUrl?: string;
  models?: string[];
  runnerId?: string;
  maxConcurrentJobs?: number;
}

export interface TestStack {
  url: string;
  payments: Payments | undefined;
  store: BillingStore;
  apiKey: string;
  adminToken: string;
  simulator: SimulatorHandle;
  gateway: Gateway;
  runners: RunnerAgent[];
  catalog: ModelCatalog;
  addRunner(options?: TestRunnerOptions): Promise<RunnerAgent>;
  close(): Promise<void>;
}

export interface TestStackOptions {
  simulator?: SimulatorOptions;
  settings?: Partial<GatewaySettings>;
  /** Runners to start at once (each on the shared simulator). */
  runners?: number;
  /**
   * Billing on: holds and charges against an intent of `fundedAmount` base units bound to the
   * test key's account. The store defaults to an in-memory SQLite one.
   */
  billing?: { store?: BillingStore; fundedAmount: bigint };
  /** The in-process chain with intents (`/v1/intents`, `/solana`). */
  payments?: boolean;
  /** With payments: the in-process oracle and payouts (`POST /admin/settle`). */
  settlement?: boolean;
}

export const TEST_ACCOUNT_ID = "acct_test";

/** A funded, active intent straight in the store (the on-chain path has its own tests). */
export async function fundTestIntent(store: BillingStore, accountId: string, amount: bigint): Promise<string> {
  const intentId = `in_${randomBytes(12).toString("hex")}`;
  await store.createIntent({
    id: intentId,
    accountId,
    payer: "PayerWa11et1111111111111111111111111111111",
    mint: "Mint111111111111111111111111111111111111111",
    escrow: "Escrow1111111111111111111111111111111111111",
    amount,
    funded: 0n,
    held: 0n,
    spent: 0n,
    settled: 0n,
    state: "pending",
    fundingSignature: undefined,
    refundSignature: undefined,
    createdAt: Date.now(),
    expiresAt: undefined,
    closedAt: undefined,
  });
  if (!(await store.activateIntent(intentId, amount, `test-funding-${intentId}`)))
    throw new Error("could not activate the test intent");
  await store.setActiveIntent(accountId, intentId);
  return intentId;
}

export async function startTestStack(options: TestStackOptions = {}): Promise<TestStack> {
  const catalog = ModelCatalog.builtIn();
  const simulator = await startSimulator({ timeToFirstTokenMs: 5, perTokenLatencyMs: 1, ...options.simulator });
  const store = options.billing?.store ?? SqliteBillingStore.open(":memory:");
  if (!(await store.getAccount(TEST_ACCOUNT_ID))) {
    await store.createAccount({ id: TEST_ACCOUNT_ID, name: "test", activeIntentId: undefined, createdAt: Date.now() });
  }
  await store.apiKeys.import(TEST_API_KEY, TEST_ACCOUNT_ID, "test key");
  const metering = options.billing ? new Metering(store, { enabled: true, holdTtlMs: 60_000 }) : undefined;
  // 0n: billing on, but intents come only through the real on-chain path.
  if (options.billing && options.billing.fundedAmount > 0n)
    await fundTestIntent(store, TEST_ACCOUNT_ID, options.billing.fundedAmount);
  const settings: GatewaySettings = {
    bodyLimitBytes: 1024 * 1024,
    firstTokenTimeoutMs: 10_000,
    totalTimeoutMs: 60_000,
    heartbeatIntervalMs: 15_000,
    maxAttempts: 3,
    adminToken: TEST_ADMIN_TOKEN,
    settlementIntervalMs: 0,
    ...options.settings,
  };
  const payments = options.payments ? await startLocalPayments(store) : undefined;
  const services = createGatewayServices(settings, { catalog, apiKeys: store.apiKeys, store, metering, payments });
  services.nodeTokens.import(TEST_NODE_TOKEN, "test runners");
  if (options.settlement && payments) {
    services.settlement = createSettlementService({
      store,
      payments,
      registry: services.registry,
      catalog,
      events: services.events,
      journalPath: ":memory:",
      lagMs: 0,
    });
  }
  const gateway = await buildGateway(settings, services);
  await gateway.app.listen({ host: "127.0.0.1", port: 0 });
  const address = gateway.app.server.address();
  if (typeof address !== "object" || !address) throw new Error("gateway has no address");
  const url = `http://127.0.0.1:${address.port}`;
  const runners: RunnerAgent[] = [];

  const addRunner = async (runnerOptions: TestRunnerOptions = {}) => {
    const agent = new RunnerAgent({
      gatewayUrl: url,
      nodeToken: TEST_NODE_TOKEN,
      wallet: generateKeypair(),
      engine: createEngineAdapter(runnerOptions.engine ?? "sim", runnerOptions.engineUrl ?? simulator.url),
      catalog,
      models: runnerOptions.models,
      runnerId: runnerOptions.runnerId,
      maxConcurrentJobs: runnerOptions.maxConcurrentJobs,
      reconnect: { initialDelayMs: 50, maxDelayMs: 500 },
    });
    await agent.start();
    runners.push(agent);
    return agent;
  };
  for (let index = 0; index < (options.runners ?? 1); index++) await addRunner();

  return {
    url,
    payments,
    store,
    apiKey: TEST_API_KEY,
    adminToken: TEST_ADMIN_TOKEN,
    simulator,
    gateway,
    runners,
    catalog,
    addRunner,
    async close() {
      await Promise.allSettled(runners.map((runner) => runner.stop({ drainMs: 0 })));
      await gateway.app.close();
      await simulator.close();
      await store.close();
    },
  };
}

/** Polls until `read` returns a value (not undefined) or the time runs out. */
export async function eventually<T>(read: () => T | undefined, timeoutMs = 5_000, intervalMs = 10): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
