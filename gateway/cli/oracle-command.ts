/**
 * `hypernode oracle`: the usage oracle as its own process, with its own keypair. It reads
 * intents and spends nullifiers in the same store as the gateway (`HYPERNODE_DATA_DIR` or
 * `REDIS_URL`), asks the gateway which wallet each runner registered, and accepts batches only
 * from the gateways it is told to trust.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { Command } from "commander";
import Fastify from "fastify";
import { Oracle } from "../../billing/oracle/oracle.ts";
import { generateKeypair, keypairFileContents, readKeypairFile } from "../../billing/receipts/ed25519.ts";
import errorsPlugin from "../plugins/errors.ts";
import oracleRoutes from "../routes/oracle.ts";
import { openBillingStore } from "../stack/billing-store.ts";
import { storeNullifiers } from "../stack/settlement.ts";
import { GatewayClient } from "./gateway-client.ts";
import { loadConfigOrExit, loggerOptions, onSignals } from "./process.ts";

/** Records must be younger than this when their batch was signed. */
const MAX_RECORD_AGE_MS = 30 * 24 * 60 * 60 * 1000;
/** How long the runner → wallet directory fetched from the gateway is trusted. */
const RUNNER_DIRECTORY_TTL_MS = 5_000;

interface OracleCommandOptions {
  port: string;
  keypair: string;
  trust?: string;
  gateway: string;
  adminToken?: string;
  threshold: string;
}

/** Runner id → registered wallet, from the gateway's admin API, refreshed when stale or unknown. */
function runnerDirectory(client: GatewayClient) {
  let wallets = new Map<string, string>();
  let fetchedAt = 0;
  const refresh = async () => {
    const { runners } = await client.call<{ runners: { id: string; wallet: string }[] }>("GET", "/admin/runners");
    wallets = new Map(runners.map((runner) => [runner.id, runner.wallet]));
    fetchedAt = Date.now();
  };
  return {
    async isRegisteredRunnerWallet(nodeId: string, wallet: string): Promise<boolean> {
      if (Date.now() - fetchedAt > RUNNER_DIRECTORY_TTL_MS || !wallets.has(nodeId)) await refresh();
      return wallets.get(nodeId) === wallet;
    },
  };
}

export function registerOracleCommand(program: Command): void {
  program
    .command("oracle")
    .description("run the usage oracle alone (POST /api/oracle/verify)")
    .option("--port <port>", "port to listen on", "8090")
    .option("--keypair <path>", "the oracle's keypair file (created when missing)", "./.hypernode/oracle-keypair.json")
    .option(
      "--trust <addresses>",
      "comma-separated base58 keys of the gateways whose batches count (HYPERNODE_TRUSTED_GATEWAYS)",
    )
    .option(
      "--gateway <url>",
      "gateway whose runner registry to consult (HYPERNODE_GATEWAY_URL)",
      process.env.HYPERNODE_GATEWAY_URL ?? "http://127.0.0.1:8080",
    )
    .option(
      "--admin-token <token>",
      "the gateway's admin token (HYPERNODE_ADMIN_TOKEN)",
      process.env.HYPERNODE_ADMIN_TOKEN,
    )
    .option("--threshold <score>", "minimum score to accept a record", "0.8")
    .action(async (options: OracleCommandOptions) => {
      const { config, catalog } = loadConfigOrExit();
      const trusted = (options.trust ?? process.env.HYPERNODE_TRUSTED_GATEWAYS ?? "")
        .split(",")
        .map((address) => address.trim())
        .filter(Boolean);
      const threshold = Number(options.threshold);
      const port = Number(options.port);
      if (trusted.length === 0 || !(threshold >= 0 && threshold <= 1) || !Number.isInteger(port)) {
        process.stderr.write(
          "hypernode: oracle needs --trust <gateway keys>, a --threshold within 0..1 and an integer --port\n",
        );
        process.exit(2);
      }
      mkdirSync(dirname(options.keypair), { recursive: true });
      if (!existsSync(options.keypair))
        writeFileSync(options.keypair, keypairFileContents(generateKeypair()), { mode: 0o600 });
      const keypair = readKeypairFile(options.keypair);
      const store = await openBillingStore(config);
      const oracle = new Oracle(
        {
          runners: runnerDirectory(new GatewayClient({ url: options.gateway, bearerToken: options.adminToken })),
          catalog,
          intents: {
            intentStatus: async (intentId) => {
              const intent = await store.getIntent(intentId);
              return intent ? { state: intent.state, funded: intent.funded, closedAt: intent.closedAt } : undefined;
            },
          },
          nullifiers: storeNullifiers(store),
          // Without the gateway's schedule, the window is bounded by the batch's signed time.
          epochs: {
            epochBounds: (_epoch, batch) => ({
              startMs: batch.createdAt - MAX_RECORD_AGE_MS,
              endMs: batch.createdAt + 1,
            }),
          },
        },
        { keypair, trustedGateways: trusted, threshold },
      );
      const app = Fastify({ logger: loggerOptions(config), bodyLimit: 256 * 1024 * 1024 });
      await app.register(errorsPlugin, { bodyLimitBytes: 256 * 1024 * 1024 });
      await app.register(oracleRoutes, { oracle });
      app.addHook("onClose", () => store.close());
      await app.listen({ host: config.host, port });
      const address = app.server.address();
      const url = `http://${config.host}:${typeof address === "object" && address ? address.port : port}`;
      process.stdout.write(
        `${JSON.stringify({ event: "listening", service: "oracle", url, publicKey: oracle.publicKey })}\n`,
      );
      onSignals(() => app.close());
    });
}
