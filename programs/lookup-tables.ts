import { TOKEN_PROGRAM_ID } from "@solana/spl-token";
import {
  AddressLookupTableAccount,
  AddressLookupTableProgram,
  type Keypair,
  type PublicKey,
  SYSVAR_SLOT_HASHES_PUBKEY,
  type TransactionInstruction,
} from "@solana/web3.js";
import { type Chain, ChainError } from "./chain.ts";
import { sendInstructions } from "./submit.ts";
import { associatedTokenAddress } from "./token-accounts.ts";
import { legacyTransactionSize, PACKET_DATA_SIZE } from "./transaction-message.ts";

/**
 * Addresses per `extendLookupTable` instruction. One extension is 250 + 32·n bytes on the wire
 * (the create instruction adds ~25), so 30 is the ceiling; 28 leaves room for either.
 */
export const ADDRESSES_PER_EXTENSION = 28;

/** A table holds at most 256 addresses (its indexes are one byte). */
export const MAX_LOOKUP_TABLE_ADDRESSES = 256;

/** Reads the current slot. `LocalChain` has it; an RPC adapter answers `getSlot`. */
export interface SlotClock {
  slot(): Promise<number>;
}

/**
 * Moves a local chain forward. bankrun never advances slots by itself, so waiting would never
 * end there: pass `LocalChain.context` (its `warpToSlot` jumps the working bank ahead).
 */
export interface SlotWarp {
  warpToSlot(slot: bigint): void;
}

export interface LookupTableActivation {
  clock: SlotClock;
  /** Only for a local chain; on a real cluster leave it out and slots pass by themselves. */
  warp?: SlotWarp;
  /** Pause between slot polls on a real cluster (ms). Default 200 (half a slot). */
  pollIntervalMs?: number;
  /** Give up waiting after this long (ms). Default 30 s. */
  timeoutMs?: number;
}

export interface CreatedLookupTable {
  table: AddressLookupTableAccount;
  signatures: string[];
}

/** Every address a payout batch from `escrow` to `owners` references, except the signer and programs. */
export function payoutLookupTableAddresses(mint: PublicKey, escrow: PublicKey, owners: PublicKey[]): PublicKey[] {
  const candidates = [escrow, mint, TOKEN_PROGRAM_ID, ...owners.map((owner) => associatedTokenAddress(mint, owner))];
  const unique = new Map(candidates.map((address) => [address.toBase58(), address]));
  return [...unique.values()];
}

/**
 * The newest slot in the SlotHashes sysvar: the only slots `createLookupTable` accepts as its
 * `recentSlot`. The current slot itself is not in it yet (a bank lists its ancestors), which is
 * why `slot()` alone is not enough, and after a local warp `slot() - 1` is not in it either.
 */
export async function newestHashedSlot(chain: Chain): Promise<number> {
  const account = await chain.getAccount(SYSVAR_SLOT_HASHES_PUBKEY);
  // Layout: u64 entry count, then (u64 slot, 32-byte hash) entries, newest first.
  if (account === undefined || account.data.length < 16) throw new ChainError("the SlotHashes sysvar is unreadable");
  const view = new DataView(account.data.buffer, account.data.byteOffset, account.data.byteLength);
  if (view.getBigUint64(0, true) === 0n) throw new ChainError("the SlotHashes sysvar is empty: no recent slot yet");
  return Number(view.getBigUint64(8, true));
}

/** Reads a lookup table from the chain, or throws when the address holds none. */
export async function readLookupTable(chain: Chain, address: PublicKey): Promise<AddressLookupTableAccount> {
  const account = await chain.getAccount(address);
  if (account === undefined) throw new ChainError(`address lookup table ${address.toBase58()} does not exist`);
  if (!account.owner.equals(AddressLookupTableProgram.programId)) {
    throw new ChainError(`${address.toBase58()} is not an address lookup table`);
  }
  return new AddressLookupTableAccount({ key: address, state: AddressLookupTableAccount.deserialize(account.data) });
}

/**
 * Waits until the chain is past `slot`: addresses appended in a slot only resolve from the next
 * one on. A local chain is warped one slot ahead; a real cluster is polled until it moves on.
 */
export async function waitForSlotAfter(slot: number, activation: LookupTableActivation): Promise<void> {
  const { clock, warp } = activation;
  const deadline = Date.now() + (activation.timeoutMs ?? 30_000);
  for (;;) {
    const current = await clock.slot();
    if (current > slot) return;
    if (warp !== undefined) {
      warp.warpToSlot(BigInt(slot + 1));
      continue;
    }
    if (Date.now() >= deadline) throw new ChainError(`the chain did not move past slot ${slot} in time`);
    await new Promise((resolve) => setTimeout(resolve, activation.pollIntervalMs ?? 200));
  }
}

/** Splits addresses into `extendLookupTable` instructions of at most `ADDRESSES_PER_EXTENSION`. */
export function extensionInstructions(
  table: PublicKey,
  authority: PublicKey,
  addresses: PublicKey[],
): TransactionInstruction[] {
  const instructions: TransactionInstruction[] = [];
  for (let start = 0; start < addresses.length; start += ADDRESSES_PER_EXTENSION) {
    instructions.push(
      AddressLookupTableProgram.extendLookupTable({
        lookupTable: table,
        authority,
        payer: authority,
        addresses: addresses.slice(start, start + ADDRESSES_PER_EXTENSION),
      }),
    );
  }
  return instructions;
}

/**
 * Appends the addresses the table lacks (one transaction per extension), waits until they are
 * usable and returns the table as the chain now holds it.
 */
export async function extendLookupTable(
  chain: Chain,
  authority: Keypair,
  table: PublicKey,
  addresses: PublicKey[],
  activation: LookupTableActivation,
): Promise<CreatedLookupTable> {
  const current = await readLookupTable(chain, table);
  const present = new Set(current.state.addresses.map((address) => address.toBase58()));
  const missing = [...new Map(addresses.map((address) => [address.toBase58(), address])).values()].filter(
    (address) => !present.has(address.toBase58()),
  );
  if (present.size + missing.length > MAX_LOOKUP_TABLE_ADDRESSES) {
    throw new RangeError(
      `table ${table.toBase58()} would need ${present.size + missing.length} addresses, over ${MAX_LOOKUP_TABLE_ADDRESSES}`,
    );
  }
  const signatures: string[] = [];
  for (const instruction of extensionInstructions(table, authority.publicKey, missing)) {
    signatures.push(await sendInstructions(chain, [instruction], authority));
  }
  const extended = await readLookupTable(chain, table);
  await waitForSlotAfter(Number(extended.state.lastExtendedSlot), activation);
  return { table: extended, signatures };
}

/**
 * Creates a lookup table owned and paid for by `authority`, fills it with `addresses` and waits
 * until every one of them resolves. The first extension rides in the creating transaction.
 */
export async function createLookupTable(
  chain: Chain,
  authority: Keypair,
  addresses: PublicKey[],
  activation: LookupTableActivation,
): Promise<CreatedLookupTable> {
  const unique = [...new Map(addresses.map((address) => [address.toBase58(), address])).values()];
  if (unique.length === 0) throw new RangeError("a lookup table needs at least one address");
  if (unique.length > MAX_LOOKUP_TABLE_ADDRESSES) {
    throw new RangeError(`${unique.length} addresses exceed a lookup table's ${MAX_LOOKUP_TABLE_ADDRESSES}`);
  }
  const [create, table] = AddressLookupTableProgram.createLookupTable({
    authority: authority.publicKey,
    payer: authority.publicKey,
    recentSlot: await newestHashedSlot(chain),
  });
  const [first, ...rest] = extensionInstructions(table, authority.publicKey, unique);
  const opening = first === undefined ? [create] : [create, first];
  if (legacyTransactionSize(opening, authority.publicKey) > PACKET_DATA_SIZE) {
    throw new RangeError("creating the lookup table does not fit one transaction");
  }
  const signatures = [await sendInstructions(chain, opening, authority)];
  for (const instruction of rest) signatures.push(await sendInstructions(chain, [instruction], authority));
  const created = await readLookupTable(chain, table);
  await waitForSlotAfter(Number(created.state.lastExtendedSlot), activation);
  return { table: created, signatures };
}

/** A table holding everything a payout batch from `escrow` to `owners` needs, ready to use. */
export async function createPayoutLookupTable(
  chain: Chain,
  authority: Keypair,
  batch: { mint: PublicKey; escrow: PublicKey; owners: PublicKey[] },
  activation: LookupTableActivation,
): Promise<CreatedLookupTable> {
  return createLookupTable(
    chain,
    authority,
    payoutLookupTableAddresses(batch.mint, batch.escrow, batch.owners),
    activation,
  );
}

/**
 * One payout lookup table per batch, created on first use and handed back after (re-signing an
 * expired batch reuses its table). Tables outlive the process: closing them is left to operators.
 */
export class PayoutLookupTables {
  private readonly tables = new Map<string, AddressLookupTableAccount>();

  constructor(
    private readonly chain: Chain,
    private readonly authority: Keypair,
    private readonly activation: LookupTableActivation,
  ) {}

  async forBatch(
    batchKey: string,
    batch: { mint: PublicKey; escrow: PublicKey; owners: PublicKey[] },
  ): Promise<AddressLookupTableAccount> {
    const existing = this.tables.get(batchKey);
    if (existing !== undefined) return existing;
    const { table } = await createPayoutLookupTable(this.chain, this.authority, batch, this.activation);
    this.tables.set(batchKey, table);
    return table;
  }
}
