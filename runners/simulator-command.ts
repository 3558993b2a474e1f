/**
 * `hypernode sim`: the engine simulator as a standalone server (vLLM's API on /v1, Ollama's on
 * /api, one port). Prints one JSON line with its URL so a parent process can find it.
 */
import type { Command } from "commander";
import { startSimulator } from "./simulator/server.ts";

function number(value: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0) throw new Error(`expected a non-negative number, got "${value}"`);
  return parsed;
}

export function registerSimulatorCommand(program: Command): void {
  program
    .command("sim")
    .description("run the engine simulator (vLLM and Ollama wire formats) for testing without GPUs")
    .option("--host <host>", "address to bind", "127.0.0.1")
    .option("--port <port>", "port (0 picks a free one)", number, 8000)
    .option("--models <ids>", "comma-separated catalog model ids to serve (default: all)")
    .option("--ttft-ms <ms>", "base time to first token", number, 20)
    .option("--token-latency-ms <ms>", "delay between output tokens", number, 5)
    .option("--batching-slowdown <fraction>", "per-token slowdown per extra concurrent request", number, 0.01)
    .option("--no-kv-cache", "disable the prefix KV-cache model")
    .action(
      async (options: {
        host: string;
        port: number;
        models?: string;
        ttftMs: number;
        tokenLatencyMs: number;
        batchingSlowdown: number;
        kvCache: boolean;
      }) => {
        const simulator = await startSimulator({
          host: options.host,
          port: options.port,
          models: options.models
            ?.split(",")
            .map((model) => model.trim())
            .filter(Boolean),
          timeToFirstTokenMs: options.ttftMs,
          perTokenLatencyMs: options.tokenLatencyMs,
          batchingSlowdown: options.batchingSlowdown,
          ...(options.kvCache ? {} : { kvCache: false as const }),
        });
        process.stdout.write(`${JSON.stringify({ event: "listening", service: "simulator", url: simulator.url })}\n`);
        const stop = async () => {
          await simulator.close();
          process.exit(0);
        };
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      },
    );
}
