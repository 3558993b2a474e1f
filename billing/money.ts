/**
 * Money math in exact integers: bigint base units of the settlement mint, prices in base units
 * per 1M tokens. Nothing here ever touches a floating-point number, so the same inputs give the
 * same result on every gateway replica, in the oracle and in the settler.
 */
import type { ModelPricing } from "../models/catalog.ts";

const TOKENS_PER_PRICE_UNIT = 1_000_000n;

/** Basis points that make up a whole (100%). */
export const BASIS_POINTS_TOTAL = 10_000;

/** The largest decimals an SPL mint can declare (the field is a u8). */
const MAX_MINT_DECIMALS = 255;

export interface TokenCounts {
  promptTokens: number;
  completionTokens: number;
}

export interface BasisPointSplit {
  /** Floor of each party's share, keyed like the shares passed in. */
  parts: Record<string, bigint>;
  /** What the floors left over: always `amount - sum(parts)`, carried to the next epoch. */
  remainder: bigint;
}

function tokenCount(value: number, name: string): bigint {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  }
  return BigInt(value);
}

function price(value: bigint, name: string): bigint {
  if (value < 0n) throw new RangeError(`${name} must not be negative, got ${value}`);
  return value;
}

/** Ceiling division of non-negative integers. */
function divideRoundingUp(numerator: bigint, denominator: bigint): bigint {
  return (numerator + denominator - 1n) / denominator;
}

/**
 * The charge for `usage` at `pricing`:
 * ceil((promptTokens × inputPerMillion + completionTokens × outputPerMillion) / 1_000_000).
 *
 * Rounding up means the network never gives away a fraction of a base unit (a job always pays at
 * least what it used); rounding once over the summed numerator, never per part, keeps the charge
 * within one base unit of the exact price. The function is pure integer math, so the same numbers
 * always give the same charge, wherever it is recomputed.
 */
export function chargeFor(usage: TokenCounts, pricing: ModelPricing): bigint {
  const numerator =
    tokenCount(usage.promptTokens, "promptTokens") * price(pricing.inputPerMillion, "inputPerMillion") +
    tokenCount(usage.completionTokens, "completionTokens") * price(pricing.outputPerMillion, "outputPerMillion");
  return divideRoundingUp(numerator, TOKENS_PER_PRICE_UNIT);
}

/**
 * The hold to reserve before a job runs: the charge of its worst case (every estimated prompt
 * token and the full completion cap). Since `chargeFor` is monotonic, any job that stays within
 * these estimates is charged at most this much.
 */
export function holdFor(promptTokensEstimate: number, completionCap: number, pricing: ModelPricing): bigint {
  return chargeFor({ promptTokens: promptTokensEstimate, completionTokens: completionCap }, pricing);
}

/**
 * Splits `amount` between parties by basis points (shares must be non-negative integers summing
 * to exactly 10,000). Each part is floored, so no party is ever paid a unit it is not owed; the
 * units the floors leave behind come back as `remainder`, and sum(parts) + remainder = amount
 * exactly.
 */
export function splitBasisPoints(amount: bigint, shares: Record<string, number>): BasisPointSplit {
  if (amount < 0n) throw new RangeError(`amount to split must not be negative, got ${amount}`);
  let totalShares = 0;
  for (const [party, share] of Object.entries(shares)) {
    if (!Number.isSafeInteger(share) || share < 0) {
      throw new RangeError(`share of ${party} must be a non-negative integer of basis points, got ${share}`);
    }
    totalShares += share;
  }
  if (totalShares !== BASIS_POINTS_TOTAL) {
    throw new RangeError(`shares must sum to ${BASIS_POINTS_TOTAL} basis points, got ${totalShares}`);
  }
  const parts: Record<string, bigint> = {};
  let distributed = 0n;
  for (const [party, share] of Object.entries(shares)) {
    const part = (amount * BigInt(share)) / BigInt(BASIS_POINTS_TOTAL);
    parts[party] = part;
    distributed += part;
  }
  return { parts, remainder: amount - distributed };
}

function mintDecimals(decimals: number): number {
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > MAX_MINT_DECIMALS) {
    throw new RangeError(`decimals must be an integer from 0 to ${MAX_MINT_DECIMALS}, got ${decimals}`);
  }
  return decimals;
}

/**
 * Base units → a decimal string in whole tokens (`1500000n`, 6 → `"1.5"`): trailing fractional
 * zeros dropped, no exponent, exact for any size.
 */
export function formatUnits(amount: bigint, decimals: number): string {
  const places = mintDecimals(decimals);
  const sign = amount < 0n ? "-" : "";
  const digits = (amount < 0n ? -amount : amount).toString().padStart(places + 1, "0");
  const whole = digits.slice(0, digits.length - places);
  const fraction = digits.slice(digits.length - places).replace(/0+$/, "");
  return fraction === "" ? `${sign}${whole}` : `${sign}${whole}.${fraction}`;
}

const DECIMAL_TEXT = /^(-?)(\d+)(?:\.(\d+))?$/;

/**
 * A decimal string in whole tokens → base units (`"1.5"`, 6 → `1500000n`), exactly. Rejects
 * anything but plain decimal notation, and more fractional digits than the mint has (even
 * zeros): an amount is never silently rounded.
 */
export function parseUnits(text: string, decimals: number): bigint {
  const places = mintDecimals(decimals);
  const match = DECIMAL_TEXT.exec(text);
  if (!match) throw new SyntaxError(`"${text}" is not a decimal amount`);
  const [, sign = "", whole = "0", fraction = ""] = match;
  if (fraction.length > places) {
    throw new RangeError(`"${text}" has ${fraction.length} decimals; the mint has ${places}`);
  }
  const units = BigInt(whole + fraction.padEnd(places, "0"));
  return sign === "-" ? -units : units;
}
