import { createPublicKey, verify } from "node:crypto";
import {
  type LoadedAddresses,
  type PublicKey,
  Transaction,
  TransactionInstruction,
  type VersionedMessage,
  VersionedTransaction,
} from "@solana/web3.js";

/** Largest serialized transaction a validator accepts (IPv6 MTU minus headers). */
export const PACKET_DATA_SIZE = 1232;

export interface DecompiledMessage {
  version: "legacy" | 0;
  feePayer: PublicKey;
  accountKeys: PublicKey[];
  signers: PublicKey[];
  instructions: TransactionInstruction[];
}

/** One representation for both kinds, so recording and verifying have a single code path. */
export function toVersionedTransaction(transaction: Transaction | VersionedTransaction): VersionedTransaction {
  if ("version" in transaction) return transaction;
  return VersionedTransaction.deserialize(
    transaction.serialize({ requireAllSignatures: false, verifySignatures: false }),
  );
}

export function messageVersion(message: VersionedMessage): "legacy" | 0 {
  const version = message.version;
  if (version === "legacy" || version === 0) return version;
  throw new Error(`unsupported transaction message version ${version}`);
}

/**
 * Turns a compiled message back into instructions with full account metas. `loadedAddresses`
 * are the lookup-table addresses the runtime loaded (required for v0 messages that use tables).
 */
export function decompileMessage(message: VersionedMessage, loadedAddresses?: LoadedAddresses): DecompiledMessage {
  const version = messageVersion(message);
  const keys =
    message.version === 0
      ? message.getAccountKeys({ accountKeysFromLookups: loadedAddresses ?? { writable: [], readonly: [] } })
      : message.getAccountKeys();
  const accountKeys = keys.keySegments().flat();
  const keyAt = (index: number): PublicKey => {
    const key = keys.get(index);
    if (key === undefined) throw new Error(`message references account index ${index} it does not have`);
    return key;
  };
  const instructions = message.compiledInstructions.map(
    (compiled) =>
      new TransactionInstruction({
        programId: keyAt(compiled.programIdIndex),
        keys: compiled.accountKeyIndexes.map((index) => ({
          pubkey: keyAt(index),
          isSigner: message.isAccountSigner(index),
          isWritable: message.isAccountWritable(index),
        })),
        data: Buffer.from(compiled.data),
      }),
  );
  const signers = accountKeys.slice(0, message.header.numRequiredSignatures);
  return { version, feePayer: keyAt(0), accountKeys, signers, instructions };
}

/** Raw ed25519 public key wrapped as a node KeyObject (JWK is the only raw import node offers). */
function ed25519Key(publicKey: PublicKey) {
  return createPublicKey({
    key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(publicKey.toBytes()).toString("base64url") },
    format: "jwk",
  });
}

/**
 * Checks every required signature against the message. Returns why it is invalid, or undefined.
 * bankrun skips signature verification, so the local chain must do it to refuse forgeries.
 */
export function signatureProblem(transaction: VersionedTransaction): string | undefined {
  const message = transaction.message;
  const required = message.header.numRequiredSignatures;
  if (transaction.signatures.length !== required) {
    return `expected ${required} signatures, got ${transaction.signatures.length}`;
  }
  const payload = message.serialize();
  for (let index = 0; index < required; index += 1) {
    const signature = transaction.signatures[index];
    const signer = message.staticAccountKeys[index];
    if (signature === undefined || signer === undefined) return `signature ${index} is missing`;
    if (signature.every((byte) => byte === 0)) return `missing signature for ${signer.toBase58()}`;
    if (!verify(null, payload, ed25519Key(signer), signature)) {
      return `invalid signature for ${signer.toBase58()}`;
    }
  }
  return undefined;
}

/** Bytes a legacy transaction with these instructions takes on the wire once signed. */
export function legacyTransactionSize(instructions: TransactionInstruction[], feePayer: PublicKey): number {
  // The blockhash value does not change the size; any 32-byte one will do.
  const transaction = new Transaction({ feePayer, recentBlockhash: feePayer.toBase58() }).add(...instructions);
  const message = transaction.compileMessage();
  const signatureCount = message.header.numRequiredSignatures;
  // Signature count is a compact-u16: one byte below 128.
  return (signatureCount < 128 ? 1 : 2) + 64 * signatureCount + message.serialize().length;
}
