/**
 * A usage proof: the oracle's signed statement that one record of one batch was verified and may
 * be paid. Settlement pays only against these, and anyone holding the oracle's address can
 * check one offline.
 */
import { encodeSignature, verifySignature, type WalletKeypair } from "../receipts/ed25519.ts";

export const USAGE_PROOF_DOMAIN = "hypernode-usage-proof:v1:";

export interface UsageProofBody {
  jobId: string;
  /** Hex Merkle leaf of the record: binds the proof to the exact record bytes. */
  recordLeaf: string;
  /** Hex root of the batch the record was proven in. */
  batchRoot: string;
  epoch: number;
  /** Base units to pay for this job. */
  charge: bigint;
  nodeId: string;
  /** Base58 wallet that signed the runner's receipt: where settlement pays the runner's share. */
  runnerWallet: string;
  intentId: string;
  verificationId: string;
}

export interface UsageProof extends UsageProofBody {
  /** Base58 ed25519 signature over `canonicalUsageProofBytes`. */
  oracleSignature: string;
  /** Base58 oracle address. */
  oraclePublicKey: string;
}

export function canonicalUsageProofBytes(body: UsageProofBody): Buffer {
  const fields = [
    body.jobId,
    body.recordLeaf,
    body.batchRoot,
    body.epoch,
    body.charge.toString(),
    body.nodeId,
    body.runnerWallet,
    body.intentId,
    body.verificationId,
  ];
  return Buffer.from(`${USAGE_PROOF_DOMAIN}${JSON.stringify(fields)}`, "utf8");
}

export function signUsageProof(body: UsageProofBody, oracleKeypair: WalletKeypair): UsageProof {
  return {
    ...body,
    oracleSignature: encodeSignature(oracleKeypair.sign(canonicalUsageProofBytes(body))),
    oraclePublicKey: oracleKeypair.address,
  };
}

/**
 * Checks the signature; pass `expectedOracle` (the oracle's known address) or a proof signed by
 * any key would pass, since the proof names its own signer.
 */
export function verifyUsageProof(proof: UsageProof, expectedOracle?: string): boolean {
  if (expectedOracle !== undefined && proof.oraclePublicKey !== expectedOracle) return false;
  if (typeof proof.charge !== "bigint" || !Number.isSafeInteger(proof.epoch)) return false;
  return verifySignature(canonicalUsageProofBytes(proof), proof.oracleSignature, proof.oraclePublicKey);
}
