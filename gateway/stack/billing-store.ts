/**
 * Which billing store a gateway uses: Redis when `REDIS_URL` is set (replicas share it),
 * otherwise the embedded SQLite file under the data directory.
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { RedisBillingStore } from "../../billing/store/redis-store.ts";
import { SqliteBillingStore } from "../../billing/store/sqlite-store.ts";
import type { BillingStore } from "../../billing/store/types.ts";
import type { GatewayConfig } from "../config.ts";

export async function openBillingStore(
  config: Pick<GatewayConfig, "redisUrl" | "dataDirectory">,
): Promise<BillingStore> {
  if (config.redisUrl) return RedisBillingStore.connect(config.redisUrl);
  const directory = resolve(config.dataDirectory);
  mkdirSync(directory, { recursive: true });
  return SqliteBillingStore.open(join(directory, "hypernode.db"));
}

/** Makes sure an account exists (idempotent across restarts). */
export async function ensureAccount(store: BillingStore, id: string, name: string): Promise<void> {
  if (!(await store.getAccount(id)))
    await store.createAccount({ id, name, activeIntentId: undefined, createdAt: Date.now() });
}
