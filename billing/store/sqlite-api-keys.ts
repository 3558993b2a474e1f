/**
 * API keys in the SQLite billing database: only the sha256 of a key is stored, bound to its
 * account; the plain key leaves `create` once and is never written anywhere.
 */
import { randomUUID } from "node:crypto";
import type Database from "better-sqlite3";
import { API_KEY_PREFIX, type ApiKeyRecord, type ApiKeyStore, type CreatedApiKey } from "../api-keys.ts";
import { generateSecret, hashSecret, secretHint } from "../secrets.ts";

interface ApiKeyRow {
  id: string;
  account_id: string;
  label: string;
  hint: string;
  key_hash: string;
  created_at: bigint;
  revoked_at: bigint | null;
}

function fromRow(row: ApiKeyRow): ApiKeyRecord {
  return {
    id: row.id,
    accountId: row.account_id,
    label: row.label,
    hint: row.hint,
    keyHash: row.key_hash,
    createdAt: Number(row.created_at),
    revokedAt: row.revoked_at === null ? undefined : Number(row.revoked_at),
  };
}

export class SqliteApiKeyStore implements ApiKeyStore {
  private readonly liveByHash: Database.Statement<[string], ApiKeyRow>;
  private readonly insert: Database.Statement<[ApiKeyRow]>;
  private readonly revokeById: Database.Statement<[bigint, string]>;
  private readonly listAll: Database.Statement<[], ApiKeyRow>;
  private readonly listByAccount: Database.Statement<[string], ApiKeyRow>;
  private readonly importKey: (plainKey: string, accountId: string, label: string) => ApiKeyRecord;

  constructor(database: Database.Database) {
    this.liveByHash = database.prepare("SELECT * FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL");
    this.insert = database.prepare(
      `INSERT INTO api_keys (id, account_id, label, hint, key_hash, created_at, revoked_at)
       VALUES (@id, @account_id, @label, @hint, @key_hash, @created_at, @revoked_at)`,
    );
    this.revokeById = database.prepare("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL");
    this.listAll = database.prepare("SELECT * FROM api_keys ORDER BY created_at, id");
    this.listByAccount = database.prepare("SELECT * FROM api_keys WHERE account_id = ? ORDER BY created_at, id");
    const importTransaction = database.transaction((plainKey: string, accountId: string, label: string) => {
      const keyHash = hashSecret(plainKey);
      // Importing a live key again (the demo key at every boot) keeps the existing record.
      const existing = this.liveByHash.get(keyHash);
      if (existing) return fromRow(existing);
      const row: ApiKeyRow = {
        id: `key_${randomUUID()}`,
        account_id: accountId,
        label,
        hint: secretHint(plainKey),
        key_hash: keyHash,
        created_at: BigInt(Date.now()),
        revoked_at: null,
      };
      this.insert.run(row);
      return fromRow(row);
    });
    this.importKey = (plainKey, accountId, label) => importTransaction.immediate(plainKey, accountId, label);
  }

  async create(accountId: string, label: string): Promise<CreatedApiKey> {
    const key = generateSecret(API_KEY_PREFIX);
    return { key, record: this.importKey(key, accountId, label) };
  }

  async import(plainKey: string, accountId: string, label: string): Promise<ApiKeyRecord> {
    return this.importKey(plainKey, accountId, label);
  }

  async verify(plainKey: string): Promise<ApiKeyRecord | undefined> {
    const row = this.liveByHash.get(hashSecret(plainKey));
    return row === undefined ? undefined : fromRow(row);
  }

  async revoke(id: string): Promise<boolean> {
    return this.revokeById.run(BigInt(Date.now()), id).changes > 0;
  }

  async list(accountId?: string): Promise<ApiKeyRecord[]> {
    const rows = accountId === undefined ? this.listAll.all() : this.listByAccount.all(accountId);
    return rows.map(fromRow);
  }
}
