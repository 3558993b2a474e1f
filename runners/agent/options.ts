/** The agent's options and the defaults filled in for those left out. */
import pino, { type Logger } from "pino";
import type { WalletKeypair } from "../../billing/receipts/ed25519.ts";
import type { ModelCatalog } from "../../models/catalog.ts";
import type { EngineAdapter } from "../engines/engine.ts";
import { type GpuInfo, TUNNEL_PATH } from "../protocol.ts";
import type { BackoffSettings } from "./backoff.ts";

export const RUNNER_AGENT_VERSION = "0.1.0";

export interface RunnerAgentOptions {
  /** http(s)://host:port of the gateway (ws(s):// is accepted too); the agent dials its tunnel path. */
  gatewayUrl: string;
  /** Node token ("hn_…"), sent as `authorization: Bearer <token>` on the upgrade. */
  nodeToken: string;
  wallet: WalletKeypair;
  engine: EngineAdapter;
  catalog: ModelCatalog;
  /** Default: "runner-" + the first 12 characters of the wallet address. */
  runnerId?: string;
  /** Offer only these catalog ids (default: every catalog model the engine serves). */
  models?: string[];
  /** Default reports no GPUs. */
  detectGpus?: () => Promise<GpuInfo[]>;
  /** Default 64. */
  maxConcurrentJobs?: number;
  version?: string;
  /** Exponential backoff with full jitter; defaults 500 ms / 30 000 ms. */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
  /** Default: silent. */
  logger?: Logger;
}

export interface ResolvedAgentSettings {
  tunnelUrl: string;
  nodeToken: string;
  wallet: WalletKeypair;
  engine: EngineAdapter;
  catalog: ModelCatalog;
  initialRunnerId: string;
  allowedModels: ReadonlySet<string> | undefined;
  detectGpus: () => Promise<GpuInfo[]>;
  maxConcurrentJobs: number;
  version: string;
  backoff: BackoffSettings;
  logger: Logger;
}

export function resolveAgentSettings(options: RunnerAgentOptions): ResolvedAgentSettings {
  const maxConcurrentJobs = options.maxConcurrentJobs ?? 64;
  if (!Number.isInteger(maxConcurrentJobs) || maxConcurrentJobs < 1)
    throw new Error(`maxConcurrentJobs must be a positive integer, got ${maxConcurrentJobs}`);
  const initialDelayMs = options.reconnect?.initialDelayMs ?? 500;
  const maxDelayMs = Math.max(initialDelayMs, options.reconnect?.maxDelayMs ?? 30_000);
  if (!options.nodeToken) throw new Error("a node token is required");
  return {
    tunnelUrl: tunnelUrlFor(options.gatewayUrl),
    nodeToken: options.nodeToken,
    wallet: options.wallet,
    engine: options.engine,
    catalog: options.catalog,
    initialRunnerId: options.runnerId ?? `runner-${options.wallet.address.slice(0, 12)}`,
    allowedModels: options.models ? resolveAllowedModels(options.models, options.catalog) : undefined,
    detectGpus: options.detectGpus ?? (async () => []),
    maxConcurrentJobs,
    version: options.version ?? RUNNER_AGENT_VERSION,
    backoff: { initialDelayMs, maxDelayMs },
    logger: options.logger ?? pino({ level: "silent" }),
  };
}

/** Maps the gateway's base URL to its tunnel endpoint, keeping any path prefix a reverse proxy adds. */
export function tunnelUrlFor(gatewayUrl: string): string {
  const url = new URL(gatewayUrl);
  const schemes: Record<string, string> = { "http:": "ws:", "https:": "wss:", "ws:": "ws:", "wss:": "wss:" };
  const scheme = schemes[url.protocol];
  if (!scheme) throw new Error(`the gateway URL must be http(s):// or ws(s)://, got ${gatewayUrl}`);
  url.protocol = scheme;
  url.pathname = `${url.pathname.replace(/\/+$/, "")}${TUNNEL_PATH}`;
  return url.toString();
}

/** Aliases are accepted on the command line; the allow-list holds canonical ids. */
function resolveAllowedModels(models: string[], catalog: ModelCatalog): Set<string> {
  const allowed = new Set<string>();
  for (const name of models) {
    const entry = catalog.resolve(name);
    if (!entry) throw new Error(`unknown model "${name}": not in the catalog`);
    allowed.add(entry.id);
  }
  return allowed;
}
