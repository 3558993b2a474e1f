/**
 * The settlement plan of one epoch: accepted usage proofs summed per (intent, runner) in exact
 * base units, split in basis points, and turned into payouts from each intent's escrow. Pure and
 * deterministic (same inputs → same plan, same payout order), so a leader that restarts mid-epoch
 * recomputes exactly what it journaled, and an auditor can recompute it from the proofs.
 *
 * Invariant (tested as a property): per intent, payouts + carried remainders after the epoch
 * = charges of the epoch + carried remainders before it, to the base unit.
 */
import { BASIS_POINTS_TOTAL, splitBasisPoints } from "../money.ts";

/** One accepted usage proof, as settlement needs it. */
export interface SettlementItem {
  jobId: string;
  intentId: string;
  /** Base58 escrow token account of the intent: every payout of the intent comes from it. */
  escrow: string;
  /** The runner that served the job (reported in `paymentSettled`). */
  nodeId: string;
  /** Base58 wallet of the runner: its identity and where it is paid. */
  runnerWallet: string;
  /** Base units of the settlement mint. */
  charge: bigint;
}

export type PayoutRole = "runner" | "treasury" | "oracle";

/** Basis points per role; they must sum to 10,000. */
export type SettlementSplit = Readonly<Record<PayoutRole, number>>;

export const DEFAULT_SETTLEMENT_SPLIT: SettlementSplit = { runner: 8000, treasury: 1000, oracle: 1000 };

export interface SettlementPayout {
  /** Deterministic and unique within the epoch: `<epoch>:<intent>:<role>:<recipient>`. */
  payoutId: string;
  epoch: number;
  intentId: string;
  escrow: string;
  /** Base58 wallet; paid into its associated token account. */
  recipient: string;
  role: PayoutRole;
  /** Base units, always > 0. */
  amount: bigint;
  /** Runners whose jobs this payout covers (the runner's own node ids; every node of the intent for fees). */
  nodeIds: string[];
}

export interface SettlementPlan {
  epoch: number;
  /** Merkle root of the epoch's batch, lowercase hex (goes into the payout memo). */
  rootHex: string;
  payouts: SettlementPayout[];
  /** Remainders to add to the next epoch's sums, by `carryKey(intent, runner wallet)`. Zero entries are omitted. */
  carried: Map<string, bigint>;
}

export interface SettlementPlanInput {
  epoch: number;
  rootHex: string;
  items: readonly SettlementItem[];
  treasuryWallet: string;
  oracleWallet: string;
  split?: SettlementSplit;
  /** The previous epoch's `carried`; keys without items this epoch are carried on unchanged. */
  previousCarried?: ReadonlyMap<string, bigint>;
}

/** Separator no intent id (no whitespace allowed) and no base58 wallet can contain. */
const KEY_SEPARATOR = " ";

/** The carry key of an (intent, runner wallet) pair. */
export function carryKey(intentId: string, runnerWallet: string): string {
  return `${intentId}${KEY_SEPARATOR}${runnerWallet}`;
}

export function parseCarryKey(key: string): { intentId: string; runnerWallet: string } {
  const at = key.indexOf(KEY_SEPARATOR);
  if (at <= 0 || at === key.length - 1) throw new RangeError(`"${key}" is not a carry key`);
  return { intentId: key.slice(0, at), runnerWallet: key.slice(at + 1) };
}

/** A 32-byte root: longer ones would break the memo length the transaction packing assumes. */
const ROOT_HEX = /^[0-9a-f]{64}$/i;

function validateSplit(split: SettlementSplit): void {
  let total = 0;
  for (const role of ["runner", "treasury", "oracle"] as const) {
    const share = split[role];
    if (!Number.isSafeInteger(share) || share < 0) {
      throw new RangeError(`${role} share must be a non-negative integer of basis points, got ${share}`);
    }
    total += share;
  }
  if (total !== BASIS_POINTS_TOTAL) {
    throw new RangeError(`settlement split must sum to ${BASIS_POINTS_TOTAL} basis points, got ${total}`);
  }
}

interface KeyTotal {
  intentId: string;
  escrow: string;
  runnerWallet: string;
  nodeIds: Set<string>;
  amount: bigint;
}

function validateItem(item: SettlementItem): void {
  if (item.charge < 0n) throw new RangeError(`job ${item.jobId} has a negative charge ${item.charge}`);
  if (item.intentId.length === 0 || /\s/.test(item.intentId)) {
    throw new RangeError(`job ${item.jobId} has an invalid intent id "${item.intentId}"`);
  }
  if (item.runnerWallet.length === 0 || /\s/.test(item.runnerWallet)) {
    throw new RangeError(`job ${item.jobId} has an invalid runner wallet "${item.runnerWallet}"`);
  }
}

/** Sums charges per (intent, runner); refuses replays and an intent with two escrows. */
function sumByKey(items: readonly SettlementItem[]): Map<string, KeyTotal> {
  const totals = new Map<string, KeyTotal>();
  const escrowOfIntent = new Map<string, string>();
  const seenJobs = new Set<string>();
  for (const item of items) {
    validateItem(item);
    // The oracle already rejects replays; refusing here too keeps one bad input from paying twice.
    if (seenJobs.has(item.jobId)) throw new RangeError(`job ${item.jobId} appears twice in the epoch`);
    seenJobs.add(item.jobId);
    const escrow = escrowOfIntent.get(item.intentId);
    if (escrow !== undefined && escrow !== item.escrow) {
      throw new RangeError(`intent ${item.intentId} has two escrows: ${escrow} and ${item.escrow}`);
    }
    escrowOfIntent.set(item.intentId, item.escrow);
    const key = carryKey(item.intentId, item.runnerWallet);
    const total = totals.get(key) ?? {
      intentId: item.intentId,
      escrow: item.escrow,
      runnerWallet: item.runnerWallet,
      nodeIds: new Set<string>(),
      amount: 0n,
    };
    total.nodeIds.add(item.nodeId);
    total.amount += item.charge;
    totals.set(key, total);
  }
  return totals;
}

/** Same-(intent, role, recipient) shares are merged so the treasury gets one transfer per intent, not one per runner. */
function payoutKey(intentId: string, role: PayoutRole, recipient: string): string {
  return `${intentId}${KEY_SEPARATOR}${role}${KEY_SEPARATOR}${recipient}`;
}

function compareText(left: string, right: string): number {
  if (left < right) return -1;
  return left > right ? 1 : 0;
}

const ROLE_ORDER: Record<PayoutRole, number> = { runner: 0, treasury: 1, oracle: 2 };

/** Builds the epoch's payouts and the remainders it carries forward. */
export function planSettlement(input: SettlementPlanInput): SettlementPlan {
  const { epoch, items, treasuryWallet, oracleWallet } = input;
  if (!Number.isSafeInteger(epoch) || epoch < 0)
    throw new RangeError(`epoch must be a non-negative integer, got ${epoch}`);
  if (!ROOT_HEX.test(input.rootHex)) throw new RangeError(`root must be 32 bytes of hex, got "${input.rootHex}"`);
  const split = input.split ?? DEFAULT_SETTLEMENT_SPLIT;
  validateSplit(split);
  const shares: Record<string, number> = { ...split };

  const totals = sumByKey(items);
  const carried = new Map<string, bigint>();
  for (const [key, amount] of input.previousCarried ?? []) {
    if (amount < 0n) throw new RangeError(`carried remainder of ${key} is negative: ${amount}`);
    parseCarryKey(key);
    // A key with no jobs this epoch has no escrow to pay from here: it simply waits.
    if (!totals.has(key) && amount > 0n) carried.set(key, amount);
  }

  const merged = new Map<string, SettlementPayout>();
  const addPayout = (total: KeyTotal, role: PayoutRole, recipient: string, amount: bigint) => {
    if (amount === 0n) return;
    const key = payoutKey(total.intentId, role, recipient);
    const existing = merged.get(key);
    if (existing !== undefined) {
      existing.amount += amount;
      for (const nodeId of total.nodeIds) if (!existing.nodeIds.includes(nodeId)) existing.nodeIds.push(nodeId);
      return;
    }
    merged.set(key, {
      payoutId: `${epoch}:${key.replaceAll(KEY_SEPARATOR, ":")}`,
      epoch,
      intentId: total.intentId,
      escrow: total.escrow,
      recipient,
      role,
      amount,
      nodeIds: [...total.nodeIds],
    });
  };

  for (const [key, total] of totals) {
    const amount = total.amount + (input.previousCarried?.get(key) ?? 0n);
    const { parts, remainder } = splitBasisPoints(amount, shares);
    addPayout(total, "runner", total.runnerWallet, parts.runner ?? 0n);
    addPayout(total, "treasury", treasuryWallet, parts.treasury ?? 0n);
    addPayout(total, "oracle", oracleWallet, parts.oracle ?? 0n);
    if (remainder > 0n) carried.set(key, remainder);
  }

  const payouts = [...merged.values()];
  for (const payout of payouts) payout.nodeIds.sort(compareText);
  // Grouping by escrow first keeps each transaction to one escrow; the rest makes the order total.
  payouts.sort(
    (left, right) =>
      compareText(left.escrow, right.escrow) ||
      compareText(left.intentId, right.intentId) ||
      ROLE_ORDER[left.role] - ROLE_ORDER[right.role] ||
      compareText(left.recipient, right.recipient),
  );
  return { epoch, rootHex: input.rootHex.toLowerCase(), payouts, carried };
}

/** Sum of payout amounts per intent (for reconciliation and the invariant). */
export function payoutsByIntent(payouts: readonly SettlementPayout[]): Map<string, bigint> {
  const sums = new Map<string, bigint>();
  for (const payout of payouts) sums.set(payout.intentId, (sums.get(payout.intentId) ?? 0n) + payout.amount);
  return sums;
}
