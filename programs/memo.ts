import { PublicKey, TransactionInstruction } from "@solana/web3.js";

/** SPL Memo v2: logs UTF-8 text and checks that every listed account signed. */
export const MEMO_PROGRAM_ID = new PublicKey("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr");

export const INTENT_MEMO_PREFIX = "hn:intent:";

/** The memo a funding transaction carries; ties the deposit to one intent. */
export function intentMemo(intentId: string): string {
  return `${INTENT_MEMO_PREFIX}${intentId}`;
}

/** The memo a payout batch carries: `hn:<epoch>:<root hex>`, so each payout traces to its Merkle root. */
export function payoutMemo(epoch: number | bigint, rootHex: string): string {
  if (!/^[0-9a-f]+$/i.test(rootHex)) throw new RangeError(`batch root must be hex, got "${rootHex}"`);
  if (BigInt(epoch) < 0n) throw new RangeError(`epoch must be non-negative, got ${epoch}`);
  return `hn:${epoch}:${rootHex.toLowerCase()}`;
}

export function createMemoInstruction(text: string, signers: PublicKey[] = []): TransactionInstruction {
  return new TransactionInstruction({
    programId: MEMO_PROGRAM_ID,
    keys: signers.map((signer) => ({ pubkey: signer, isSigner: true, isWritable: false })),
    data: Buffer.from(text, "utf8"),
  });
}

/** The memo text of an instruction, or undefined when it is not a Memo v2 instruction. */
export function readMemo(instruction: TransactionInstruction): string | undefined {
  if (!instruction.programId.equals(MEMO_PROGRAM_ID)) return undefined;
  return instruction.data.toString("utf8");
}
