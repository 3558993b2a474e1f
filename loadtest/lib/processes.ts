/**
 * Child processes of the harness: `node bin/hypernode.js …` only. Each child's output is kept in
 * a small ring buffer (for the report when something fails), every child is tracked so that the
 * harness never leaves one behind (SIGTERM, then SIGKILL after a grace period; SIGKILL on exit).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

export const REPOSITORY_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const HYPERNODE_BIN = fileURLToPath(new URL("../../bin/hypernode.js", import.meta.url));
const LOG_LINES_KEPT = 40;
const STOP_GRACE_MS = 5_000;

const running = new Set<Service>();

export interface ServiceOptions {
  name: string;
  /** Arguments after `bin/hypernode.js`. */
  args: string[];
  env?: Record<string, string>;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeFlags?: string[];
}

export class Service {
  readonly name: string;
  readonly pid: number;
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private readonly log: string[] = [];
  private readonly lineWaiters: Array<(line: string) => boolean> = [];
  private exitCode: number | null | undefined;

  constructor(options: ServiceOptions) {
    this.name = options.name;
    this.child = spawn(process.execPath, [...(options.nodeFlags ?? []), HYPERNODE_BIN, ...options.args], {
      cwd: REPOSITORY_ROOT,
      env: { ...inheritedEnvironment(), ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    if (this.child.pid === undefined) throw new Error(`could not start ${options.name}`);
    this.pid = this.child.pid;
    running.add(this);
    this.exited = new Promise((resolve) => {
      this.child.once("close", (code, signal) => {
        this.exitCode = code ?? (signal ? null : 0);
        running.delete(this);
        resolve(code);
      });
    });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      stream?.setEncoding("utf8");
      let partial = "";
      // Always drained: a child blocked on a full pipe would look like a slow gateway.
      stream?.on("data", (text: string) => {
        const lines = (partial + text).split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) this.onLine(line);
      });
    }
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** The last lines the child wrote (stdout and stderr interleaved). */
  recentOutput(): string {
    return this.log.join("\n");
  }

  /** Resolves with the first line (from now on) the predicate accepts; rejects on exit or timeout. */
  waitForLine(accept: (line: string) => boolean, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (error: Error | undefined, line?: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const index = this.lineWaiters.indexOf(waiter);
        if (index !== -1) this.lineWaiters.splice(index, 1);
        if (error) reject(error);
        else resolve(line as string);
      };
      const waiter = (line: string) => {
        if (!accept(line)) return false;
        finish(undefined, line);
        return true;
      };
      const timer = setTimeout(
        () => finish(new Error(`${this.name}: no expected output within ${timeoutMs} ms\n${this.recentOutput()}`)),
        timeoutMs,
      );
      this.lineWaiters.push(waiter);
      void this.exited.then((code) =>
        finish(new Error(`${this.name} exited (code ${code}) before it was ready\n${this.recentOutput()}`)),
      );
    });
  }

  /** SIGTERM, then SIGKILL if it has not exited after the grace period. */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    if (!this.running) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  private onLine(line: string): void {
    this.log.push(line);
    if (this.log.length > LOG_LINES_KEPT) this.log.shift();
    for (const waiter of [...this.lineWaiters]) waiter(line);
  }
}

/**
 * The harness's environment minus what would change what is measured (the caller's own
 * Hypernode settings, a Redis or Solana endpoint, a port): each service gets exactly the
 * settings its scenario gives it.
 */
export function inheritedEnvironment(environment: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const kept: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(environment)) {
    if (
      /^(HYPERNODE_|HN_)/.test(name) ||
      ["PORT", "REDIS_URL", "SOLANA_RPC_URL", "LOG_LEVEL", "NODE_OPTIONS"].includes(name)
    )
      continue;
    kept[name] = value;
  }
  return kept;
}

/** Kills every child still running (synchronous: safe in an 'exit' handler). */
export function killAllServices(): void {
  for (const service of running) {
    try {
      process.kill(service.pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

process.once("exit", killAllServices);

/** A free loopback port: listen on 0, read it, close. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        server.close();
        reject(new Error("no TCP address"));
        return;
      }
      const { port } = address;
      server.close(() => resolve(port));
    });
  });
}

/** VmRSS of a process in bytes from /proc/<pid>/status; undefined where it cannot be read. */
export function readRssBytes(pid: number): number | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return undefined;
  }
  return parseVmRss(status);
}

/** Parses the `VmRSS:   123456 kB` line of a /proc status file into bytes. */
export function parseVmRss(status: string): number | undefined {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match) return undefined;
  return Number(match[1]) * 1024;
}
