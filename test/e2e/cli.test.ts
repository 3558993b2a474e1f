/**
 * The `hypernode` CLI as users run it (a child process) against a running gateway: keys,
 * intents funded with a payer keypair file through the gateway's local chain, and reports.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { getAssociatedTokenAddressSync } from "@solana/spl-token";
import { Keypair, LAMPORTS_PER_SOL } from "@solana/web3.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestStack, type TestStack } from "../support/test-stack.ts";

const run = promisify(execFile);
const BIN = fileURLToPath(new URL("../../bin/hypernode.js", import.meta.url));
let stack: TestStack;

async function hypernode(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [BIN, ...args], { env: { ...process.env, HYPERNODE_URL: stack.url } });
  return stdout;
}

beforeAll(async () => {
  stack = await startTestStack({ payments: true, billing: { fundedAmount: 1n } });
}, 60_000);
afterAll(async () => {
  await stack?.close();
});

describe("hypernode CLI", () => {
  it("creates a key for a new account; the key works and is shown once", async () => {
    const created = JSON.parse(
      await hypernode("keys", "create", "--name", "acme", "--admin-token", stack.adminToken, "--json"),
    ) as {
      key: string;
      account_id: string;
    };
    expect(created.key).toMatch(/^sk-hn-/);
    const models = await fetch(`${stack.url}/v1/models`, { headers: { authorization: `Bearer ${created.key}` } });
    expect(models.status).toBe(200);
    const listed = await fetch(`${stack.url}/admin/keys?account=${created.account_id}`, {
      headers: { authorization: `Bearer ${stack.adminToken}` },
    });
    expect(JSON.stringify(await listed.json())).not.toContain(created.key);
  });

  it("creates and funds an intent from a keypair file, shows it, spends it, and closes it with a refund", async () => {
    const payments = stack.payments;
    if (!payments?.localChain) throw new Error("no local chain");
    const payer = Keypair.generate();
    await payments.localChain.fundSol(payer.publicKey, BigInt(LAMPORTS_PER_SOL));
    await payments.localChain.mintTo(payments.mint, payer.publicKey, 9_000_000n);
    const keypairPath = join(mkdtempSync(join(tmpdir(), "hn-cli-")), "payer.json");
    writeFileSync(keypairPath, JSON.stringify(Array.from(payer.secretKey)));

    const created = JSON.parse(
      await hypernode(
        "intents",
        "create",
        "--amount",
        "5000000",
        "--payer-keypair",
        keypairPath,
        "--api-key",
        stack.apiKey,
        "--json",
      ),
    ) as { id: string; state: string; funded: string };
    expect(created).toMatchObject({ state: "active", funded: "5000000" });

    const response = await fetch(`${stack.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: "qwen2.5-7b-instruct",
        max_tokens: 5,
        messages: [{ role: "user", content: "hi" }],
      }),
    });
    expect(response.status).toBe(200);
    await response.text();

    const shown = await hypernode("intents", "show", created.id, "--api-key", stack.apiKey);
    expect(shown).toContain(`intent ${created.id}  active`);
    const spent = BigInt(/spent (\d+)/.exec(shown)?.[1] ?? "0");
    expect(spent).toBeGreaterThan(0n);

    const closed = JSON.parse(await hypernode("intents", "close", created.id, "--api-key", stack.apiKey, "--json")) as {
      state: string;
      refunded: string;
    };
    expect(closed).toMatchObject({ state: "closed", refunded: (5_000_000n - spent).toString() });
    const balance = await payments.localChain.tokenBalance(
      getAssociatedTokenAddressSync(payments.mint, payer.publicKey),
    );
    expect(balance).toBe(9_000_000n - spent);

    const csv = await hypernode("billing", "report", "--by", "intent", "--csv", "--admin-token", stack.adminToken);
    const row = csv.split("\n").find((line) => line.startsWith(created.id));
    expect(row?.split(",").at(-1)).toBe(spent.toString());
  }, 60_000);

  it("fails clearly without credentials or with a bad gateway", async () => {
    await expect(hypernode("intents", "show", "in_x")).rejects.toMatchObject({
      stderr: expect.stringContaining("API key is required"),
    });
    await expect(hypernode("runners", "--url", "http://127.0.0.1:1", "--admin-token", "x")).rejects.toMatchObject({
      stderr: expect.stringContaining("cannot reach the gateway"),
    });
  });
});
