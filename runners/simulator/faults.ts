/** Fault injection: the `x-simulator-fault` header and `POST /sim/fault` carry faults as JSON. */
import { z } from "zod";
import type { SimulatorFault } from "./server.ts";

export const FAULT_HEADER = "x-simulator-fault";

const faultSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("unavailable") }),
  z.object({ kind: z.literal("fail-after-tokens"), tokens: z.number().int().min(0) }),
  z.object({ kind: z.literal("slow-first-token"), delayMs: z.number().min(0) }),
]);

export type FaultParseResult = { ok: true; fault: SimulatorFault | undefined } | { ok: false; message: string };

/** Reads a fault from parsed JSON; `null` clears. */
export function parseFault(value: unknown): FaultParseResult {
  if (value === null) return { ok: true, fault: undefined };
  const parsed = faultSchema.safeParse(value);
  if (!parsed.success) {
    return {
      ok: false,
      message: `invalid simulator fault: ${parsed.error.issues.map((issue) => `${issue.path.join(".") || "fault"}: ${issue.message}`).join("; ")}`,
    };
  }
  return { ok: true, fault: parsed.data };
}

/** The fault for one request: its header when present, else the server-wide one. */
export function faultForRequest(
  headerValue: string | string[] | undefined,
  serverFault: SimulatorFault | undefined,
): FaultParseResult {
  if (headerValue === undefined) return { ok: true, fault: serverFault };
  const text = Array.isArray(headerValue) ? headerValue.join(",") : headerValue;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, message: `${FAULT_HEADER} must be JSON, got ${JSON.stringify(text.slice(0, 100))}` };
  }
  return parseFault(value);
}
