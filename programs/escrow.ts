import { ACCOUNT_SIZE, createInitializeAccount3Instruction, TOKEN_PROGRAM_ID } from "@solana/spl-token";
import { type Keypair, PublicKey, SystemProgram, type TransactionInstruction } from "@solana/web3.js";
import { type Chain, type ChainAccount, ChainError } from "./chain.ts";
import { sendInstructions } from "./submit.ts";
import { readTokenAccount } from "./token-state.ts";

/** `createWithSeed` seeds are at most 32 bytes. */
export const MAX_INTENT_ID_LENGTH = 32;

/** Throws unless `intentId` can seed an address and sit unambiguously in a memo. */
export function assertValidIntentId(intentId: string): void {
  if (intentId.length === 0) throw new RangeError("intent id must not be empty");
  if (Buffer.byteLength(intentId, "utf8") > MAX_INTENT_ID_LENGTH) {
    throw new RangeError(`intent id "${intentId}" is longer than ${MAX_INTENT_ID_LENGTH} bytes`);
  }
  // Whitespace or control characters would make the memo and the seed easy to spoof visually.
  if (/[\s\p{Cc}]/u.test(intentId))
    throw new RangeError(`intent id "${intentId}" contains whitespace or control characters`);
}

/**
 * The intent's escrow token account: `createWithSeed(authority, intentId, token program)`.
 * Anyone who knows the settlement authority and the intent id can recompute and audit it.
 */
export async function deriveEscrowAddress(authority: PublicKey, intentId: string): Promise<PublicKey> {
  assertValidIntentId(intentId);
  return PublicKey.createWithSeed(authority, intentId, TOKEN_PROGRAM_ID);
}

export interface CreateEscrowOptions {
  /** Settlement authority: base of the derived address, owner of the escrow, pays rent and fee. */
  authority: Keypair;
  intentId: string;
  mint: PublicKey;
}

export interface CreatedEscrow {
  escrow: PublicKey;
  /** The creating transaction; undefined when the escrow already existed. */
  signature: string | undefined;
  created: boolean;
}

/**
 * Creates the intent's escrow token account (mint `mint`, owner `authority`), rent-exempt.
 * Idempotent: an existing escrow with the right mint and owner is returned as is; one with a
 * different mint or owner is an error. An address someone pre-funded with lamports (which would
 * make `createAccountWithSeed` fail) is allocated and assigned in place instead.
 */
export async function createEscrowAccount(chain: Chain, options: CreateEscrowOptions): Promise<CreatedEscrow> {
  const { authority, intentId, mint } = options;
  const escrow = await deriveEscrowAddress(authority.publicKey, intentId);
  const existing = await chain.getAccount(escrow);
  if (existing?.owner.equals(TOKEN_PROGRAM_ID)) {
    assertEscrowMatches(escrow, existing, mint, authority.publicKey);
    return { escrow, signature: undefined, created: false };
  }
  if (existing !== undefined && !existing.owner.equals(SystemProgram.programId)) {
    throw new Error(`escrow address ${escrow.toBase58()} is held by program ${existing.owner.toBase58()}`);
  }

  const rent = await chain.minimumBalanceForRentExemption(ACCOUNT_SIZE);
  const base = authority.publicKey;
  const seedFields = { basePubkey: base, seed: intentId, programId: TOKEN_PROGRAM_ID };
  const instructions: TransactionInstruction[] =
    existing === undefined
      ? [
          SystemProgram.createAccountWithSeed({
            fromPubkey: base,
            newAccountPubkey: escrow,
            lamports: Number(rent),
            space: ACCOUNT_SIZE,
            ...seedFields,
          }),
        ]
      : [
          ...(existing.lamports < rent
            ? [SystemProgram.transfer({ fromPubkey: base, toPubkey: escrow, lamports: rent - existing.lamports })]
            : []),
          SystemProgram.allocate({ accountPubkey: escrow, space: ACCOUNT_SIZE, ...seedFields }),
          SystemProgram.assign({ accountPubkey: escrow, ...seedFields }),
        ];
  instructions.push(createInitializeAccount3Instruction(escrow, mint, authority.publicKey));
  try {
    const signature = await sendInstructions(chain, instructions, authority);
    return { escrow, signature, created: true };
  } catch (error) {
    // Another replica may have created it between our read and our send: that is success too.
    const raced = await chain.getAccount(escrow);
    if (!(error instanceof ChainError) || !raced?.owner.equals(TOKEN_PROGRAM_ID)) throw error;
    assertEscrowMatches(escrow, raced, mint, authority.publicKey);
    return { escrow, signature: undefined, created: false };
  }
}

function assertEscrowMatches(escrow: PublicKey, account: ChainAccount, mint: PublicKey, authority: PublicKey): void {
  const token = readTokenAccount(escrow, account);
  if (token === undefined) throw new Error(`escrow ${escrow.toBase58()} exists but is not a token account`);
  if (!token.mint.equals(mint)) {
    throw new Error(`escrow ${escrow.toBase58()} exists for mint ${token.mint.toBase58()}, not ${mint.toBase58()}`);
  }
  if (!token.owner.equals(authority)) {
    throw new Error(`escrow ${escrow.toBase58()} is owned by ${token.owner.toBase58()}, not the authority`);
  }
}
