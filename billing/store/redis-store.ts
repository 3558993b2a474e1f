/**
 * The shared billing store for several gateway replicas: Redis (one primary), every mutation a
 * Lua script (see redis-lua.ts), so balance checks and ledger writes are atomic across replicas.
 *
 * Durability is the server's: run Redis with `appendonly yes` and `appendfsync always` so a
 * reply (the gateway's acknowledgement of a capture) is sent only after the write is fsynced;
 * `everysec` can lose the last second on a crash. Reserve and capture are idempotent per job
 * id, so ioredis resending an unanswered command after a reconnect never double-charges.
 *
 * Captured records are also appended to the stream `<prefix>usage` for later consumers (epoch
 * batcher, webhooks), and per-dimension report totals are kept exact in the capture script.
 */
import { Redis, type RedisOptions } from "ioredis";
import type { ApiKeyStore } from "../api-keys.ts";
import { RedisApiKeyStore } from "./redis-api-keys.ts";
import {
  accountFields,
  accountFromFields,
  type Fields,
  fieldsFromList,
  holdFromFields,
  intentFields,
  intentFromFields,
  usageFields,
  usageFromFields,
} from "./redis-codec.ts";
import {
  ACTIVATE_INTENT,
  CAPTURE,
  CLAIM_NULLIFIER,
  CLOSE_INTENT,
  CREATE_ACCOUNT,
  CREATE_INTENT,
  EXPIRE_HOLDS,
  EXPIRE_INTENTS,
  MOVE_CHARGE_STATE,
  RECORD_SETTLEMENT,
  RELEASE,
  RESERVE,
  SET_ACTIVE_INTENT,
} from "./redis-lua.ts";
import type {
  AccountRecord,
  BillingStore,
  CaptureResult,
  HoldRecord,
  IntentRecord,
  ReportDimension,
  ReportRow,
  ReserveResult,
  UsageFilter,
  UsageRecord,
} from "./types.ts";
import {
  aggregateRecords,
  assertBaseUnits,
  assertCount,
  assertHoldRequest,
  assertId,
  assertIntent,
  assertUsageRecord,
  sortReportRows,
  utcDay,
} from "./validation.ts";

export interface RedisBillingStoreOptions {
  /** Prefix of every key the store writes (default `hn:`), so several deployments can share a server. */
  keyPrefix?: string;
  /**
   * Told about connection errors (ioredis reconnects by itself). Commands caught by an outage
   * reject on their own, so this is for logging; without a listener ioredis prints each error.
   */
  onConnectionError?: (error: Error) => void;
}

const DEFAULT_KEY_PREFIX = "hn:";
/** How many intents or holds one expiry script handles, so a backlog never blocks Redis long. */
const EXPIRY_BATCH = 500;
/** Records fetched per round trip while listing. */
const FETCH_BATCH = 500;

function parseReportFields(fields: Fields): ReportRow[] {
  const rows = new Map<string, ReportRow>();
  for (const [field, value] of Object.entries(fields)) {
    const separator = field.indexOf(":");
    const measure = field.slice(0, separator);
    const key = field.slice(separator + 1);
    let row = rows.get(key);
    if (!row) {
      row = { key, jobs: 0, promptTokens: 0, completionTokens: 0, charge: 0n };
      rows.set(key, row);
    }
    if (measure === "jobs") row.jobs = Number(value);
    else if (measure === "prompt") row.promptTokens = Number(value);
    else if (measure === "completion") row.completionTokens = Number(value);
    else if (measure === "charge") row.charge = BigInt(value);
  }
  return [...rows.values()];
}

export class RedisBillingStore implements BillingStore {
  readonly kind = "redis" as const;
  readonly apiKeys: ApiKeyStore;

  private constructor(
    private readonly client: Redis,
    private readonly prefix: string,
  ) {
    this.apiKeys = new RedisApiKeyStore(client, prefix);
  }

  /**
   * Connects to `target` (a `redis://` URL, a unix socket path, or ioredis options) and resolves
   * once the connection is ready. A `keyPrefix` in the ioredis options is kept, in front of the
   * store's own prefix: the scripts build keys themselves, so the store applies both.
   */
  static async connect(
    target: string | RedisOptions,
    options: RedisBillingStoreOptions = {},
  ): Promise<RedisBillingStore> {
    const connectionOptions: RedisOptions = typeof target === "string" ? {} : { ...target };
    const prefix = (connectionOptions.keyPrefix ?? "") + (options.keyPrefix ?? DEFAULT_KEY_PREFIX);
    connectionOptions.keyPrefix = undefined;
    connectionOptions.lazyConnect = true;
    const client = typeof target === "string" ? new Redis(target, connectionOptions) : new Redis(connectionOptions);
    client.on("error", options.onConnectionError ?? (() => undefined));
    try {
      await client.connect();
    } catch (error) {
      client.disconnect();
      throw error;
    }
    return new RedisBillingStore(client, prefix);
  }

  async createAccount(account: AccountRecord): Promise<void> {
    const reply = await CREATE_ACCOUNT.run(
      this.client,
      this.prefix,
      account.id,
      String(account.createdAt),
      ...accountFields(account),
    );
    if (reply === "exists") throw new Error(`account ${account.id} already exists`);
  }

  async getAccount(id: string): Promise<AccountRecord | undefined> {
    const fields = await this.client.hgetall(this.key("account", id));
    return Object.keys(fields).length === 0 ? undefined : accountFromFields(fields);
  }

  async setActiveIntent(accountId: string, intentId: string | undefined): Promise<void> {
    const reply = await SET_ACTIVE_INTENT.run(this.client, this.prefix, accountId, intentId ?? "");
    if (reply === "missing") throw new Error(`unknown account ${accountId}`);
  }

  async createIntent(intent: IntentRecord): Promise<void> {
    assertIntent(intent);
    const reply = await CREATE_INTENT.run(
      this.client,
      this.prefix,
      intent.id,
      intent.accountId,
      String(intent.createdAt),
      intent.fundingSignature ?? "",
      intent.state,
      intent.expiresAt === undefined ? "" : String(intent.expiresAt),
      ...intentFields(intent),
    );
    if (reply === "exists") throw new Error(`intent ${intent.id} already exists`);
    if (reply === "signature_used") {
      throw new Error(`funding signature ${intent.fundingSignature} is already used by another intent`);
    }
  }

  async getIntent(id: string): Promise<IntentRecord | undefined> {
    const fields = await this.client.hgetall(this.key("intent", id));
    return Object.keys(fields).length === 0 ? undefined : intentFromFields(fields);
  }

  async listIntents(accountId?: string): Promise<IntentRecord[]> {
    const index = accountId === undefined ? this.key("intents") : this.key("account-intents", accountId);
    const ids = await this.client.zrange(index, "0", "-1");
    const fields = await this.fetchHashes(ids.map((id) => this.key("intent", id)));
    return fields.map(intentFromFields);
  }

  async activateIntent(id: string, funded: bigint, fundingSignature: string): Promise<boolean> {
    assertBaseUnits(funded, "funded");
    return (await ACTIVATE_INTENT.run(this.client, this.prefix, id, funded.toString(), fundingSignature)) === 1;
  }

  async closeIntent(id: string, refundSignature: string | undefined, now: number): Promise<boolean> {
    return (await CLOSE_INTENT.run(this.client, this.prefix, id, refundSignature ?? "", String(now))) === 1;
  }

  async expireIntents(now: number): Promise<string[]> {
    return this.drain(EXPIRE_INTENTS, now);
  }

  async recordSettlement(intentId: string, payoutId: string, amount: bigint): Promise<boolean> {
    assertId(payoutId, "payout id");
    assertBaseUnits(amount, "settlement amount");
    const reply = await RECORD_SETTLEMENT.run(this.client, this.prefix, intentId, payoutId, amount.toString());
    if (reply === "missing") throw new Error(`unknown intent ${intentId}`);
    // Payouts come out of captured charges; paying more than was spent would unbalance the books.
    if (reply === "exceeds_spent") throw new RangeError(`intent ${intentId}: settling ${amount} would exceed spent`);
    // "repeat": the payout was already counted (a settlement resumed after a crash).
    return reply === "ok";
  }

  async reserve(intentId: string, jobId: string, amount: bigint, now: number, ttlMs: number): Promise<ReserveResult> {
    assertHoldRequest(jobId, amount, now, ttlMs);
    const expiresAt = now + ttlMs;
    const reply = (await RESERVE.run(
      this.client,
      this.prefix,
      intentId,
      jobId,
      amount.toString(),
      String(now),
      String(expiresAt),
    )) as string[];
    switch (reply[0]) {
      case "ok":
        return { ok: true, hold: { jobId, intentId, amount, createdAt: now, expiresAt } };
      case "existing": {
        // A retried reserve (e.g. resent after a reconnect) gets the hold it already has.
        const [, holdIntentId = "", holdAmount = "0", createdAt = "0", holdExpiresAt = "0"] = reply;
        if (holdIntentId !== intentId) throw new Error(`job ${jobId} already holds funds on another intent`);
        const hold = { jobId, intentId, amount: BigInt(holdAmount), createdAt: Number(createdAt) };
        return { ok: true, hold: { ...hold, expiresAt: Number(holdExpiresAt) } };
      }
      case "captured":
        throw new Error(`job ${jobId} was already captured`);
      case "insufficient_funds":
      case "intent_not_active":
        return { ok: false, reason: reply[0], available: BigInt(reply[1] ?? "0") };
      default:
        throw new Error(`unexpected reserve reply ${JSON.stringify(reply)}`);
    }
  }

  async capture(record: UsageRecord): Promise<CaptureResult> {
    assertUsageRecord(record);
    const day = utcDay(record.timestamp);
    const reply = (await CAPTURE.run(
      this.client,
      this.prefix,
      record.jobId,
      record.charge.toString(),
      record.intentId ?? "",
      record.accountId,
      record.nodeId ?? "",
      record.modelType,
      day,
      String(record.timestamp),
      String(record.tokenUsage.promptTokens),
      String(record.tokenUsage.completionTokens),
      ...usageFields(record, day),
    )) as string[];
    if (reply[0] === "exists") return { created: false, record: usageFromFields(fieldsFromList(reply.slice(1))) };
    const [, intentId = "", charge = "0"] = reply;
    return {
      created: true,
      record: { ...record, intentId: intentId === "" ? undefined : intentId, charge: BigInt(charge) },
    };
  }

  async release(jobId: string): Promise<boolean> {
    return (await RELEASE.run(this.client, this.prefix, jobId)) === 1;
  }

  async expireHolds(now: number): Promise<string[]> {
    return this.drain(EXPIRE_HOLDS, now);
  }

  async getHold(jobId: string): Promise<HoldRecord | undefined> {
    const fields = await this.client.hgetall(this.key("hold", jobId));
    return Object.keys(fields).length === 0 ? undefined : holdFromFields(fields);
  }

  async markVerified(jobIds: readonly string[], epoch: number): Promise<number> {
    assertCount(epoch, "epoch");
    if (jobIds.length === 0) return 0;
    const epochText = String(epoch);
    return Number(await MOVE_CHARGE_STATE.run(this.client, this.prefix, "escrowed", "verified", epochText, ...jobIds));
  }

  async markSettled(jobIds: readonly string[]): Promise<number> {
    if (jobIds.length === 0) return 0;
    return Number(await MOVE_CHARGE_STATE.run(this.client, this.prefix, "verified", "settled", "", ...jobIds));
  }

  async claimNullifier(jobId: string): Promise<boolean> {
    assertId(jobId, "job id");
    return (await CLAIM_NULLIFIER.run(this.client, this.prefix, jobId)) === 1;
  }

  async getUsage(jobId: string): Promise<UsageRecord | undefined> {
    const fields = await this.client.hgetall(this.key("record", jobId));
    return Object.keys(fields).length === 0 ? undefined : usageFromFields(fields);
  }

  async listUsage(filter: UsageFilter, limit?: number): Promise<UsageRecord[]> {
    const wanted = limit === undefined ? Number.POSITIVE_INFINITY : Math.max(0, Math.floor(limit));
    const records: UsageRecord[] = [];
    if (wanted === 0) return records;
    // Walk the most selective index; the other conditions are checked on each record.
    const index =
      filter.intentId !== undefined
        ? this.key("usage-index:intent", filter.intentId)
        : filter.nodeId !== undefined
          ? this.key("usage-index:node", filter.nodeId)
          : filter.accountId !== undefined
            ? this.key("usage-index:account", filter.accountId)
            : this.key("usage-index:all");
    const from = filter.from === undefined ? "-inf" : String(filter.from);
    const to = filter.to === undefined ? "+inf" : `(${filter.to}`;
    const ids = await this.client.zrangebyscore(index, from, to);
    for (let start = 0; start < ids.length && records.length < wanted; start += FETCH_BATCH) {
      const batch = ids.slice(start, start + FETCH_BATCH).map((id) => this.key("record", id));
      for (const fields of await this.fetchHashes(batch)) {
        const record = usageFromFields(fields);
        if (filter.accountId !== undefined && record.accountId !== filter.accountId) continue;
        if (filter.intentId !== undefined && record.intentId !== filter.intentId) continue;
        if (filter.nodeId !== undefined && record.nodeId !== filter.nodeId) continue;
        records.push(record);
        if (records.length >= wanted) break;
      }
    }
    return records;
  }

  async report(by: ReportDimension, filter: UsageFilter): Promise<ReportRow[]> {
    const onlyAccount =
      filter.intentId === undefined &&
      filter.nodeId === undefined &&
      filter.from === undefined &&
      filter.to === undefined;
    // Epochs are assigned after capture, so only the other dimensions have running totals.
    if (by === "epoch" || !onlyAccount) return aggregateRecords(await this.listUsage(filter), by);
    const totals =
      filter.accountId === undefined ? this.key("report", by) : this.key(`report:${by}:account`, filter.accountId);
    return sortReportRows(parseReportFields(await this.client.hgetall(totals)), by);
  }

  async close(): Promise<void> {
    if (this.client.status === "end") return;
    try {
      await this.client.quit();
    } catch {
      // Already closed or unreachable: nothing is left to flush either way.
      this.client.disconnect();
    }
  }

  private key(kind: string, id?: string): string {
    return id === undefined ? `${this.prefix}${kind}` : `${this.prefix}${kind}:${id}`;
  }

  /** HGETALL of many keys in one round trip, skipping keys that no longer exist. */
  private async fetchHashes(keys: readonly string[]): Promise<Fields[]> {
    if (keys.length === 0) return [];
    const pipeline = this.client.pipeline();
    for (const key of keys) pipeline.hgetall(key);
    const replies = (await pipeline.exec()) ?? [];
    const hashes: Fields[] = [];
    for (const [error, fields] of replies) {
      if (error) throw error;
      const hash = fields as Fields;
      if (Object.keys(hash).length > 0) hashes.push(hash);
    }
    return hashes;
  }

  /** Runs an expiry script batch by batch until a batch comes back short. */
  private async drain(script: typeof EXPIRE_HOLDS, now: number): Promise<string[]> {
    const done: string[] = [];
    for (;;) {
      const reply = (await script.run(this.client, this.prefix, String(now), String(EXPIRY_BATCH))) as string[];
      const [examined = "0", ...ids] = reply;
      done.push(...ids);
      if (Number(examined) < EXPIRY_BATCH) return done;
    }
  }
}
