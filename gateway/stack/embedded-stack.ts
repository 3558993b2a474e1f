/**
 * `hypernode start`: the whole network on one machine — the gateway in this process, an
 * engine simulator and one runner as child processes — with a demo API key that works at once.
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { FastifyServerOptions } from "fastify";
import { generateSecret } from "../../billing/secrets.ts";
import type { ModelCatalog } from "../../models/catalog.ts";
import { buildGateway, type Gateway } from "../app.ts";
import type { GatewayConfig } from "../config.ts";
import { NODE_TOKEN_PREFIX } from "../runners/node-tokens.ts";
import { type StartedChild, startChild } from "./child-process.ts";
import { startGatewayServices } from "./gateway-services.ts";

export interface EmbeddedStack {
  url: string;
  /** The engine simulator's own URL (vLLM API on /v1, Ollama API on /api). */
  simulatorUrl: string;
  demoKey: string;
  adminToken: string;
  /** The funded demo intent the demo key spends from (local chain). */
  demoIntentId: string | undefined;
  gateway: Gateway;
  close(): Promise<void>;
}

export interface EmbeddedStackOptions {
  catalog: ModelCatalog;
  logger: FastifyServerOptions["logger"];
  /** Called when a child process dies on its own. */
  onChildExit?: (name: string, code: number | null) => void;
}

export async function startEmbeddedStack(config: GatewayConfig, options: EmbeddedStackOptions): Promise<EmbeddedStack> {
  const dataDirectory = resolve(config.dataDirectory);
  mkdirSync(dataDirectory, { recursive: true });
  const demoKey = config.demoKey ?? generateSecret("sk-hn-demo-");
  const adminToken = config.adminToken ?? generateSecret("hn_admin_");
  const nodeToken = config.nodeToken ?? generateSecret(NODE_TOKEN_PREFIX);
  const settings = { ...config, adminToken, nodeToken };
  const started = await startGatewayServices(settings, options.catalog, { demoKey, fundDemoIntent: true });
  const { services } = started;

  const gateway = await buildGateway(settings, services, options.logger);
  gateway.app.addHook("onClose", started.close);
  await gateway.app.listen({ host: config.host, port: config.port });
  const address = gateway.app.server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;

  const children: StartedChild[] = [];
  let simulatorUrl = "";
  const close = async () => {
    await Promise.allSettled(children.map((child) => child.stop()));
    await gateway.app.close();
  };
  try {
    const simulator = await startChild({
      name: "simulator",
      args: ["sim", "--port", "0"],
      awaitListening: true,
      onExit: (code) => options.onChildExit?.("simulator", code),
    });
    children.push(simulator);
    simulatorUrl = String(simulator.announcement?.url);
    const runnerOnline = new Promise<void>((resolveOnline, rejectOnline) => {
      const timer = setTimeout(
        () => rejectOnline(new Error("the embedded runner did not come online within 30 s")),
        30_000,
      );
      services.registry.once("runnerOnline", () => {
        clearTimeout(timer);
        resolveOnline();
      });
    });
    const runner = await startChild({
      name: "runner",
      args: [
        "runner",
        "--engine",
        "sim",
        "--engine-url",
        simulatorUrl,
        "--gateway",
        url,
        "--wallet-keypair",
        join(dataDirectory, "runner-wallet.json"),
        "--generate-wallet",
      ],
      environment: { HN_NODE_TOKEN: nodeToken },
      awaitListening: false,
      onExit: (code) => options.onChildExit?.("runner", code),
    });
    children.push(runner);
    await runnerOnline;
  } catch (error) {
    await close();
    throw error;
  }
  return { url, simulatorUrl, demoKey, adminToken, demoIntentId: started.demoIntentId, gateway, close };
}
