/**
 * The runner agent: keeps one outbound tunnel to the gateway open (reconnecting with backoff),
 * and serves the jobs it receives with the local engine. GPU hosts run it next to vLLM/Ollama.
 *
 * Events: "connected"(runnerId), "disconnected"(code, reason), "refused"(code, message),
 * "job"(jobId), "jobEnded"(jobId, outcome).
 */
import { EventEmitter } from "node:events";
import type { Logger } from "pino";
import { TunnelCloseCode } from "../protocol.ts";
import { ReconnectBackoff } from "./backoff.ts";
import { TelemetrySource } from "./discovery.ts";
import type { JobOutcome } from "./job.ts";
import { type ResolvedAgentSettings, type RunnerAgentOptions, resolveAgentSettings } from "./options.ts";
import { type SessionClosure, TunnelSession } from "./session.ts";

export interface RunnerAgentEvents {
  connected: [runnerId: string];
  disconnected: [code: number, reason: string];
  refused: [code: string, message: string];
  job: [jobId: string];
  jobEnded: [jobId: string, outcome: JobOutcome];
}

export interface StopOptions {
  /** How long in-flight jobs may run to completion before they are failed (retryable). Default 0. */
  drainMs?: number;
}

export class RunnerAgent extends EventEmitter<RunnerAgentEvents> {
  private readonly settings: ResolvedAgentSettings;
  private readonly logger: Logger;
  private readonly backoff: ReconnectBackoff;
  private readonly telemetry: TelemetrySource;
  private currentRunnerId: string;
  private session: TunnelSession | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private startPromise: Promise<void> | undefined;
  private settleStart: { resolve: () => void; reject: (error: Error) => void } | undefined;
  private stopPromise: Promise<void> | undefined;
  private stopping = false;

  constructor(options: RunnerAgentOptions) {
    super();
    this.settings = resolveAgentSettings(options);
    this.logger = this.settings.logger;
    this.backoff = new ReconnectBackoff(this.settings.backoff);
    this.currentRunnerId = this.settings.initialRunnerId;
    this.telemetry = new TelemetrySource(
      {
        engine: this.settings.engine,
        catalog: this.settings.catalog,
        allowedModels: this.settings.allowedModels,
        logger: this.logger,
      },
      this.settings.detectGpus,
    );
  }

  get runnerId(): string {
    return this.currentRunnerId;
  }

  get connected(): boolean {
    return this.session?.isWelcomed ?? false;
  }

  activeJobCount(): number {
    return this.session?.activeJobCount ?? 0;
  }

  /**
   * Dials the gateway; resolves at the first welcome. Rejects if the gateway refuses the runner
   * before that, yet keeps retrying at the maximum backoff until stop(): an operator may fix the
   * token on the gateway's side.
   */
  start(): Promise<void> {
    if (this.stopping) return Promise.reject(new Error("the runner agent has been stopped"));
    if (!this.startPromise) {
      this.startPromise = new Promise((resolve, reject) => {
        this.settleStart = { resolve, reject };
      });
      this.connect();
    }
    return this.startPromise;
  }

  /** Stops reconnecting, lets jobs finish for up to `drainMs`, fails the rest, closes with 1000. */
  stop(options: StopOptions = {}): Promise<void> {
    this.stopPromise ??= this.shutdown(options.drainMs ?? 0);
    return this.stopPromise;
  }

  private async shutdown(drainMs: number): Promise<void> {
    this.stopping = true;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.failStart(new Error("the runner agent was stopped before the gateway welcomed it"));
    const session = this.session;
    if (!session) return;
    if (drainMs > 0 && session.activeJobCount > 0) {
      this.logger.info({ activeJobs: session.activeJobCount, drainMs }, "draining in-flight jobs");
      await waitAtMost(session.drain(), drainMs);
    }
    await session.shutdownJobs();
    await session.close(TunnelCloseCode.Normal, "runner stopping");
    this.logger.info("runner agent stopped");
  }

  private connect(): void {
    if (this.stopping) return;
    this.logger.debug({ url: this.settings.tunnelUrl }, "dialing the gateway");
    this.session = new TunnelSession(this.settings, this.telemetry, {
      runnerId: () => this.currentRunnerId,
      onWelcome: (runnerId) => this.onWelcome(runnerId),
      onRefused: (code, message) => this.onRefused(code, message),
      onClosed: (closure) => this.onClosed(closure),
      onJobStarted: (jobId) => this.safeEmit("job", jobId),
      onJobEnded: (jobId, outcome) => this.safeEmit("jobEnded", jobId, outcome),
    });
  }

  private onWelcome(runnerId: string): void {
    if (runnerId !== this.currentRunnerId)
      this.logger.info({ requested: this.currentRunnerId, assigned: runnerId }, "the gateway assigned a runner id");
    this.currentRunnerId = runnerId;
    this.backoff.reset();
    this.logger.info({ runnerId, url: this.settings.tunnelUrl }, "connected to the gateway");
    this.settleStart?.resolve();
    this.settleStart = undefined;
    this.safeEmit("connected", runnerId);
  }

  private onRefused(code: string, message: string): void {
    this.logger.error({ code }, `the gateway refused this runner: ${message}`);
    this.safeEmit("refused", code, message);
    this.failStart(new Error(`the gateway refused this runner (${code}): ${message}`));
  }

  private onClosed(closure: SessionClosure): void {
    if (closure.opened) this.safeEmit("disconnected", closure.code, closure.reason);
    if (this.stopping) return;
    const delayMs = closure.refused ? this.backoff.refusedDelayMs() : this.backoff.nextDelayMs();
    this.logger.warn({ code: closure.code, reason: closure.reason, delayMs }, "tunnel closed; reconnecting");
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect();
    }, delayMs);
  }

  private failStart(error: Error): void {
    const settle = this.settleStart;
    this.settleStart = undefined;
    settle?.reject(error);
  }

  /** A listener that throws must not break the tunnel's own event handling. */
  private safeEmit<Name extends keyof RunnerAgentEvents>(name: Name, ...args: RunnerAgentEvents[Name]): void {
    try {
      (this.emit as (name: Name, ...args: RunnerAgentEvents[Name]) => boolean)(name, ...args);
    } catch (error) {
      this.logger.error({ err: error, event: name }, "a runner agent event listener threw");
    }
  }
}

/** Resolves when `task` does or after `timeoutMs`, whichever is first, leaving no timer behind. */
async function waitAtMost(task: Promise<void>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([task, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
  clearTimeout(timer);
}
