/**
 * The runner's receipt: its signed statement of one job it served. The oracle verifies these
 * exact bytes later, so the canonical form is fixed here and nowhere else.
 */
import { createHash } from "node:crypto";
import { encodeSignature, verifySignature, type WalletKeypair } from "./ed25519.ts";

export const RECEIPT_VERSION = 1;

export interface Receipt {
  version: number;
  jobId: string;
  runnerId: string;
  /** Base58 wallet address of the runner: the signer. */
  wallet: string;
  /** Catalog model id. */
  model: string;
  promptTokens: number;
  completionTokens: number;
  /** Hex sha256 of the output text (all choices, in index order). */
  outputSha256: string;
  /** ms since epoch. */
  startedAt: number;
  finishedAt: number;
  /** "completed" | "cancelled" | "failed" */
  outcome: ReceiptOutcome;
}

export type ReceiptOutcome = "completed" | "cancelled" | "failed";

export interface SignedReceipt {
  receipt: Receipt;
  /** Base58 ed25519 signature by `receipt.wallet` over `canonicalReceiptBytes(receipt)`. */
  signature: string;
}

const RECEIPT_FIELDS = [
  "version",
  "jobId",
  "runnerId",
  "wallet",
  "model",
  "promptTokens",
  "completionTokens",
  "outputSha256",
  "startedAt",
  "finishedAt",
  "outcome",
] as const satisfies readonly (keyof Receipt)[];

/** Domain-separated, field-ordered JSON: the same receipt always gives the same bytes. */
export function canonicalReceiptBytes(receipt: Receipt): Uint8Array {
  const ordered = RECEIPT_FIELDS.map((field) => [field, receipt[field]]);
  return new TextEncoder().encode(`hypernode-receipt:${JSON.stringify(ordered)}`);
}

export function signReceipt(receipt: Receipt, wallet: WalletKeypair): SignedReceipt {
  if (receipt.wallet !== wallet.address) throw new Error("a receipt must name the wallet that signs it");
  return { receipt, signature: encodeSignature(wallet.sign(canonicalReceiptBytes(receipt))) };
}

export function verifyReceipt(signed: SignedReceipt): boolean {
  return verifySignature(canonicalReceiptBytes(signed.receipt), signed.signature, signed.receipt.wallet);
}

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
