/**
 * Node tokens (`hn_…`) authenticate runner tunnels. Stored hashed; a token may be bound to one
 * wallet, in which case a runner presenting it must prove that wallet.
 */
import { randomUUID } from "node:crypto";
import { generateSecret, hashSecret, secretHint } from "../../billing/secrets.ts";

export const NODE_TOKEN_PREFIX = "hn_";

export interface NodeTokenRecord {
  id: string;
  label: string;
  hint: string;
  tokenHash: string;
  /** When set, only this wallet may connect with the token. */
  wallet: string | undefined;
  createdAt: number;
  revokedAt: number | undefined;
}

export class NodeTokenStore {
  private readonly byHash = new Map<string, NodeTokenRecord>();

  create(label: string, wallet?: string): { token: string; record: NodeTokenRecord } {
    const token = generateSecret(NODE_TOKEN_PREFIX);
    return { token, record: this.import(token, label, wallet) };
  }

  import(token: string, label: string, wallet?: string): NodeTokenRecord {
    const tokenHash = hashSecret(token);
    const record: NodeTokenRecord = {
      id: `node_${randomUUID()}`,
      label,
      hint: secretHint(token),
      tokenHash,
      wallet,
      createdAt: Date.now(),
      revokedAt: undefined,
    };
    this.byHash.set(tokenHash, record);
    return record;
  }

  verify(token: string): NodeTokenRecord | undefined {
    const record = this.byHash.get(hashSecret(token));
    return record && record.revokedAt === undefined ? record : undefined;
  }

  revoke(id: string): boolean {
    for (const record of this.byHash.values()) {
      if (record.id === id && record.revokedAt === undefined) {
        record.revokedAt = Date.now();
        return true;
      }
    }
    return false;
  }
}
