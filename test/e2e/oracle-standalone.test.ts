/**
 * `hypernode oracle` started on its own, next to a gateway: it verifies a batch of real usage
 * records over HTTP against the shared store and the gateway's runner registry, signs proofs,
 * and refuses a replay and an untrusted signer.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { buildBatch } from "../../billing/batches/batch.ts";
import { encodeBatchJson } from "../../billing/batches/batch-json.ts";
import { type UsageProof, verifyUsageProof } from "../../billing/oracle/usage-proof.ts";
import { generateKeypair } from "../../billing/receipts/ed25519.ts";
import { SqliteBillingStore } from "../../billing/store/sqlite-store.ts";
import { startTestStack, type TestStack } from "../support/test-stack.ts";

const BIN = fileURLToPath(new URL("../../bin/hypernode.js", import.meta.url));
const gatewayKeypair = generateKeypair();
let stack: TestStack;
let oracleProcess: ChildProcess;
let oracleUrl = "";
let oracleKey = "";

beforeAll(async () => {
  const dataDirectory = mkdtempSync(join(tmpdir(), "hn-oracle-"));
  const store = SqliteBillingStore.open(join(dataDirectory, "hypernode.db"));
  stack = await startTestStack({ runners: 2, billing: { store, fundedAmount: 10_000_000n } });
  for (let request = 0; request < 6; request++) {
    const response = await fetch(`${stack.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: "qwen2.5-7b-instruct",
        max_tokens: 12,
        messages: [{ role: "user", content: "Prove this." }],
      }),
    });
    await response.text();
  }
  oracleProcess = spawn(
    process.execPath,
    [
      BIN,
      "oracle",
      "--port",
      "0",
      "--keypair",
      join(dataDirectory, "oracle.json"),
      "--trust",
      gatewayKeypair.address,
      "--gateway",
      stack.url,
    ],
    {
      env: {
        ...process.env,
        HYPERNODE_DATA_DIR: dataDirectory,
        HYPERNODE_ADMIN_TOKEN: stack.adminToken,
        LOG_LEVEL: "warn",
      },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const announcement = await new Promise<{ url: string; publicKey: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("oracle did not start")), 30_000);
    createInterface({ input: oracleProcess.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      if (!line.includes('"service":"oracle"')) return;
      clearTimeout(timer);
      resolve(JSON.parse(line) as { url: string; publicKey: string });
    });
  });
  oracleUrl = announcement.url;
  oracleKey = announcement.publicKey;
}, 60_000);

afterAll(async () => {
  oracleProcess?.kill("SIGTERM");
  await stack?.close();
});

async function verify(batch: ReturnType<typeof buildBatch>) {
  const response = await fetch(`${oracleUrl}/api/oracle/verify`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(encodeBatchJson(batch)),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as {
    success: boolean;
    verificationId: string;
    verificationScore: number;
    message: string;
  };
}

it("verifies real records, signs proofs, and refuses replays and untrusted gateways", async () => {
  expect(((await (await fetch(`${oracleUrl}/api/oracle`)).json()) as { publicKey: string }).publicKey).toBe(oracleKey);
  const records = await stack.store.listUsage({}, 100);
  expect(records.length).toBe(6);
  const batch = buildBatch({ epoch: 1, records, gatewayKeypair, createdAt: Date.now() });

  const verdict = await verify(batch);
  expect(verdict).toMatchObject({ success: true, verificationScore: 1 });
  const detail = (await (await fetch(`${oracleUrl}/api/oracle/verifications/${verdict.verificationId}`)).json()) as {
    proofs: (Omit<UsageProof, "charge"> & { charge: string })[];
  };
  expect(detail.proofs).toHaveLength(6);
  for (const proof of detail.proofs) {
    expect(proof.oraclePublicKey).toBe(oracleKey);
    expect(verifyUsageProof({ ...proof, charge: BigInt(proof.charge) }, oracleKey)).toBe(true);
  }

  const replay = await verify(buildBatch({ epoch: 2, records, gatewayKeypair, createdAt: Date.now() }));
  expect(replay.success).toBe(false);
  expect(replay.verificationScore).toBe(0);

  const untrusted = await verify(
    buildBatch({ epoch: 3, records, gatewayKeypair: generateKeypair(), createdAt: Date.now() }),
  );
  expect(untrusted.success).toBe(false);
});
