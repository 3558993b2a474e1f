import { start } from "solana-bankrun";
import { SystemProgram, Transaction, Keypair, VersionedTransaction } from "@solana/web3.js";
import bs58 from "bs58";
const ctx = await start([], []);
const client = ctx.banksClient;
const to = Keypair.generate().publicKey;
const mk = (lamports: number) => { const tx = new Transaction().add(SystemProgram.transfer({fromPubkey: ctx.payer.publicKey, toPubkey: to, lamports})); tx.recentBlockhash = ctx.lastBlockhash; tx.feePayer = ctx.payer.publicKey; return tx; };
const unsigned = mk(5);
const vt = new VersionedTransaction(unsigned.compileMessage());
const sim = await client.simulateTransaction(vt);
console.log("sim unsigned", sim.result, sim.meta?.logMessages, sim.meta?.computeUnitsConsumed);
// bad signature
const bad = mk(6); bad.sign(ctx.payer); const w = bad.serialize(); w[5] ^= 1; const badv = VersionedTransaction.deserialize(w);
try { const r = await client.tryProcessTransaction(badv); console.log("bad sig result", r.result); } catch (e) { console.log("bad sig threw", (e as Error).message); }
console.log("bad status", await client.getTransactionStatus(bs58.encode(badv.signatures[0]!)));
// failing tx: transfer more than balance from a fresh funded account
const poor = Keypair.generate();
const f = new Transaction().add(SystemProgram.transfer({fromPubkey: ctx.payer.publicKey, toPubkey: poor.publicKey, lamports: 10_000_000})); f.recentBlockhash = ctx.lastBlockhash; f.feePayer = ctx.payer.publicKey; f.sign(ctx.payer);
await client.processTransaction(f);
const fail = new Transaction().add(SystemProgram.transfer({fromPubkey: poor.publicKey, toPubkey: to, lamports: 50_000_000})); fail.recentBlockhash = (await client.getLatestBlockhash())![0]; fail.feePayer = poor.publicKey; fail.sign(poor);
const fr = await client.tryProcessTransaction(fail);
console.log("fail result", fr.result, fr.meta?.logMessages);
const st = await client.getTransactionStatus(bs58.encode(fail.signature!));
console.log("fail status", st?.err, st?.slot, st?.confirmationStatus, st?.confirmations, await client.getBalance(poor.publicKey));
// old blockhash
const old = mk(7); old.recentBlockhash = "11111111111111111111111111111111"; old.sign(ctx.payer);
const or = await client.tryProcessTransaction(old); console.log("bh result", or.result);
const c = await client.getClock(); console.log(c.unixTimestamp, c.slot);
console.log(await client.getFeeForMessage(mk(1).compileMessage()));
