/**
 * Bearer secrets (API keys, node tokens): generated with enough entropy, stored only as
 * sha256 hashes, shown in plain once. A hash lookup needs no constant-time compare: an
 * attacker learns nothing useful from timing on a hash of a secret they do not know.
 */
import { createHash, randomBytes } from "node:crypto";

export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** `prefix` + 32 url-safe random characters (192 bits). */
export function generateSecret(prefix: string): string {
  return `${prefix}${randomBytes(24).toString("base64url")}`;
}

/** Enough of a secret to recognise it in a list, never enough to use it. */
export function secretHint(secret: string): string {
  return `${secret.slice(0, 6)}…${secret.slice(-4)}`;
}
