/**
 * What every long-running `hypernode` command shares: validated configuration (a bad value
 * stops the process with a clear message), log settings, and a graceful stop on SIGINT/SIGTERM.
 */
import type { ModelCatalog } from "../../models/catalog.ts";
import { CatalogFileError, loadCatalog } from "../../models/catalog-file.ts";
import { ConfigurationError, type GatewayConfig, loadConfig } from "../config.ts";

/** Configuration and catalog, validated; a bad value stops the process with a clear message. */
export function loadConfigOrExit(): { config: GatewayConfig; catalog: ModelCatalog } {
  try {
    const config = loadConfig();
    return { config, catalog: loadCatalog(config.modelsFile) };
  } catch (error) {
    if (error instanceof ConfigurationError || error instanceof CatalogFileError) {
      process.stderr.write(`hypernode: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}

export function loggerOptions(config: GatewayConfig) {
  return { level: config.logLevel, redact: ["req.headers.authorization", "headers.authorization"] };
}

export function onSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = () => {
    if (stopping) return;
    stopping = true;
    void stop().finally(() => process.exit(0));
  };
  process.once("SIGINT", handler);
  process.once("SIGTERM", handler);
}
