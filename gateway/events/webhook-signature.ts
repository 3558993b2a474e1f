/**
 * Webhook signatures: `x-hypernode-signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
 * "<t>.<raw body>">`. The timestamp is inside the MAC so a captured delivery cannot be replayed
 * later with a fresh timestamp; receivers reject old ones.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export const SIGNATURE_HEADER = "x-hypernode-signature";
export const EVENT_ID_HEADER = "x-hypernode-event-id";
export const EVENT_TYPE_HEADER = "x-hypernode-event-type";
export const DEFAULT_SIGNATURE_TOLERANCE_SECONDS = 300;

function hmacHex(secret: string, timestamp: number, rawBody: string | Uint8Array): string {
  return createHmac("sha256", secret).update(`${timestamp}.`).update(rawBody).digest("hex");
}

/** The header value for a body signed at `timestamp` (unix seconds). */
export function signWebhookBody(
  rawBody: string | Uint8Array,
  secret: string,
  timestamp = Math.floor(Date.now() / 1000),
): string {
  return `t=${timestamp},v1=${hmacHex(secret, timestamp, rawBody)}`;
}

/**
 * For receivers: true when `header` carries a valid `v1` signature of exactly these bytes with
 * `secret`, made within `toleranceSeconds` of now. Pass the raw body as received, before any
 * JSON parsing: re-serialising changes bytes and breaks the MAC. Several `v1=` entries are
 * accepted (any one may match), so a sender can sign with an old and a new secret while they
 * rotate.
 */
export function verifyWebhookSignature(
  rawBody: string | Uint8Array,
  header: string | undefined,
  secret: string,
  toleranceSeconds = DEFAULT_SIGNATURE_TOLERANCE_SECONDS,
  nowSeconds = Math.floor(Date.now() / 1000),
): boolean {
  if (!header || !secret) return false;
  let timestamp: number | undefined;
  const candidates: string[] = [];
  for (const part of header.split(",")) {
    const separator = part.indexOf("=");
    if (separator === -1) continue;
    const key = part.slice(0, separator).trim();
    const value = part.slice(separator + 1).trim();
    if (key === "t" && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (key === "v1" && /^[0-9a-f]{64}$/i.test(value)) candidates.push(value.toLowerCase());
  }
  if (timestamp === undefined || candidates.length === 0) return false;
  if (Math.abs(nowSeconds - timestamp) > toleranceSeconds) return false;
  const expected = Buffer.from(hmacHex(secret, timestamp, rawBody), "hex");
  let matched = false;
  // Every candidate is compared (no early exit) so timing says nothing about which one matched.
  for (const candidate of candidates) {
    if (timingSafeEqual(Buffer.from(candidate, "hex"), expected)) matched = true;
  }
  return matched;
}
