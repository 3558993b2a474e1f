import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  BASIS_POINTS_TOTAL,
  chargeFor,
  formatUnits,
  holdFor,
  parseUnits,
  splitBasisPoints,
} from "../../billing/money.ts";
import type { ModelPricing } from "../../models/catalog.ts";

const tokens = fc.integer({ min: 0, max: 2_000_000 });
const pricePerMillion = fc.bigInt({ min: 0n, max: 10n ** 12n });
const pricing = fc.record({ inputPerMillion: pricePerMillion, outputPerMillion: pricePerMillion });
const decimals = fc.integer({ min: 0, max: 18 });

/** Shares of 10,000 bp over 1–6 parties: cut points on [0, 10000] give the share boundaries. */
const shares = fc.array(fc.integer({ min: 0, max: BASIS_POINTS_TOTAL }), { minLength: 0, maxLength: 5 }).map((cuts) => {
  const bounds = [0, ...cuts.sort((left, right) => left - right), BASIS_POINTS_TOTAL];
  const result: Record<string, number> = {};
  for (let index = 1; index < bounds.length; index += 1) {
    result[`party${index}`] = (bounds[index] ?? 0) - (bounds[index - 1] ?? 0);
  }
  return result;
});

describe("chargeFor", () => {
  const qwen: ModelPricing = { inputPerMillion: 100_000n, outputPerMillion: 200_000n };

  it("charges the exact price when it is a whole number of base units", () => {
    expect(chargeFor({ promptTokens: 1_000_000, completionTokens: 0 }, qwen)).toBe(100_000n);
    expect(chargeFor({ promptTokens: 10, completionTokens: 5 }, qwen)).toBe(2n);
    expect(chargeFor({ promptTokens: 0, completionTokens: 0 }, qwen)).toBe(0n);
  });

  it("rounds the summed price up, once", () => {
    // 3 × 0.1 + 1 × 0.2 = 0.5 units → 1, not ceil(0.3) + ceil(0.2) = 2.
    expect(chargeFor({ promptTokens: 3, completionTokens: 1 }, qwen)).toBe(1n);
    expect(chargeFor({ promptTokens: 1, completionTokens: 0 }, qwen)).toBe(1n);
  });

  it("rejects token counts that are not non-negative integers, and negative prices", () => {
    expect(() => chargeFor({ promptTokens: -1, completionTokens: 0 }, qwen)).toThrow(RangeError);
    expect(() => chargeFor({ promptTokens: 1.5, completionTokens: 0 }, qwen)).toThrow(RangeError);
    expect(() => chargeFor({ promptTokens: 0, completionTokens: Number.NaN }, qwen)).toThrow(RangeError);
    expect(() => chargeFor({ promptTokens: 1, completionTokens: 0 }, { ...qwen, inputPerMillion: -1n })).toThrow(
      RangeError,
    );
  });

  it("is never negative, never below the exact price, and less than one unit above it", () => {
    fc.assert(
      fc.property(tokens, tokens, pricing, (promptTokens, completionTokens, prices) => {
        const charge = chargeFor({ promptTokens, completionTokens }, prices);
        const exactTimesMillion =
          BigInt(promptTokens) * prices.inputPerMillion + BigInt(completionTokens) * prices.outputPerMillion;
        expect(charge).toBeGreaterThanOrEqual(0n);
        expect(charge * 1_000_000n).toBeGreaterThanOrEqual(exactTimesMillion);
        expect((charge - 1n) * 1_000_000n).toBeLessThan(exactTimesMillion);
      }),
    );
  });

  it("is monotonic in tokens and in prices", () => {
    fc.assert(
      fc.property(tokens, tokens, tokens, tokens, pricing, pricePerMillion, pricePerMillion, (...values) => {
        const [prompt, completion, extraPrompt, extraCompletion, prices, extraInput, extraOutput] = values;
        const base = chargeFor({ promptTokens: prompt, completionTokens: completion }, prices);
        const moreTokens = chargeFor(
          { promptTokens: prompt + extraPrompt, completionTokens: completion + extraCompletion },
          prices,
        );
        const higherPrices = chargeFor(
          { promptTokens: prompt, completionTokens: completion },
          {
            inputPerMillion: prices.inputPerMillion + extraInput,
            outputPerMillion: prices.outputPerMillion + extraOutput,
          },
        );
        expect(moreTokens).toBeGreaterThanOrEqual(base);
        expect(higherPrices).toBeGreaterThanOrEqual(base);
      }),
    );
  });
});

describe("holdFor", () => {
  it("covers the charge of any job that stays within its estimates", () => {
    fc.assert(
      fc.property(tokens, tokens, pricing, fc.nat(), fc.nat(), (estimate, cap, prices, usedPrompt, usedCompletion) => {
        const actual = { promptTokens: usedPrompt % (estimate + 1), completionTokens: usedCompletion % (cap + 1) };
        expect(holdFor(estimate, cap, prices)).toBeGreaterThanOrEqual(chargeFor(actual, prices));
      }),
    );
  });

  it("equals the charge of the worst case", () => {
    const prices: ModelPricing = { inputPerMillion: 900_000n, outputPerMillion: 1_200_000n };
    expect(holdFor(1000, 512, prices)).toBe(chargeFor({ promptTokens: 1000, completionTokens: 512 }, prices));
  });
});

describe("splitBasisPoints", () => {
  it("splits the default 80/10/10 with the floors' leftovers as remainder", () => {
    expect(splitBasisPoints(1_000_003n, { runner: 8000, treasury: 1000, oracle: 1000 })).toEqual({
      parts: { runner: 800_002n, treasury: 100_000n, oracle: 100_000n },
      remainder: 1n,
    });
    expect(splitBasisPoints(0n, { runner: 10_000 })).toEqual({ parts: { runner: 0n }, remainder: 0n });
  });

  it("refuses shares that do not sum to 10,000 bp, fractional shares and negative amounts", () => {
    expect(() => splitBasisPoints(10n, { runner: 8000, treasury: 1000 })).toThrow(RangeError);
    expect(() => splitBasisPoints(10n, { runner: 9999.5, treasury: 0.5 })).toThrow(RangeError);
    expect(() => splitBasisPoints(10n, { runner: 11_000, treasury: -1000 })).toThrow(RangeError);
    expect(() => splitBasisPoints(-1n, { runner: 10_000 })).toThrow(RangeError);
  });

  it("never loses or creates a base unit, and floors every share", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 96n }), shares, (amount, split) => {
        const { parts, remainder } = splitBasisPoints(amount, split);
        const paid = Object.values(parts).reduce((sum, part) => sum + part, 0n);
        expect(paid + remainder).toBe(amount);
        expect(remainder).toBeGreaterThanOrEqual(0n);
        // Each floor drops less than one unit, so the remainder is below the number of parties.
        expect(remainder).toBeLessThan(BigInt(Math.max(1, Object.keys(split).length)));
        for (const [party, share] of Object.entries(split)) {
          const part = parts[party] ?? -1n;
          expect(part * 10_000n).toBeLessThanOrEqual(amount * BigInt(share));
          expect((part + 1n) * 10_000n).toBeGreaterThan(amount * BigInt(share));
        }
      }),
    );
  });
});

describe("formatUnits / parseUnits", () => {
  it("formats whole tokens without trailing zeros or exponents", () => {
    expect(formatUnits(1_500_000n, 6)).toBe("1.5");
    expect(formatUnits(1n, 6)).toBe("0.000001");
    expect(formatUnits(0n, 6)).toBe("0");
    expect(formatUnits(-2_000_001n, 6)).toBe("-2.000001");
    expect(formatUnits(123n, 0)).toBe("123");
    expect(formatUnits(2n ** 64n, 9)).toBe("18446744073.709551616");
  });

  it("parses exactly", () => {
    expect(parseUnits("1.5", 6)).toBe(1_500_000n);
    expect(parseUnits("0.000001", 6)).toBe(1n);
    expect(parseUnits("42", 0)).toBe(42n);
    expect(parseUnits("-0.5", 2)).toBe(-50n);
    expect(parseUnits("18446744073.709551616", 9)).toBe(2n ** 64n);
  });

  it("rejects more decimals than the mint has, and anything but plain decimals", () => {
    expect(() => parseUnits("0.0000001", 6)).toThrow(RangeError);
    expect(() => parseUnits("1.0000000", 6)).toThrow(RangeError);
    expect(() => parseUnits("1.5", 0)).toThrow(RangeError);
    for (const text of ["", "1.", ".5", "1e6", " 1", "1,5", "0x10", "+1", "--1", "1.2.3", "NaN"]) {
      expect(() => parseUnits(text, 6), text).toThrow(SyntaxError);
    }
    expect(() => parseUnits("1", -1)).toThrow(RangeError);
    expect(() => formatUnits(1n, 1.5)).toThrow(RangeError);
  });

  it("round-trips: parse(format(x)) = x", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }), decimals, (amount, places) => {
        expect(parseUnits(formatUnits(amount, places), places)).toBe(amount);
      }),
    );
  });
});
