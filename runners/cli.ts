/**
 * `hypernode runner`: the process a GPU host runs next to vLLM or Ollama. It dials the gateway
 * (no inbound port needed), serves jobs with the local engine and is paid to its wallet.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { type Command, InvalidArgumentError, Option } from "commander";
import pino, { type Logger } from "pino";
import {
  generateKeypair,
  keypairFileContents,
  readKeypairFile,
  type WalletKeypair,
} from "../billing/receipts/ed25519.ts";
import { ModelCatalog } from "../models/catalog.ts";
import { RunnerAgent } from "./agent/index.ts";
import type { EngineAdapter } from "./engines/engine.ts";
import { createEngineAdapter } from "./engines/index.ts";
import { detectGpus } from "./gpu.ts";
import type { EngineKind } from "./protocol.ts";

export const ENGINE_KINDS: readonly EngineKind[] = ["vllm", "ollama", "sim"];

/** Where each engine listens out of the box; the simulator has no fixed port. */
const DEFAULT_ENGINE_URLS: Partial<Record<EngineKind, string>> = {
  vllm: "http://127.0.0.1:8000",
  ollama: "http://127.0.0.1:11434",
};

export interface RunnerCommandOptions {
  engine: EngineKind;
  engineUrl?: string;
  engineApiKey?: string;
  gateway: string;
  token?: string;
  walletKeypair: string;
  generateWallet?: boolean;
  runnerId?: string;
  models?: string[];
  maxConcurrentJobs: number;
  drainMs: number;
  json?: boolean;
}

/** A bad command line: reported in one line, exit code 2. */
export class RunnerCommandError extends Error {}

export function registerRunnerCommands(program: Command): void {
  program
    .command("runner")
    .description(
      "run a runner: dial the gateway, serve its jobs with a local engine, sign receipts with a Solana wallet",
    )
    .addOption(
      new Option("--engine <kind>", "inference engine next to this runner").choices(ENGINE_KINDS).default("vllm"),
    )
    .option(
      "--engine-url <url>",
      "engine base URL (default: vllm http://127.0.0.1:8000, ollama http://127.0.0.1:11434)",
    )
    .addOption(new Option("--engine-api-key <key>", "vLLM's --api-key, if it was started with one").env("VLLM_API_KEY"))
    .addOption(
      new Option("--gateway <url>", "gateway base URL").env("HYPERNODE_GATEWAY_URL").default("http://127.0.0.1:8080"),
    )
    .addOption(new Option("--token <token>", "node token (hn_…) issued by the gateway operator").env("HN_NODE_TOKEN"))
    .option(
      "--wallet-keypair <path>",
      "Solana keypair JSON file: the wallet that signs receipts and is paid",
      join(homedir(), ".config", "solana", "id.json"),
    )
    .option("--generate-wallet", "create the keypair file if it does not exist")
    .option("--runner-id <id>", "stable runner id (default: runner- + the wallet address's first 12 characters)")
    .option("--models <ids>", "offer only these catalog models (comma-separated ids or aliases)", parseList)
    .option("--max-concurrent-jobs <count>", "jobs served at once before refusing as busy", parsePositiveInteger, 64)
    .option("--drain-ms <ms>", "on SIGINT/SIGTERM, how long in-flight jobs may finish", parseNonNegativeInteger, 8_000)
    .option("--json", "JSON log lines")
    .action(async (options: RunnerCommandOptions) => {
      try {
        const runner = startRunner(options);
        stopOnSignals(runner);
        await runner.started;
      } catch (error) {
        if (!(error instanceof RunnerCommandError)) throw error;
        process.stderr.write(`hypernode runner: ${error.message}\n`);
        process.exit(2);
      }
    });
}

export interface StartedRunner {
  agent: RunnerAgent;
  engine: EngineAdapter;
  logger: Logger;
  /** Settles at the first welcome; a refusal is logged, and the agent keeps retrying regardless. */
  started: Promise<void>;
  stop(): Promise<void>;
}

/** Builds the engine adapter and agent from the command's options and starts dialing. */
export function startRunner(options: RunnerCommandOptions, dependencies: { logger?: Logger } = {}): StartedRunner {
  const logger = dependencies.logger ?? createLogger(options.json ?? false);
  const token = options.token;
  if (!token) throw new RunnerCommandError("a node token is required: pass --token or set HN_NODE_TOKEN");
  const engineUrl = options.engineUrl ?? DEFAULT_ENGINE_URLS[options.engine];
  if (!engineUrl) throw new RunnerCommandError(`--engine-url is required with --engine ${options.engine}`);
  const wallet = loadOrCreateWallet(options.walletKeypair, options.generateWallet ?? false, logger);
  const catalog = ModelCatalog.builtIn();
  for (const model of options.models ?? []) {
    if (!catalog.resolve(model)) throw new RunnerCommandError(`--models: "${model}" is not in the catalog`);
  }
  let engine: EngineAdapter;
  let agent: RunnerAgent;
  try {
    // One engine connection per job the runner may run at once: a smaller pool would queue
    // streams behind each other with no output until the gateway's first-token timeout.
    engine = createEngineAdapter(options.engine, engineUrl, {
      connections: options.maxConcurrentJobs,
      ...(options.engineApiKey ? { apiKey: options.engineApiKey } : {}),
    });
    agent = new RunnerAgent({
      gatewayUrl: options.gateway,
      nodeToken: token,
      wallet,
      engine,
      catalog,
      runnerId: options.runnerId,
      models: options.models,
      detectGpus: () => detectGpus(),
      maxConcurrentJobs: options.maxConcurrentJobs,
      logger,
    });
  } catch (error) {
    // Bad URLs and the like: a configuration mistake, not a crash.
    throw new RunnerCommandError(error instanceof Error ? error.message : String(error));
  }
  logger.info(
    { engine: options.engine, engineUrl, gateway: options.gateway, wallet: wallet.address, runnerId: agent.runnerId },
    "runner starting",
  );
  let stopping: Promise<void> | undefined;
  const started = agent.start().catch((error: unknown) => {
    // The agent goes on redialing at the maximum backoff, so an operator can fix the token live.
    if (!stopping) logger.error({ err: error }, "not connected yet; still retrying");
  });
  return {
    agent,
    engine,
    logger,
    started,
    stop() {
      stopping ??= agent.stop({ drainMs: options.drainMs }).finally(() => engine.close());
      return stopping;
    },
  };
}

/** Reads the Solana keypair file, creating it (owner-only) first when asked to. */
export function loadOrCreateWallet(path: string, generate: boolean, logger: Logger): WalletKeypair {
  if (!existsSync(path)) {
    if (!generate)
      throw new RunnerCommandError(
        `no wallet keypair at ${path}: create one with solana-keygen, or pass --generate-wallet`,
      );
    const wallet = generateKeypair();
    mkdirSync(dirname(path), { recursive: true });
    // "wx" so two runners starting at once can never overwrite each other's new wallet.
    writeFileSync(path, keypairFileContents(wallet), { mode: 0o600, flag: "wx" });
    logger.info({ wallet: wallet.address, path }, "generated a new wallet; back this file up, payouts go to it");
    return wallet;
  }
  try {
    return readKeypairFile(path);
  } catch (error) {
    throw new RunnerCommandError(error instanceof Error ? error.message : String(error));
  }
}

function stopOnSignals(runner: StartedRunner): void {
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) {
      // A second signal means the operator will not wait for the drain.
      process.exit(130);
    }
    signalled = true;
    runner.logger.info({ signal }, "stopping: finishing in-flight jobs");
    runner
      .stop()
      .catch((error: unknown) => runner.logger.error({ err: error }, "error while stopping"))
      .finally(() => process.exit(0));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
}

/** JSON lines with --json; otherwise one readable line per entry. */
function createLogger(json: boolean): Logger {
  if (json) return pino({ level: process.env.LOG_LEVEL ?? "info" });
  return pino(
    { level: process.env.LOG_LEVEL ?? "info" },
    {
      write(line: string) {
        const {
          level,
          time,
          msg,
          pid: _pid,
          hostname: _hostname,
          err,
          ...fields
        } = JSON.parse(line) as Record<string, unknown>;
        // A one-line reason reads better on a console than pino's serialised stack.
        if (err !== undefined)
          fields.error = typeof err === "object" && err !== null && "message" in err ? err.message : err;
        const levelName = pino.levels.labels[Number(level)] ?? String(level);
        const details = Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : "";
        process.stdout.write(
          `${new Date(Number(time)).toISOString()} ${levelName.toUpperCase().padEnd(5)} ${String(msg)}${details}\n`,
        );
      },
    },
  );
}

function parseList(value: string): string[] {
  const items = value
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
  if (items.length === 0) throw new InvalidArgumentError("expected a comma-separated list");
  return items;
}

function parsePositiveInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError("expected a positive integer");
  return parsed;
}

function parseNonNegativeInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0)
    throw new InvalidArgumentError("expected a whole number of milliseconds");
  return parsed;
}
