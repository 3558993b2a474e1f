/**
 * API keys in Redis: a hash per key (sha256 of the key, never the key), a pointer from each live
 * key's hash to its id for `verify`, and per-account indexes for `list`.
 */
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { API_KEY_PREFIX, type ApiKeyRecord, type ApiKeyStore, type CreatedApiKey } from "../api-keys.ts";
import { generateSecret, hashSecret, secretHint } from "../secrets.ts";
import { apiKeyFields, apiKeyFromFields } from "./redis-codec.ts";
import { IMPORT_API_KEY, REVOKE_API_KEY } from "./redis-lua.ts";

export class RedisApiKeyStore implements ApiKeyStore {
  constructor(
    private readonly client: Redis,
    private readonly prefix: string,
  ) {}

  async create(accountId: string, label: string): Promise<CreatedApiKey> {
    const key = generateSecret(API_KEY_PREFIX);
    return { key, record: await this.import(key, accountId, label) };
  }

  async import(plainKey: string, accountId: string, label: string): Promise<ApiKeyRecord> {
    const record: ApiKeyRecord = {
      id: `key_${randomUUID()}`,
      accountId,
      label,
      hint: secretHint(plainKey),
      keyHash: hashSecret(plainKey),
      createdAt: Date.now(),
      revokedAt: undefined,
    };
    const reply = (await IMPORT_API_KEY.run(
      this.client,
      this.prefix,
      record.keyHash,
      record.id,
      accountId,
      String(record.createdAt),
      ...apiKeyFields(record),
    )) as [string, string];
    // Importing a live key again (the demo key at every boot) keeps the existing record.
    if (reply[0] === "created") return record;
    const existing = await this.get(reply[1]);
    if (existing === undefined) throw new Error(`API key ${reply[1]} vanished while importing`);
    return existing;
  }

  async verify(plainKey: string): Promise<ApiKeyRecord | undefined> {
    const id = await this.client.get(`${this.prefix}apikey-hash:${hashSecret(plainKey)}`);
    if (id === null) return undefined;
    const record = await this.get(id);
    return record?.revokedAt === undefined ? record : undefined;
  }

  async revoke(id: string): Promise<boolean> {
    return (await REVOKE_API_KEY.run(this.client, this.prefix, id, String(Date.now()))) === 1;
  }

  async list(accountId?: string): Promise<ApiKeyRecord[]> {
    const index = accountId === undefined ? "apikeys" : `account-apikeys:${accountId}`;
    const ids = await this.client.zrange(`${this.prefix}${index}`, "0", "-1");
    const pipeline = this.client.pipeline();
    for (const id of ids) pipeline.hgetall(`${this.prefix}apikey:${id}`);
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([error, fields]) => {
      if (error) throw error;
      return apiKeyFromFields(fields as Record<string, string>);
    });
  }

  private async get(id: string): Promise<ApiKeyRecord | undefined> {
    const fields = await this.client.hgetall(`${this.prefix}apikey:${id}`);
    return Object.keys(fields).length === 0 ? undefined : apiKeyFromFields(fields);
  }
}
