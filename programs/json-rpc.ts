import { LAMPORTS_PER_SOL, Message, type PublicKey } from "@solana/web3.js";
import bs58 from "bs58";
import type { ChainAccount } from "./chain.ts";
import {
  configParam,
  decodeBytes,
  integerParam,
  invalidParams,
  optionalString,
  type Params,
  publicKeyParam,
  RpcError,
  RpcErrorCode,
  stringArrayParam,
  stringParam,
  toPublicKey,
} from "./json-rpc-params.ts";
import { getSignatureStatuses, getTransaction, sendTransaction, simulateTransaction } from "./json-rpc-transactions.ts";
import type { LocalChain } from "./local-chain.ts";
import { formatTokenAmount, readMint, readTokenAccount } from "./token-state.ts";

export { RpcError, RpcErrorCode } from "./json-rpc-params.ts";

export type JsonRpcId = string | number | null;

export type JsonRpcResponse =
  | { jsonrpc: "2.0"; id: JsonRpcId; result: unknown }
  | { jsonrpc: "2.0"; id: JsonRpcId; error: { code: number; message: string; data?: unknown } };

/** The Solana core version this facade imitates (bankrun 0.4 embeds the 1.18 runtime). */
const SOLANA_CORE_VERSION = "1.18.26";
/** Airdrops come out of bankrun's payer; capped so a public endpoint cannot drain it in one call. */
const MAX_AIRDROP_LAMPORTS = 100n * BigInt(LAMPORTS_PER_SOL);
const MAX_ACCOUNTS_PER_REQUEST = 100;
/** Every account is rent-exempt nowadays; the RPC reports u64::MAX (a float once JSON-parsed). */
const RENT_EXEMPT_RENT_EPOCH = Number(2n ** 64n - 1n);

type Method = (chain: LocalChain, params: Params) => Promise<unknown>;

async function withContext(chain: LocalChain, value: unknown): Promise<object> {
  return { context: { apiVersion: SOLANA_CORE_VERSION, slot: await chain.slot() }, value };
}

function encodeAccount(account: ChainAccount | undefined, encoding: string | undefined): object | null {
  if (account === undefined) return null;
  const bytes = Buffer.from(account.data);
  let data: unknown;
  if (encoding === "base64") data = [bytes.toString("base64"), "base64"];
  else if (encoding === "base58") data = [bs58.encode(bytes), "base58"];
  else if (encoding === undefined || encoding === "binary") data = bs58.encode(bytes);
  else throw invalidParams(`unsupported encoding "${encoding}" (base64 and base58 are)`);
  return {
    data,
    executable: account.executable,
    lamports: Number(account.lamports),
    owner: account.owner.toBase58(),
    rentEpoch: RENT_EXEMPT_RENT_EPOCH,
    space: bytes.length,
  };
}

async function tokenAmount(chain: LocalChain, address: PublicKey): Promise<object> {
  const token = readTokenAccount(address, await chain.getAccount(address));
  if (token === undefined) throw invalidParams(`${address.toBase58()} is not a Token account`);
  const decimals = readMint(token.mint, await chain.getAccount(token.mint))?.decimals;
  if (decimals === undefined) throw invalidParams(`the mint of ${address.toBase58()} could not be read`);
  const uiAmountString = formatTokenAmount(token.amount, decimals);
  // `uiAmount` is a float only because the RPC shape says so; `amount` is the exact value.
  return { amount: token.amount.toString(), decimals, uiAmount: Number(uiAmountString), uiAmountString };
}

const methods: Record<string, Method> = {
  getVersion: async () => ({ "solana-core": SOLANA_CORE_VERSION, "feature-set": 0 }),
  getHealth: async () => "ok",
  getSlot: (chain) => chain.slot(),
  getBlockHeight: (chain) => chain.blockHeight(),
  getLatestBlockhash: async (chain) => withContext(chain, await chain.latestBlockhash()),
  getBalance: async (chain, params) =>
    withContext(chain, Number(await chain.solBalance(publicKeyParam(params, 0, "address")))),
  getMinimumBalanceForRentExemption: async (chain, params) =>
    Number(await chain.minimumBalanceForRentExemption(integerParam(params, 0, "data length"))),
  getAccountInfo: async (chain, params) => {
    const encoding = optionalString(configParam(params, 1), "encoding");
    return withContext(chain, encodeAccount(await chain.getAccount(publicKeyParam(params, 0, "address")), encoding));
  },
  getMultipleAccounts: async (chain, params) => {
    const addresses = stringArrayParam(params, 0, "addresses", MAX_ACCOUNTS_PER_REQUEST).map((text) =>
      toPublicKey(text, "address"),
    );
    const encoding = optionalString(configParam(params, 1), "encoding");
    const accounts = await Promise.all(addresses.map((address) => chain.getAccount(address)));
    return withContext(
      chain,
      accounts.map((account) => encodeAccount(account, encoding)),
    );
  },
  getTokenAccountBalance: async (chain, params) =>
    withContext(chain, await tokenAmount(chain, publicKeyParam(params, 0, "token account"))),
  getFeeForMessage: async (chain, params) => {
    const bytes = decodeBytes(stringParam(params, 0, "message"), "base64");
    let message: Message;
    try {
      message = Message.from(bytes);
    } catch {
      throw invalidParams("message is not a legacy transaction message");
    }
    const fee = await chain.context.banksClient.getFeeForMessage(message);
    return withContext(chain, fee === null ? null : Number(fee));
  },
  getSignatureStatuses: async (chain, params) => withContext(chain, await getSignatureStatuses(chain, params)),
  getTransaction: (chain, params) => getTransaction(chain, params),
  sendTransaction: (chain, params) => sendTransaction(chain, params),
  simulateTransaction: async (chain, params) => withContext(chain, await simulateTransaction(chain, params)),
  requestAirdrop: async (chain, params) => {
    const to = publicKeyParam(params, 0, "address");
    const lamports = BigInt(integerParam(params, 1, "lamports"));
    if (lamports > MAX_AIRDROP_LAMPORTS) throw invalidParams(`airdrops are capped at ${MAX_AIRDROP_LAMPORTS} lamports`);
    return chain.fundSol(to, lamports);
  },
};

/** Names of the JSON-RPC methods `handleJsonRpc` answers. */
export const supportedJsonRpcMethods: readonly string[] = Object.keys(methods);

function failure(id: JsonRpcId, code: number, message: string, data?: unknown): JsonRpcResponse {
  return { jsonrpc: "2.0", id, error: data === undefined ? { code, message } : { code, message, data } };
}

function isId(value: unknown): value is JsonRpcId {
  return value === null || typeof value === "string" || (typeof value === "number" && Number.isFinite(value));
}

async function handleOne(chain: LocalChain, request: unknown): Promise<JsonRpcResponse> {
  if (typeof request !== "object" || request === null || Array.isArray(request)) {
    return failure(null, RpcErrorCode.invalidRequest, "Invalid request");
  }
  const { jsonrpc, id = null, method, params = [] } = request as Record<string, unknown>;
  if (!isId(id))
    return failure(null, RpcErrorCode.invalidRequest, "Invalid request: id must be a string, number or null");
  if (jsonrpc !== "2.0") return failure(id, RpcErrorCode.invalidRequest, 'Invalid request: jsonrpc must be "2.0"');
  if (typeof method !== "string")
    return failure(id, RpcErrorCode.invalidRequest, "Invalid request: method must be a string");
  const handler = Object.hasOwn(methods, method) ? methods[method] : undefined;
  if (handler === undefined) return failure(id, RpcErrorCode.methodNotFound, `Method not found: ${method}`);
  if (!Array.isArray(params)) return failure(id, RpcErrorCode.invalidParams, "Invalid params: params must be an array");
  try {
    return { jsonrpc: "2.0", id, result: await handler(chain, params) };
  } catch (error) {
    if (error instanceof RpcError) return failure(id, error.code, error.message, error.data);
    return failure(id, RpcErrorCode.internalError, `Internal error: ${(error as Error).message}`);
  }
}

/**
 * Answers a parsed JSON-RPC 2.0 request (or batch) with the subset of the Solana RPC that
 * `@solana/web3.js` `Connection` needs, backed by a `LocalChain`. Meant to be mounted as an HTTP
 * POST route. Deviation: requests without an id (notifications) are answered too, with id null,
 * so the route always has a body to return.
 */
export async function handleJsonRpc(chain: LocalChain, request: unknown): Promise<JsonRpcResponse | JsonRpcResponse[]> {
  if (!Array.isArray(request)) return handleOne(chain, request);
  if (request.length === 0) return failure(null, RpcErrorCode.invalidRequest, "Invalid request: empty batch");
  const responses: JsonRpcResponse[] = [];
  // Sequential, so a batch that sends then queries sees its own transactions.
  for (const entry of request) responses.push(await handleOne(chain, entry));
  return responses;
}
