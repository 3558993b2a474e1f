/**
 * API keys: each bound to an account. Only the hash is kept; `create` returns the plain key once.
 */
import { randomUUID } from "node:crypto";
import { generateSecret, hashSecret, secretHint } from "./secrets.ts";

export const API_KEY_PREFIX = "sk-hn-";

export interface ApiKeyRecord {
  id: string;
  accountId: string;
  label: string;
  hint: string;
  keyHash: string;
  createdAt: number;
  revokedAt: number | undefined;
}

export interface CreatedApiKey {
  /** The plain key: shown to the user once, never stored. */
  key: string;
  record: ApiKeyRecord;
}

export interface ApiKeyStore {
  create(accountId: string, label: string): Promise<CreatedApiKey>;
  /** Registers a key whose plain value is chosen by the operator (the demo key). */
  import(plainKey: string, accountId: string, label: string): Promise<ApiKeyRecord>;
  /** The active record for a plain key, or undefined when unknown or revoked. */
  verify(plainKey: string): Promise<ApiKeyRecord | undefined>;
  revoke(id: string): Promise<boolean>;
  list(accountId?: string): Promise<ApiKeyRecord[]>;
}

export class InMemoryApiKeyStore implements ApiKeyStore {
  private readonly byHash = new Map<string, ApiKeyRecord>();

  async create(accountId: string, label: string): Promise<CreatedApiKey> {
    const key = generateSecret(API_KEY_PREFIX);
    return { key, record: await this.import(key, accountId, label) };
  }

  async import(plainKey: string, accountId: string, label: string): Promise<ApiKeyRecord> {
    const keyHash = hashSecret(plainKey);
    const existing = this.byHash.get(keyHash);
    if (existing && existing.revokedAt === undefined) return existing;
    const record: ApiKeyRecord = {
      id: `key_${randomUUID()}`,
      accountId,
      label,
      hint: secretHint(plainKey),
      keyHash,
      createdAt: Date.now(),
      revokedAt: undefined,
    };
    this.byHash.set(keyHash, record);
    return record;
  }

  async verify(plainKey: string): Promise<ApiKeyRecord | undefined> {
    const record = this.byHash.get(hashSecret(plainKey));
    return record && record.revokedAt === undefined ? record : undefined;
  }

  async revoke(id: string): Promise<boolean> {
    for (const record of this.byHash.values()) {
      if (record.id === id && record.revokedAt === undefined) {
        record.revokedAt = Date.now();
        return true;
      }
    }
    return false;
  }

  async list(accountId?: string): Promise<ApiKeyRecord[]> {
    return [...this.byHash.values()].filter((record) => accountId === undefined || record.accountId === accountId);
  }
}
