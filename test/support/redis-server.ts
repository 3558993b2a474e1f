/**
 * A private `redis-server` for tests: its own temp dir, a unix socket and no TCP port, so a test
 * never touches (or depends on) a Redis the machine already runs on 6379. The AOF lives in the
 * temp dir and survives `kill()` + `restart()`, which is how crash tests prove durability.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RedisOptions } from "ioredis";

export interface RedisServerOptions {
  /** Append-only file on (default true). */
  appendOnly?: boolean;
  /** When the AOF is fsynced (default "always": every acknowledged write is on disk). */
  appendFsync?: "always" | "everysec" | "no";
  /** How long to wait for the server to answer PING (default 10 s). */
  startTimeoutMs?: number;
}

export interface RedisServer {
  /** The unix socket path; ioredis and RedisBillingStore.connect accept it as a URL. */
  url: string;
  options: RedisOptions;
  /** Shuts the server down and removes its directory. */
  stop(): Promise<void>;
  /** SIGKILL, like a crash: nothing is flushed beyond what the fsync policy already wrote. */
  kill(): void;
  /** Starts the server again on the same directory and socket (after kill() or stop-less crash). */
  restart(): Promise<void>;
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/** Resolves when the server answers +PONG (it answers -LOADING while replaying its AOF). */
function ping(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(socketPath);
    let reply = "";
    const finish = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => finish(false));
    socket.on("error", () => finish(false));
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk) => {
      reply += chunk.toString();
      if (reply.includes("\r\n")) finish(reply.startsWith("+PONG"));
    });
  });
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const directory = mkdtempSync(join(tmpdir(), "hn-redis-"));
  const socketPath = join(directory, "redis.sock");
  const startTimeoutMs = options.startTimeoutMs ?? 10_000;
  const args = [
    "--port",
    "0",
    "--unixsocket",
    socketPath,
    "--unixsocketperm",
    "700",
    "--dir",
    directory,
    "--save",
    "",
    "--appendonly",
    options.appendOnly === false ? "no" : "yes",
    "--appendfsync",
    options.appendFsync ?? "always",
    "--daemonize",
    "no",
    "--loglevel",
    "warning",
  ];
  let child: ChildProcess | undefined;
  let output = "";
  // A server left behind by a test that crashed must not outlive the test process.
  const killOnExit = () => child?.kill("SIGKILL");
  process.once("exit", killOnExit);

  const launch = async () => {
    output = "";
    const server = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
    child = server;
    server.stdout?.on("data", (chunk) => {
      output += chunk.toString();
    });
    server.stderr?.on("data", (chunk) => {
      output += chunk.toString();
    });
    const spawnError = new Promise<never>((_, reject) => server.once("error", reject));
    spawnError.catch(() => undefined);
    const deadline = Date.now() + startTimeoutMs;
    while (Date.now() < deadline) {
      if (server.exitCode !== null) break;
      if (await Promise.race([ping(socketPath), spawnError])) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    server.kill("SIGKILL");
    throw new Error(`redis-server did not start in ${startTimeoutMs} ms:\n${output}`);
  };

  try {
    await launch();
  } catch (error) {
    rmSync(directory, { recursive: true, force: true });
    process.off("exit", killOnExit);
    throw error;
  }

  return {
    url: socketPath,
    options: { path: socketPath },
    async stop() {
      if (child) {
        child.kill("SIGTERM");
        await waitForExit(child);
      }
      process.off("exit", killOnExit);
      rmSync(directory, { recursive: true, force: true });
    },
    kill() {
      child?.kill("SIGKILL");
    },
    async restart() {
      if (child) {
        child.kill("SIGKILL");
        await waitForExit(child);
      }
      await launch();
    },
  };
}
