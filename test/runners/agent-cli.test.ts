import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import pino from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { generateKeypair, keypairFileContents } from "../../billing/receipts/ed25519.ts";
import {
  loadOrCreateWallet,
  RunnerCommandError,
  type RunnerCommandOptions,
  registerRunnerCommands,
  startRunner,
} from "../../runners/cli.ts";
import { FakeTunnelGateway } from "../fakes/fake-tunnel-gateway.ts";
import { TEST_NODE_TOKEN } from "../fakes/runner-agent-harness.ts";

const silent = pino({ level: "silent" });
let directory: string;

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), "hypernode-runner-cli-"));
});

afterEach(() => {
  rmSync(directory, { recursive: true, force: true });
});

function commandOptions(overrides: Partial<RunnerCommandOptions> = {}): RunnerCommandOptions {
  return {
    engine: "vllm",
    // Nothing listens on the discard port: the engine looks down, which the runner tolerates.
    engineUrl: "http://127.0.0.1:9",
    gateway: "http://127.0.0.1:8080",
    token: TEST_NODE_TOKEN,
    walletKeypair: join(directory, "wallet.json"),
    generateWallet: true,
    maxConcurrentJobs: 4,
    drainMs: 0,
    ...overrides,
  };
}

describe("runner wallet files", () => {
  it("creates an owner-only Solana keypair file when asked, then reads the same wallet back", () => {
    const path = join(directory, "nested", "wallet.json");
    const created = loadOrCreateWallet(path, true, silent);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(path, "utf8"))).toHaveLength(64);
    expect(loadOrCreateWallet(path, false, silent).address).toBe(created.address);
    // An existing wallet is never replaced, --generate-wallet or not.
    expect(loadOrCreateWallet(path, true, silent).address).toBe(created.address);
  });

  it("reads an existing solana-keygen file", () => {
    const wallet = generateKeypair();
    const path = join(directory, "id.json");
    writeFileSync(path, keypairFileContents(wallet));
    expect(loadOrCreateWallet(path, false, silent).address).toBe(wallet.address);
  });

  it("explains a missing or broken keypair file", () => {
    expect(() => loadOrCreateWallet(join(directory, "missing.json"), false, silent)).toThrow(/--generate-wallet/);
    const broken = join(directory, "broken.json");
    writeFileSync(broken, "[1,2,3]");
    expect(() => loadOrCreateWallet(broken, false, silent)).toThrow(RunnerCommandError);
  });
});

describe("hypernode runner", () => {
  it("registers the runner command with its options", () => {
    const program = new Command("hypernode");
    registerRunnerCommands(program);
    const runner = program.commands.find((command) => command.name() === "runner");
    expect(runner?.options.map((option) => option.long)).toEqual(
      expect.arrayContaining([
        "--engine",
        "--engine-url",
        "--gateway",
        "--token",
        "--wallet-keypair",
        "--generate-wallet",
        "--models",
        "--max-concurrent-jobs",
        "--json",
      ]),
    );
    expect(program.commands.map((command) => command.name())).toEqual(["runner"]);
  });

  it("refuses to start without a token or with an unknown model", () => {
    expect(() => startRunner(commandOptions({ token: undefined }), { logger: silent })).toThrow(/HN_NODE_TOKEN/);
    expect(() => startRunner(commandOptions({ models: ["gpt-9"] }), { logger: silent })).toThrow(/not in the catalog/);
    expect(() => startRunner(commandOptions({ engine: "sim", engineUrl: undefined }), { logger: silent })).toThrow(
      /--engine-url/,
    );
    expect(() => startRunner(commandOptions({ gateway: "ftp://example" }), { logger: silent })).toThrow(
      RunnerCommandError,
    );
  });

  it("connects to the gateway with the real engine adapter and stops cleanly", async () => {
    const gateway = await FakeTunnelGateway.start();
    try {
      const runner = startRunner(commandOptions({ gateway: gateway.url, runnerId: "runner-cli-test" }), {
        logger: silent,
      });
      await runner.started;
      const connection = await gateway.welcomed(0);
      expect(connection.hello).toMatchObject({
        runnerId: "runner-cli-test",
        engine: "vllm",
        models: [],
        maxConcurrentJobs: 4,
      });
      expect(connection.signatureValid).toBe(true);
      await runner.stop();
      expect((await connection.closed).code).toBe(1000);
    } finally {
      await gateway.close();
    }
  });
});
