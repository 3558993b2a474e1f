/**
 * Every runner the gateway knows: online ones with their tunnel, offline ones kept for the
 * admin view. Load figures (active jobs, outstanding tokens) feed routing.
 */
import { EventEmitter } from "node:events";
import type { EngineKind, GpuInfo, HeartbeatMessage, HelloMessage, ServedModel } from "../../runners/protocol.ts";
import { TunnelCloseCode } from "../../runners/protocol.ts";
import type { RunnerConnection } from "./runner-connection.ts";

export type RunnerStatus = "online" | "offline";

export interface RunnerState {
  id: string;
  wallet: string;
  engine: EngineKind;
  version: string;
  models: ServedModel[];
  gpus: GpuInfo[];
  maxConcurrentJobs: number;
  status: RunnerStatus;
  connectedAt: number;
  lastHeartbeatAt: number;
  disconnectedAt: number | undefined;
  /** Jobs dispatched to it and not yet ended. */
  activeJobs: number;
  /** Estimated tokens still to process for those jobs (prompt + remaining completion cap). */
  outstandingTokens: number;
  completedJobs: number;
  failedJobs: number;
  connection: RunnerConnection | undefined;
}

export interface RunnerRegistryEvents {
  runnerOnline: [RunnerState];
  runnerOffline: [RunnerState, string];
}

export class RunnerRegistry extends EventEmitter<RunnerRegistryEvents> {
  private readonly runners = new Map<string, RunnerState>();

  constructor(private readonly heartbeatIntervalMs: number) {
    super();
  }

  /** A welcomed runner. A second tunnel with the same id replaces the first. */
  register(hello: HelloMessage, connection: RunnerConnection, now = Date.now()): RunnerState {
    const previous = this.runners.get(hello.runnerId);
    if (previous?.connection && previous.connection !== connection) {
      previous.connection.close(TunnelCloseCode.Replaced, "replaced by a newer connection");
      previous.connection.handleClose("replaced by a newer connection");
    }
    const runner: RunnerState = {
      id: hello.runnerId,
      wallet: hello.wallet,
      engine: hello.engine,
      version: hello.version,
      models: hello.models,
      gpus: hello.gpus,
      maxConcurrentJobs: hello.maxConcurrentJobs,
      status: "online",
      connectedAt: now,
      lastHeartbeatAt: now,
      disconnectedAt: undefined,
      activeJobs: previous?.activeJobs ?? 0,
      outstandingTokens: previous?.outstandingTokens ?? 0,
      completedJobs: previous?.completedJobs ?? 0,
      failedJobs: previous?.failedJobs ?? 0,
      connection,
    };
    this.runners.set(runner.id, runner);
    this.emit("runnerOnline", runner);
    return runner;
  }

  heartbeat(runnerId: string, message: HeartbeatMessage, now = Date.now()): void {
    const runner = this.runners.get(runnerId);
    if (runner?.status !== "online") return;
    runner.lastHeartbeatAt = now;
    runner.models = message.models;
    runner.gpus = message.gpus;
  }

  /** The tunnel closed. Ignored when a newer connection already replaced this one. */
  disconnect(runnerId: string, connection: RunnerConnection, reason: string, now = Date.now()): void {
    const runner = this.runners.get(runnerId);
    if (!runner || runner.connection !== connection) return;
    runner.connection = undefined;
    this.markOffline(runner, reason, now);
  }

  /** Marks runners offline after three missed heartbeats and closes their tunnels. */
  sweep(now = Date.now()): void {
    const deadline = now - this.heartbeatIntervalMs * 3;
    for (const runner of this.runners.values()) {
      if (runner.status === "online" && runner.lastHeartbeatAt < deadline) {
        const connection = runner.connection;
        runner.connection = undefined;
        this.markOffline(runner, "missed 3 heartbeats", now);
        if (connection) {
          connection.close(TunnelCloseCode.HeartbeatTimeout, "missed heartbeats");
          connection.handleClose("missed heartbeats");
        }
      }
    }
  }

  /** Online runners with the model ready, a free slot, and not in `exclude`. */
  eligible(model: string, exclude: ReadonlySet<string>): RunnerState[] {
    const result: RunnerState[] = [];
    for (const runner of this.runners.values()) {
      if (runner.status !== "online" || !runner.connection?.open || exclude.has(runner.id)) continue;
      if (runner.activeJobs >= runner.maxConcurrentJobs) continue;
      if (runner.models.some((served) => served.model === model && served.state === "ready")) result.push(runner);
    }
    return result;
  }

  /** True when some online runner serves the model, busy or not. */
  isServed(model: string): boolean {
    for (const runner of this.runners.values()) {
      if (
        runner.status === "online" &&
        runner.models.some((served) => served.model === model && served.state === "ready")
      )
        return true;
    }
    return false;
  }

  /** Catalog ids with at least one online runner that has them ready. */
  servedModels(): Set<string> {
    const models = new Set<string>();
    for (const runner of this.runners.values()) {
      if (runner.status !== "online") continue;
      for (const served of runner.models) if (served.state === "ready") models.add(served.model);
    }
    return models;
  }

  get(runnerId: string): RunnerState | undefined {
    return this.runners.get(runnerId);
  }

  list(): RunnerState[] {
    return [...this.runners.values()];
  }

  onlineCount(): number {
    let count = 0;
    for (const runner of this.runners.values()) if (runner.status === "online") count++;
    return count;
  }

  private markOffline(runner: RunnerState, reason: string, now: number): void {
    if (runner.status === "offline") return;
    runner.status = "offline";
    runner.disconnectedAt = now;
    this.emit("runnerOffline", runner, reason);
  }
}
