import { PublicKey } from "@solana/web3.js";
import bs58 from "bs58";

/** JSON-RPC 2.0 codes, plus the Solana server codes web3.js recognises. */
export const RpcErrorCode = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  preflightFailure: -32002,
  signatureVerificationFailure: -32003,
  unsupportedTransactionVersion: -32015,
} as const;

/** An error to report to the caller as a JSON-RPC error object. */
export class RpcError extends Error {
  override readonly name = "RpcError";
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

export type Params = readonly unknown[];
export type Config = Record<string, unknown>;

function invalid(message: string): RpcError {
  return new RpcError(RpcErrorCode.invalidParams, `Invalid params: ${message}`);
}

export function stringParam(params: Params, index: number, name: string): string {
  const value = params[index];
  if (typeof value !== "string") throw invalid(`${name} (param ${index}) must be a string`);
  return value;
}

export function integerParam(params: Params, index: number, name: string): number {
  const value = params[index];
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(`${name} (param ${index}) must be a non-negative integer`);
  }
  return value;
}

export function publicKeyParam(params: Params, index: number, name: string): PublicKey {
  return toPublicKey(stringParam(params, index, name), name);
}

export function toPublicKey(text: string, name: string): PublicKey {
  try {
    return new PublicKey(text);
  } catch {
    throw invalid(`${name} "${text}" is not a valid public key`);
  }
}

export function stringArrayParam(params: Params, index: number, name: string, maxLength: number): string[] {
  const value = params[index];
  if (!Array.isArray(value) || !value.every((item): item is string => typeof item === "string")) {
    throw invalid(`${name} (param ${index}) must be an array of strings`);
  }
  if (value.length > maxLength) throw invalid(`${name} has more than ${maxLength} entries`);
  return value;
}

/** The optional trailing configuration object; absent or null means defaults. */
export function configParam(params: Params, index: number): Config {
  const value = params[index];
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) throw invalid(`param ${index} must be a configuration object`);
  return value as Config;
}

export function optionalString(config: Config, key: string): string | undefined {
  const value = config[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw invalid(`${key} must be a string`);
  return value;
}

export function optionalBoolean(config: Config, key: string): boolean {
  const value = config[key];
  if (value === undefined || value === null) return false;
  if (typeof value !== "boolean") throw invalid(`${key} must be a boolean`);
  return value;
}

/** Decodes transaction or message bytes sent as base64 or base58 (Solana's default). */
export function decodeBytes(text: string, encoding: string | undefined): Uint8Array {
  if (encoding === "base64") return Buffer.from(text, "base64");
  if (encoding === undefined || encoding === "base58") {
    try {
      return bs58.decode(text);
    } catch {
      throw invalid("data is not valid base58");
    }
  }
  throw invalid(`unsupported encoding "${encoding}"`);
}

export function invalidParams(message: string): RpcError {
  return invalid(message);
}
