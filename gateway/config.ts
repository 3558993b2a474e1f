/**
 * Gateway configuration from environment variables, validated once at boot. A bad value stops
 * the process with a message naming the variable; no setting at all gives the embedded default.
 */
import { z } from "zod";

const port = z.coerce.number().int().min(0).max(65535);
const positiveMs = z.coerce.number().int().positive();
const webhookUrl = z.url({ protocol: /^https?$/, error: "must be comma-separated http(s) URLs" });
const splitList = (value: string) =>
  value
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");

const environmentSchema = z.object({
  PORT: port.default(8080),
  HYPERNODE_HOST: z.string().min(1).default("127.0.0.1"),
  HYPERNODE_DATA_DIR: z.string().min(1).default("./.hypernode"),
  HYPERNODE_DEMO_KEY: z.string().min(8, "must be at least 8 characters").optional(),
  HYPERNODE_ADMIN_TOKEN: z.string().min(16, "must be at least 16 characters").optional(),
  HYPERNODE_NODE_TOKEN: z
    .string()
    .regex(/^hn_[A-Za-z0-9_-]{16,}$/, "must look like hn_ followed by 16+ characters")
    .optional(),
  HYPERNODE_BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(4 * 1024 * 1024),
  HYPERNODE_FIRST_TOKEN_TIMEOUT_MS: positiveMs.default(60_000),
  HYPERNODE_TOTAL_TIMEOUT_MS: positiveMs.default(600_000),
  HYPERNODE_HEARTBEAT_INTERVAL_MS: positiveMs.default(15_000),
  HYPERNODE_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(10).default(3),
  HYPERNODE_MODELS_FILE: z.string().min(1).optional(),
  HYPERNODE_BILLING: z.enum(["on", "off"]).default("on"),
  HYPERNODE_HOLD_TTL_MS: positiveMs.default(15 * 60_000),
  HYPERNODE_SETTLEMENT_INTERVAL_MS: z.coerce.number().int().min(0).default(60_000),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  // A redis:// URL, or the absolute path of a unix socket.
  REDIS_URL: z.union([z.string().url(), z.string().regex(/^\/\S+$/)]).optional(),
  SOLANA_RPC_URL: z.string().url().optional(),
  HYPERNODE_SETTLEMENT_KEYPAIR: z.string().min(1).optional(),
  HYPERNODE_MINT: z
    .string()
    .regex(/^[1-9A-HJ-NP-Za-km-z]{32,44}$/, "must be a base58 mint address")
    .optional(),
  HYPERNODE_WEBHOOK_URLS: z.string().transform(splitList).pipe(z.array(webhookUrl)).optional(),
  HYPERNODE_WEBHOOK_SECRET: z.string().min(16, "must be at least 16 characters").optional(),
  HYPERNODE_WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(6),
});

export interface GatewayConfig {
  host: string;
  port: number;
  dataDirectory: string;
  demoKey: string | undefined;
  adminToken: string | undefined;
  nodeToken: string | undefined;
  bodyLimitBytes: number;
  firstTokenTimeoutMs: number;
  totalTimeoutMs: number;
  heartbeatIntervalMs: number;
  maxAttempts: number;
  logLevel: string;
  /** JSON file extending or overriding the built-in model catalog. */
  modelsFile: string | undefined;
  /** Off: requests run without holds or charges (records are still kept). */
  billingEnabled: boolean;
  holdTtlMs: number;
  /** How often the leader runs a settlement round; 0 = only on demand (POST /admin/settle). */
  settlementIntervalMs: number;
  redisUrl: string | undefined;
  solanaRpcUrl: string | undefined;
  /** Keypair file of the authority owning escrows (required with SOLANA_RPC_URL). */
  settlementKeypairPath: string | undefined;
  /** Settlement mint (required with SOLANA_RPC_URL). */
  mint: string | undefined;
  /** Where events are POSTed, signed with the secret; undefined when no URL is set. */
  webhooks: WebhookSettings | undefined;
}

export interface WebhookSettings {
  urls: string[];
  secret: string;
  maxAttempts: number;
}

export class ConfigurationError extends Error {
  override name = "ConfigurationError";
}

export function loadConfig(environment: NodeJS.ProcessEnv = process.env): GatewayConfig {
  // Empty strings are "unset": shells and compose files often export VAR= for nothing.
  const present = Object.fromEntries(
    Object.entries(environment).filter(([, value]) => value !== undefined && value !== ""),
  );
  const parsed = environmentSchema.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
    throw new ConfigurationError(`invalid configuration:\n  ${problems.join("\n  ")}`);
  }
  const values = parsed.data;
  if (values.SOLANA_RPC_URL && (!values.HYPERNODE_SETTLEMENT_KEYPAIR || !values.HYPERNODE_MINT)) {
    throw new ConfigurationError(
      "invalid configuration:\n  SOLANA_RPC_URL: a real cluster also needs HYPERNODE_SETTLEMENT_KEYPAIR and HYPERNODE_MINT",
    );
  }
  const webhookUrls = values.HYPERNODE_WEBHOOK_URLS ?? [];
  // Unsigned webhooks would let anyone who finds the receiver's URL forge events.
  if (webhookUrls.length > 0 && !values.HYPERNODE_WEBHOOK_SECRET) {
    throw new ConfigurationError(
      "invalid configuration:\n  HYPERNODE_WEBHOOK_SECRET: required when HYPERNODE_WEBHOOK_URLS is set",
    );
  }
  return {
    host: values.HYPERNODE_HOST,
    port: values.PORT,
    dataDirectory: values.HYPERNODE_DATA_DIR,
    demoKey: values.HYPERNODE_DEMO_KEY,
    adminToken: values.HYPERNODE_ADMIN_TOKEN,
    nodeToken: values.HYPERNODE_NODE_TOKEN,
    bodyLimitBytes: values.HYPERNODE_BODY_LIMIT_BYTES,
    firstTokenTimeoutMs: values.HYPERNODE_FIRST_TOKEN_TIMEOUT_MS,
    totalTimeoutMs: values.HYPERNODE_TOTAL_TIMEOUT_MS,
    heartbeatIntervalMs: values.HYPERNODE_HEARTBEAT_INTERVAL_MS,
    maxAttempts: values.HYPERNODE_MAX_ATTEMPTS,
    logLevel: values.LOG_LEVEL,
    modelsFile: values.HYPERNODE_MODELS_FILE,
    billingEnabled: values.HYPERNODE_BILLING === "on",
    holdTtlMs: values.HYPERNODE_HOLD_TTL_MS,
    settlementIntervalMs: values.HYPERNODE_SETTLEMENT_INTERVAL_MS,
    redisUrl: values.REDIS_URL,
    solanaRpcUrl: values.SOLANA_RPC_URL,
    settlementKeypairPath: values.HYPERNODE_SETTLEMENT_KEYPAIR,
    mint: values.HYPERNODE_MINT,
    webhooks:
      webhookUrls.length > 0 && values.HYPERNODE_WEBHOOK_SECRET
        ? {
            urls: webhookUrls,
            secret: values.HYPERNODE_WEBHOOK_SECRET,
            maxAttempts: values.HYPERNODE_WEBHOOK_MAX_ATTEMPTS,
          }
        : undefined,
  };
}
