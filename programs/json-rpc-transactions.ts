import { TOKEN_PROGRAM_ID } from "@solana/spl-token";
import { VersionedTransaction } from "@solana/web3.js";
import bs58 from "bs58";
import { ChainError } from "./chain.ts";
import {
  configParam,
  decodeBytes,
  invalidParams,
  optionalBoolean,
  optionalString,
  type Params,
  RpcError,
  RpcErrorCode,
  stringArrayParam,
  stringParam,
} from "./json-rpc-params.ts";
import type { LocalChain } from "./local-chain.ts";
import type { LocalTransactionRecord, TokenBalanceSnapshot } from "./local-ledger.ts";
import { formatTokenAmount } from "./token-state.ts";
import { signatureProblem } from "./transaction-message.ts";

type TransactionErrorJson = string | Record<string, unknown>;

/** The runtime's error text as the RPC's structured TransactionError, where the text allows it. */
export function transactionErrorJson(text: string): TransactionErrorJson {
  const instruction = /^Error processing Instruction (\d+): (.*)$/.exec(text);
  if (instruction !== null) {
    const custom = /^custom program error: 0x([0-9a-f]+)$/i.exec(instruction[2] ?? "");
    const detail = custom === null ? (instruction[2] ?? text) : { Custom: Number.parseInt(custom[1] ?? "0", 16) };
    return { InstructionError: [Number(instruction[1]), detail] };
  }
  const rent = /insufficient funds for rent.*\((\d+)\)|\((\d+)\) with insufficient funds for rent/.exec(text);
  if (rent !== null) return { InsufficientFundsForRent: { account_index: Number(rent[1] ?? rent[2]) } };
  const named: Record<string, string> = {
    "Blockhash not found": "BlockhashNotFound",
    "This transaction has already been processed": "AlreadyProcessed",
    "Attempt to debit an account but found no record of a prior credit.": "AccountNotFound",
    "Insufficient funds for fee": "InsufficientFundsForFee",
  };
  return named[text] ?? text;
}

function decodeTransaction(params: Params, encoding: string | undefined): VersionedTransaction {
  const bytes = decodeBytes(stringParam(params, 0, "transaction"), encoding);
  try {
    return VersionedTransaction.deserialize(bytes);
  } catch (error) {
    throw invalidParams(`failed to deserialize transaction: ${(error as Error).message}`);
  }
}

export async function sendTransaction(chain: LocalChain, params: Params): Promise<string> {
  const config = configParam(params, 1);
  const transaction = decodeTransaction(params, optionalString(config, "encoding"));
  const signature = transaction.signatures[0];
  if (signature !== undefined && chain.transactionRecord(bs58.encode(signature)) !== undefined) {
    return bs58.encode(signature);
  }
  if (!optionalBoolean(config, "skipPreflight")) {
    const problem = signatureProblem(transaction);
    if (problem !== undefined) {
      throw new RpcError(
        RpcErrorCode.signatureVerificationFailure,
        `Transaction signature verification failure: ${problem}`,
      );
    }
    const simulation = await chain.simulate(transaction);
    if (simulation.error !== undefined) {
      throw new RpcError(RpcErrorCode.preflightFailure, `Transaction simulation failed: ${simulation.error}`, {
        err: transactionErrorJson(simulation.error),
        logs: simulation.logs,
        accounts: null,
        unitsConsumed: Number(simulation.computeUnitsConsumed),
        returnData: null,
      });
    }
  }
  try {
    // A transaction that fails after preflight was skipped still lands (fee paid): report its signature.
    return (await chain.submit(transaction)).signature;
  } catch (error) {
    if (!(error instanceof ChainError)) throw error;
    throw new RpcError(RpcErrorCode.preflightFailure, error.message.split("\n")[0] ?? error.message, {
      err: error.message,
      logs: error.logs,
      accounts: null,
      unitsConsumed: 0,
      returnData: null,
    });
  }
}

export async function simulateTransaction(chain: LocalChain, params: Params): Promise<object> {
  const config = configParam(params, 1);
  const transaction = decodeTransaction(params, optionalString(config, "encoding"));
  const sigVerify = optionalBoolean(config, "sigVerify");
  const replace = optionalBoolean(config, "replaceRecentBlockhash");
  if (sigVerify && replace) throw invalidParams("sigVerify may not be used with replaceRecentBlockhash");
  if (sigVerify) {
    const problem = signatureProblem(transaction);
    if (problem !== undefined) {
      throw new RpcError(
        RpcErrorCode.signatureVerificationFailure,
        `Transaction signature verification failure: ${problem}`,
      );
    }
  }
  let replacementBlockhash: { blockhash: string; lastValidBlockHeight: number } | undefined;
  if (replace) {
    replacementBlockhash = await chain.latestBlockhash();
    transaction.message.recentBlockhash = replacementBlockhash.blockhash;
  }
  const simulation = await chain.simulate(transaction);
  return {
    err: simulation.error === undefined ? null : transactionErrorJson(simulation.error),
    logs: simulation.logs,
    accounts: null,
    unitsConsumed: Number(simulation.computeUnitsConsumed),
    returnData: null,
    ...(replacementBlockhash === undefined ? {} : { replacementBlockhash }),
  };
}

function recordStatus(record: LocalTransactionRecord) {
  const err = record.error === undefined ? null : transactionErrorJson(record.error);
  return { err, status: err === null ? { Ok: null } : { Err: err } };
}

export async function getSignatureStatuses(chain: LocalChain, params: Params): Promise<(object | null)[]> {
  const signatures = stringArrayParam(params, 0, "signatures", 256);
  return signatures.map((signature) => {
    const record = chain.transactionRecord(signature);
    if (record === undefined) return null;
    // The local bank never forks: whatever it processed is final.
    return { slot: record.slot, confirmations: null, ...recordStatus(record), confirmationStatus: "finalized" };
  });
}

function tokenBalancesJson(balances: TokenBalanceSnapshot[]) {
  return balances.map((balance) => {
    const uiAmountString = formatTokenAmount(balance.amount, balance.decimals);
    return {
      accountIndex: balance.accountIndex,
      mint: balance.mint.toBase58(),
      owner: balance.owner.toBase58(),
      programId: TOKEN_PROGRAM_ID.toBase58(),
      uiTokenAmount: {
        amount: balance.amount.toString(),
        decimals: balance.decimals,
        // The RPC shape requires a float here; the exact value is `amount`.
        uiAmount: Number(uiAmountString),
        uiAmountString,
      },
    };
  });
}

function transactionJson(transaction: VersionedTransaction) {
  const message = transaction.message;
  return {
    signatures: transaction.signatures.map((signature) => bs58.encode(signature)),
    message: {
      accountKeys: message.staticAccountKeys.map((key) => key.toBase58()),
      header: message.header,
      recentBlockhash: message.recentBlockhash,
      instructions: message.compiledInstructions.map((instruction) => ({
        programIdIndex: instruction.programIdIndex,
        accounts: instruction.accountKeyIndexes,
        data: bs58.encode(instruction.data),
        stackHeight: null,
      })),
      ...(message.version === 0
        ? {
            addressTableLookups: message.addressTableLookups.map((lookup) => ({
              accountKey: lookup.accountKey.toBase58(),
              writableIndexes: lookup.writableIndexes,
              readonlyIndexes: lookup.readonlyIndexes,
            })),
          }
        : {}),
    },
  };
}

export async function getTransaction(chain: LocalChain, params: Params): Promise<object | null> {
  const signature = stringParam(params, 0, "signature");
  const config = configParam(params, 1);
  const encoding = optionalString(config, "encoding") ?? "json";
  const record = chain.transactionRecord(signature);
  if (record === undefined) return null;
  const version = record.transaction.version;
  const maxVersion = config.maxSupportedTransactionVersion;
  if (version === 0 && (typeof maxVersion !== "number" || maxVersion < 0)) {
    throw new RpcError(
      RpcErrorCode.unsupportedTransactionVersion,
      'Transaction version (0) is not supported by the requesting client. Please try the request again with the following configuration parameter: "maxSupportedTransactionVersion": 0',
    );
  }
  let transaction: unknown;
  if (encoding === "json") transaction = transactionJson(record.transaction);
  else if (encoding === "base64") transaction = [Buffer.from(record.wire).toString("base64"), "base64"];
  else if (encoding === "base58") transaction = [bs58.encode(record.wire), "base58"];
  else throw invalidParams(`unsupported encoding "${encoding}" (json, base64 and base58 are)`);
  return {
    slot: record.slot,
    blockTime: record.blockTime,
    // `version` is omitted for legacy when the client did not ask for versions, as the real RPC does.
    ...(maxVersion === undefined ? {} : { version }),
    transaction,
    meta: {
      ...recordStatus(record),
      fee: Number(record.fee),
      preBalances: record.preBalances.map(Number),
      postBalances: record.postBalances.map(Number),
      // bankrun does not report inner (CPI) instructions; null says "not recorded", not "none".
      innerInstructions: null,
      logMessages: record.logs,
      preTokenBalances: tokenBalancesJson(record.preTokenBalances),
      postTokenBalances: tokenBalancesJson(record.postTokenBalances),
      rewards: [],
      loadedAddresses: {
        writable: record.loadedAddresses.writable.map((key) => key.toBase58()),
        readonly: record.loadedAddresses.readonly.map((key) => key.toBase58()),
      },
      computeUnitsConsumed: Number(record.computeUnitsConsumed),
    },
  };
}
