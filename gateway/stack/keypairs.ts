/**
 * Keys a gateway must keep across restarts (its batch-signing key, which oracles trust; the
 * in-process oracle's key; the treasury wallet), kept as Solana keypair files in the data
 * directory and created on first use, owner-only.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import {
  generateKeypair,
  keypairFileContents,
  readKeypairFile,
  type WalletKeypair,
} from "../../billing/receipts/ed25519.ts";

export function loadOrCreateKeypair(path: string): WalletKeypair {
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, keypairFileContents(generateKeypair()), { mode: 0o600, flag: "wx" });
  }
  return readKeypairFile(path);
}
