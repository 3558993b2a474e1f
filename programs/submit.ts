import { type Keypair, Transaction, type TransactionInstruction } from "@solana/web3.js";
import type { Chain } from "./chain.ts";

/** Builds a legacy transaction on a fresh blockhash, signs it with `feePayer` and `signers`, sends it. */
export async function sendInstructions(
  chain: Chain,
  instructions: TransactionInstruction[],
  feePayer: Keypair,
  signers: Keypair[] = [],
): Promise<string> {
  const { blockhash, lastValidBlockHeight } = await chain.latestBlockhash();
  const transaction = new Transaction({ feePayer: feePayer.publicKey, blockhash, lastValidBlockHeight });
  transaction.add(...instructions);
  // A signer listed twice (e.g. fee payer also the mint authority) would make sign() throw.
  const unique = new Map([feePayer, ...signers].map((signer) => [signer.publicKey.toBase58(), signer]));
  transaction.sign(...unique.values());
  return chain.send(transaction);
}
