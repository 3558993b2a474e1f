/**
 * Starting the stack's other processes (simulator, runner) through the `hypernode` command, so
 * the embedded stack runs exactly what a GPU host runs, one process each.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const HYPERNODE_BIN = fileURLToPath(new URL("../../bin/hypernode.js", import.meta.url));

export interface StartedChild {
  process: ChildProcess;
  /** The first JSON line the child printed with `event: "listening"`, if awaited. */
  announcement: Record<string, unknown> | undefined;
  stop(): Promise<void>;
}

export interface ChildOptions {
  name: string;
  args: string[];
  environment?: NodeJS.ProcessEnv;
  /** Wait for a `{"event":"listening",…}` line on stdout before resolving. */
  awaitListening: boolean;
  timeoutMs?: number;
  onExit?: (code: number | null, signal: NodeJS.Signals | null) => void;
}

export async function startChild(options: ChildOptions): Promise<StartedChild> {
  const child = spawn(process.execPath, [HYPERNODE_BIN, ...options.args], {
    env: { ...process.env, ...options.environment, HYPERNODE_EXIT_WITH_PARENT: "1" },
    // Our end of the child's stdin stays open for our lifetime; its closing tells the child we died.
    stdio: ["pipe", "pipe", "inherit"],
  });
  let stopping = false;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.once("exit", (code, signal) => {
    if (!stopping) options.onExit?.(code, signal);
  });

  const lines = createInterface({ input: child.stdout });
  let announcement: Record<string, unknown> | undefined;
  const listening = new Promise<void>((resolve, reject) => {
    if (!options.awaitListening) return resolve();
    const timer = setTimeout(
      () => reject(new Error(`${options.name} did not start within ${options.timeoutMs ?? 30_000} ms`)),
      options.timeoutMs ?? 30_000,
    );
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${options.name} exited with code ${code} while starting`));
    });
    lines.on("line", (line) => {
      if (announcement === undefined && line.startsWith("{")) {
        try {
          const parsed = JSON.parse(line) as Record<string, unknown>;
          if (parsed.event === "listening") {
            announcement = parsed;
            clearTimeout(timer);
            resolve();
            return;
          }
        } catch {
          // Not the announcement: an ordinary log line.
        }
      }
    });
  });
  // Everything else the child prints passes through as its log.
  lines.on("line", (line) => {
    if (announcement === undefined || !line.includes('"event":"listening"')) process.stdout.write(`${line}\n`);
  });

  try {
    await listening;
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  return {
    process: child,
    get announcement() {
      return announcement;
    },
    async stop() {
      stopping = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const killTimer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(killTimer);
    },
  };
}
