import { getAccount, getAssociatedTokenAddressSync } from "@solana/spl-token";
import {
  Connection,
  Keypair,
  LAMPORTS_PER_SOL,
  type PublicKey,
  SendTransactionError,
  TransactionMessage,
  VersionedTransaction,
} from "@solana/web3.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChainError } from "../../programs/chain.ts";
import { createEscrowAccount } from "../../programs/escrow.ts";
import { buildFundingTransaction, verifyFunding } from "../../programs/funding.ts";
import { supportedJsonRpcMethods } from "../../programs/json-rpc.ts";
import { type RunningJsonRpcServer, serveJsonRpc } from "../../programs/json-rpc-server.ts";
import { LocalChain } from "../../programs/local-chain.ts";
import { RpcChain } from "../../programs/rpc-chain.ts";

process.env.RUST_LOG = "error";

const DECIMALS = 6;

let local: LocalChain;
let server: RunningJsonRpcServer;
let connection: Connection;
let chain: RpcChain;
let authority: Keypair;
let payer: Keypair;
let mint: PublicKey;

beforeAll(async () => {
  local = await LocalChain.start();
  server = await serveJsonRpc(local);
  connection = new Connection(server.url, "confirmed");
  chain = new RpcChain(connection, { pollIntervalMs: 10, confirmTimeoutMs: 5_000 });
  authority = Keypair.generate();
  payer = Keypair.generate();
  await local.fundSol(authority.publicKey, 10n * BigInt(LAMPORTS_PER_SOL));
  await local.fundSol(payer.publicKey, BigInt(LAMPORTS_PER_SOL));
  mint = await local.createMint(DECIMALS);
  await local.mintTo(mint, payer.publicKey, 1_000_000_000n);
});

afterAll(async () => {
  await server?.close();
});

async function rpc(body: unknown): Promise<unknown> {
  const response = await fetch(server.url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return response.json();
}

async function signedFunding(intentId: string, escrow: PublicKey, amount: bigint) {
  const { blockhash, lastValidBlockHeight } = await chain.latestBlockhash();
  const transaction = buildFundingTransaction({
    payer: payer.publicKey,
    mint,
    escrow,
    amount,
    decimals: DECIMALS,
    intentId,
    recentBlockhash: blockhash,
    lastValidBlockHeight,
  });
  transaction.sign(payer);
  return transaction;
}

describe("RpcChain against the local chain's JSON-RPC over HTTP", () => {
  it("reads cluster basics through a real Connection", async () => {
    expect((await connection.getVersion())["solana-core"]).toMatch(/^1\.18/);
    // bankrun registers a fresh blockhash every slot time, so only the shape and height compare.
    const latest = await chain.latestBlockhash();
    expect(latest.blockhash).toMatch(/^[1-9A-HJ-NP-Za-km-z]{32,44}$/);
    expect(latest.lastValidBlockHeight).toBe((await local.latestBlockhash()).lastValidBlockHeight);
    expect(await chain.blockHeight()).toBe(await local.blockHeight());
    expect(await connection.getSlot()).toBe(await local.slot());
    expect(await chain.solBalance(authority.publicKey)).toBe(await local.solBalance(authority.publicKey));
    expect(await chain.minimumBalanceForRentExemption(165)).toBe(await local.minimumBalanceForRentExemption(165));
    expect(await chain.mintDecimals(mint)).toBe(DECIMALS);
    await expect(chain.mintDecimals(payer.publicKey)).rejects.toThrow(/not an SPL Token mint/);
  });

  it("funds an intent end to end: sendRawTransaction, status, getTransaction, verifyFunding, balances", async () => {
    const intentId = "intent_over_rpc";
    const created = await createEscrowAccount(chain, { authority, intentId, mint });
    expect(created.created).toBe(true);
    const escrow = created.escrow;
    expect(await chain.accountExists(escrow)).toBe(true);

    const transaction = await signedFunding(intentId, escrow, 42_000_000n);
    const signature = await connection.sendRawTransaction(transaction.serialize());
    expect(await chain.signatureStatus(signature)).toBe("confirmed");
    expect((await connection.getSignatureStatus(signature)).value?.err).toBeNull();

    const parsed = await connection.getTransaction(signature, { maxSupportedTransactionVersion: 0 });
    expect(parsed?.meta?.err).toBeNull();
    expect(parsed?.meta?.fee).toBe(5000);
    const keys = parsed?.transaction.message.getAccountKeys().staticAccountKeys ?? [];
    expect(keys.some((key) => key.equals(escrow))).toBe(true);
    const escrowIndex = keys.findIndex((key) => key.equals(escrow));
    const post = parsed?.meta?.postTokenBalances?.find((balance) => balance.accountIndex === escrowIndex);
    expect(post?.uiTokenAmount).toMatchObject({ amount: "42000000", decimals: 6, uiAmountString: "42" });

    const base64 = (await rpc({
      jsonrpc: "2.0",
      id: 1,
      method: "getTransaction",
      params: [signature, { encoding: "base64", maxSupportedTransactionVersion: 0 }],
    })) as { result: { transaction: [string, string]; version: string } };
    expect(base64.result.version).toBe("legacy");
    expect(VersionedTransaction.deserialize(Buffer.from(base64.result.transaction[0], "base64")).signatures[0]).toEqual(
      transaction.signature === null ? undefined : new Uint8Array(transaction.signature),
    );

    const verified = await verifyFunding(chain, signature, { mint, escrow, amount: 42_000_000n, intentId });
    expect(verified).toEqual({ ok: true, funded: 42_000_000n, payer: payer.publicKey });
    expect(await verifyFunding(chain, signature, { mint, escrow, amount: 1n, intentId })).toMatchObject({
      ok: false,
      code: "wrong_amount",
    });
    expect(await chain.tokenBalance(escrow)).toBe(42_000_000n);
    expect((await connection.getTokenAccountBalance(escrow)).value.amount).toBe("42000000");
    expect((await getAccount(connection, escrow)).amount).toBe(42_000_000n);
    expect(await chain.tokenBalance(payer.publicKey)).toBeUndefined();
    expect(await chain.tokenBalance(Keypair.generate().publicKey)).toBeUndefined();
  });

  it("sends through RpcChain.send, and a resend of a landed transaction is a no-op", async () => {
    const intentId = "intent_rpc_send";
    const { escrow } = await createEscrowAccount(chain, { authority, intentId, mint });
    const transaction = await signedFunding(intentId, escrow, 7n);
    const signature = await chain.send(transaction);
    expect(await chain.send(transaction)).toBe(signature);
    expect(await chain.tokenBalance(escrow)).toBe(7n);
  });

  it("reports failures: preflight refusal with logs, and a landed failure when preflight is skipped", async () => {
    const intentId = "intent_rpc_fail";
    const { escrow } = await createEscrowAccount(chain, { authority, intentId, mint });
    const tooMuch = await signedFunding(intentId, escrow, 10n ** 15n);

    const preflight = await connection.sendRawTransaction(tooMuch.serialize()).catch((error: unknown) => error);
    expect(preflight).toBeInstanceOf(SendTransactionError);
    expect((preflight as SendTransactionError).logs?.join("\n")).toMatch(/insufficient funds/i);
    const viaChain = await chain.send(tooMuch).catch((error: unknown) => error);
    expect(viaChain).toBeInstanceOf(ChainError);
    expect((viaChain as ChainError).logs.join("\n")).toMatch(/insufficient funds/i);

    const signature = await connection.sendRawTransaction(tooMuch.serialize(), { skipPreflight: true });
    expect(await chain.signatureStatus(signature)).toBe("failed");
    expect(await verifyFunding(chain, signature, { mint, escrow, amount: 10n ** 15n, intentId })).toMatchObject({
      ok: false,
      code: "failed",
    });
    expect(await chain.tokenBalance(escrow)).toBe(0n);
  });

  it("handles v0 transactions: refused without maxSupportedTransactionVersion, verified with it", async () => {
    const intentId = "intent_rpc_v0";
    const { escrow } = await createEscrowAccount(chain, { authority, intentId, mint });
    const legacy = await signedFunding(intentId, escrow, 99n);
    const message = new TransactionMessage({
      payerKey: payer.publicKey,
      recentBlockhash: legacy.recentBlockhash ?? "",
      instructions: legacy.instructions,
    }).compileToV0Message();
    const transaction = new VersionedTransaction(message);
    transaction.sign([payer]);
    const simulated = await connection.simulateTransaction(transaction);
    expect(simulated.value.err).toBeNull();
    expect(simulated.value.logs?.length).toBeGreaterThan(0);

    const signature = await chain.send(transaction);
    await expect(connection.getTransaction(signature)).rejects.toThrow(/maxSupportedTransactionVersion/);
    const landed = await chain.getTransaction(signature);
    expect(landed?.version).toBe(0);
    expect(
      await verifyFunding(chain, signature, { mint, escrow, amount: 99n, intentId, payer: payer.publicKey }),
    ).toEqual({ ok: true, funded: 99n, payer: payer.publicKey });
  });

  it("speaks JSON-RPC 2.0: errors, batches, and the method list", async () => {
    expect(await rpc({ jsonrpc: "2.0", id: 7, method: "getBlockProduction" })).toMatchObject({
      id: 7,
      error: { code: -32601 },
    });
    expect(await rpc({ jsonrpc: "2.0", id: "a", method: "getBalance", params: ["nope"] })).toMatchObject({
      id: "a",
      error: { code: -32602 },
    });
    expect(await rpc({ jsonrpc: "2.0", id: 1, method: "getBalance", params: {} })).toMatchObject({
      error: { code: -32602 },
    });
    expect(await rpc({ jsonrpc: "1.0", id: 1, method: "getSlot" })).toMatchObject({ error: { code: -32600 } });
    expect(await rpc({ jsonrpc: "2.0", id: 1, method: "toString" })).toMatchObject({ error: { code: -32601 } });
    expect(await rpc("{not json")).toMatchObject({ id: null, error: { code: -32700 } });
    expect(await rpc([])).toMatchObject({ id: null, error: { code: -32600 } });
    expect(
      await rpc({ jsonrpc: "2.0", id: 2, method: "getTransaction", params: [Keypair.generate().publicKey.toBase58()] }),
    ).toMatchObject({ id: 2, result: null });

    const batch = (await rpc([
      { jsonrpc: "2.0", id: 1, method: "getSlot" },
      { jsonrpc: "2.0", id: 2, method: "getBlockHeight" },
      { jsonrpc: "2.0", id: 3, method: "nope" },
      42,
    ])) as Array<{ id: unknown; result?: unknown; error?: { code: number } }>;
    expect(batch.map((entry) => entry.id)).toEqual([1, 2, 3, null]);
    expect(batch[0]?.result).toBe(await local.slot());
    expect(batch[2]?.error?.code).toBe(-32601);
    expect(batch[3]?.error?.code).toBe(-32600);

    const airdrop = Keypair.generate().publicKey;
    await connection.requestAirdrop(airdrop, LAMPORTS_PER_SOL);
    expect(await connection.getBalance(airdrop)).toBe(LAMPORTS_PER_SOL);
    const payerTokenAccount = getAssociatedTokenAddressSync(mint, payer.publicKey);
    const [one, missing] = await connection.getMultipleAccountsInfo([payerTokenAccount, Keypair.generate().publicKey]);
    expect(one?.data.length).toBe(165);
    expect(missing).toBeNull();
    expect(supportedJsonRpcMethods).toEqual(
      expect.arrayContaining(["getLatestBlockhash", "sendTransaction", "getTransaction", "simulateTransaction"]),
    );
  });
});
