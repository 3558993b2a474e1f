/**
 * API keys: each bound to an account. Only the hash is kept; `create` returns the plain key once.
 */

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
