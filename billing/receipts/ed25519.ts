/**
 * Ed25519 wallet keys in Solana's formats: a keypair file is a JSON array of 64 bytes
 * (32-byte seed then 32-byte public key); addresses and signatures are base58.
 * Node's own crypto does the signing, so runners need no Solana SDK.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from "node:crypto";
import { readFileSync } from "node:fs";
import bs58 from "bs58";

// DER prefixes that wrap a raw 32-byte ed25519 seed / public key into PKCS#8 / SPKI.
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

export interface WalletKeypair {
  /** Base58 public key: the wallet address. */
  readonly address: string;
  readonly publicKey: Uint8Array;
  /** 64 bytes, Solana layout (seed ‖ public key). */
  readonly secretKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

function privateKeyFromSeed(seed: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: "der", type: "pkcs8" });
}

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, publicKey]), format: "der", type: "spki" });
}

export function keypairFromSecretKey(secretKey: Uint8Array): WalletKeypair {
  if (secretKey.length !== 64) throw new Error(`an ed25519 secret key has 64 bytes, got ${secretKey.length}`);
  const seed = secretKey.slice(0, 32);
  const privateKey = privateKeyFromSeed(seed);
  const derivedPublic = createPublicKey(privateKey)
    .export({ format: "der", type: "spki" })
    .subarray(SPKI_ED25519_PREFIX.length);
  if (!Buffer.from(secretKey.slice(32)).equals(derivedPublic)) {
    throw new Error("the secret key's public half does not match its seed");
  }
  const publicKey = new Uint8Array(derivedPublic);
  return {
    address: bs58.encode(publicKey),
    publicKey,
    secretKey: new Uint8Array(secretKey),
    sign: (message) => new Uint8Array(sign(null, message, privateKey)),
  };
}

export function generateKeypair(): WalletKeypair {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const seed = privateKey.export({ format: "der", type: "pkcs8" }).subarray(PKCS8_ED25519_PREFIX.length);
  const publicBytes = publicKey.export({ format: "der", type: "spki" }).subarray(SPKI_ED25519_PREFIX.length);
  return keypairFromSecretKey(new Uint8Array(Buffer.concat([seed, publicBytes])));
}

/** Reads a Solana CLI keypair file (JSON array of 64 numbers). */
export function readKeypairFile(path: string): WalletKeypair {
  const parsed: unknown = JSON.parse(readFileSync(path, "utf8"));
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 64 ||
    !parsed.every((byte) => Number.isInteger(byte) && byte >= 0 && byte <= 255)
  ) {
    throw new Error(`${path} is not a Solana keypair file (a JSON array of 64 bytes)`);
  }
  return keypairFromSecretKey(Uint8Array.from(parsed as number[]));
}

export function keypairFileContents(keypair: WalletKeypair): string {
  return JSON.stringify(Array.from(keypair.secretKey));
}

/** Verifies a base58 signature by a base58 address; false (never a throw) for malformed input. */
export function verifySignature(message: Uint8Array, signatureBase58: string, addressBase58: string): boolean {
  try {
    const publicKey = bs58.decode(addressBase58);
    const signature = bs58.decode(signatureBase58);
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    return verify(null, message, publicKeyObject(publicKey), signature);
  } catch {
    return false;
  }
}

export function encodeSignature(signature: Uint8Array): string {
  return bs58.encode(signature);
}
