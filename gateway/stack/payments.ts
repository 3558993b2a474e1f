/**
 * The payment rail a gateway settles on: the in-process local chain (embedded stack, tests) or a
 * real cluster over RPC (`SOLANA_RPC_URL`, with the settlement authority's keypair and the mint).
 */
import { readFileSync } from "node:fs";
import { Keypair, LAMPORTS_PER_SOL, PublicKey, Transaction } from "@solana/web3.js";
import { IntentService } from "../../billing/intents.ts";
import type { BillingStore } from "../../billing/store/types.ts";
import type { Chain } from "../../programs/chain.ts";
import { LocalChain } from "../../programs/local-chain.ts";
import { RpcChain } from "../../programs/rpc-chain.ts";

export const LOCAL_MINT_DECIMALS = 6;

export interface Payments {
  chain: Chain;
  /** Present for the in-process chain: it also answers JSON-RPC at `/solana`. */
  localChain: LocalChain | undefined;
  intents: IntentService;
  settlementAuthority: Keypair;
  mint: PublicKey;
  decimals: number;
}

/** A fresh local chain with a settlement authority and a 6-decimal settlement mint. */
export async function startLocalPayments(store: BillingStore): Promise<Payments> {
  const chain = await LocalChain.start();
  const settlementAuthority = Keypair.generate();
  await chain.fundSol(settlementAuthority.publicKey, BigInt(100 * LAMPORTS_PER_SOL));
  const mint = await chain.createMint(LOCAL_MINT_DECIMALS);
  const intents = new IntentService({ store, chain, settlementAuthority, mint, decimals: LOCAL_MINT_DECIMALS });
  return { chain, localChain: chain, intents, settlementAuthority, mint, decimals: LOCAL_MINT_DECIMALS };
}

/** A real cluster: the authority signs refunds and payouts, so its keypair file must be given. */
export async function connectClusterPayments(
  store: BillingStore,
  settings: { rpcUrl: string; settlementKeypairPath: string; mint: string },
): Promise<Payments> {
  const secret = Uint8Array.from(JSON.parse(readFileSync(settings.settlementKeypairPath, "utf8")) as number[]);
  const settlementAuthority = Keypair.fromSecretKey(secret);
  const chain = new RpcChain(settings.rpcUrl);
  const mint = new PublicKey(settings.mint);
  const decimals = await chain.mintDecimals(mint);
  const intents = new IntentService({ store, chain, settlementAuthority, mint, decimals });
  return { chain, localChain: undefined, intents, settlementAuthority, mint, decimals };
}

/**
 * A demo payer with tokens, and a funded intent for `accountId` paid for by that payer through
 * the real path (unsigned transaction → payer signs → chain → confirm).
 */
export async function fundDemoIntent(
  payments: Payments & { localChain: LocalChain },
  accountId: string,
  amount: bigint,
): Promise<{ intentId: string; payer: Keypair }> {
  const payer = Keypair.generate();
  await payments.localChain.fundSol(payer.publicKey, BigInt(LAMPORTS_PER_SOL));
  await payments.localChain.mintTo(payments.mint, payer.publicKey, amount * 10n);
  const created = await payments.intents.create({ accountId, payer: payer.publicKey.toBase58(), amount });
  const transaction = Transaction.from(Buffer.from(created.fundingTransaction, "base64"));
  transaction.partialSign(payer);
  const signature = await payments.chain.send(transaction);
  await payments.intents.confirm(accountId, created.intent.id, signature);
  return { intentId: created.intent.id, payer };
}
