/**
 * One tunnel connection: dial, handshake, heartbeats, liveness, and the jobs multiplexed on it.
 * A session is used once; the agent makes a new one for every reconnect.
 */
import type { IncomingMessage } from "node:http";
import type { Logger } from "pino";
import WebSocket from "ws";
import { encodeSignature } from "../../billing/receipts/ed25519.ts";
import {
  type ChallengeMessage,
  challengeSigningBytes,
  type GatewayToRunnerMessage,
  type JobMessage,
  type RunnerToGatewayMessage,
  TUNNEL_PROTOCOL_VERSION,
  TunnelCloseCode,
  type WireError,
} from "../protocol.ts";
import type { TelemetrySource } from "./discovery.ts";
import { parseGatewayFrame } from "./frames.ts";
import { AgentJob, type JobOutcome } from "./job.ts";
import type { ResolvedAgentSettings } from "./options.ts";

/** Time allowed from dialing to `welcome`; a gateway that stalls the handshake is dialed again. */
const HANDSHAKE_TIMEOUT_MS = 15_000;
/** Silence (no frame, no pong) for this many heartbeat intervals means the link is dead. */
const MISSED_HEARTBEATS_BEFORE_DEAD = 3;
/** How long a polite close may take before the socket is cut. */
const CLOSE_TIMEOUT_MS = 2_000;

export interface SessionClosure {
  code: number;
  reason: string;
  /** The socket got as far as the WebSocket upgrade. */
  opened: boolean;
  /** The gateway refused our credentials (HTTP 401/403, `refused`, or close 4401). */
  refused: boolean;
}

export interface SessionHooks {
  runnerId(): string;
  onWelcome(runnerId: string): void;
  onRefused(code: string, message: string): void;
  onClosed(closure: SessionClosure): void;
  onJobStarted(jobId: string): void;
  onJobEnded(jobId: string, outcome: JobOutcome): void;
}

export class TunnelSession {
  private readonly socket: WebSocket;
  private readonly logger: Logger;
  private readonly jobs = new Map<string, AgentJob>();
  private readonly jobsDrained = new Set<() => void>();
  private welcomed = false;
  private opened = false;
  private refused = false;
  private closed = false;
  /** Set while the agent stops: new jobs are turned away so that in-flight ones can finish. */
  private draining = false;
  private rejectedStatus: number | undefined;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private heartbeatIntervalMs = 15_000;
  private lastHeardAt = Date.now();
  /** Aborted on close so that probes for a hello or heartbeat nobody will read stop at once. */
  private readonly probes = new AbortController();
  /** Why the last dial or socket failed, for the reconnect log line. */
  private lastError: string | undefined;
  private readonly closedPromise: Promise<void>;
  private resolveClosed: () => void = () => undefined;

  constructor(
    private readonly settings: ResolvedAgentSettings,
    private readonly telemetry: TelemetrySource,
    private readonly hooks: SessionHooks,
  ) {
    this.logger = settings.logger;
    this.closedPromise = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    this.socket = new WebSocket(settings.tunnelUrl, {
      headers: { authorization: `Bearer ${settings.nodeToken}` },
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    });
    this.handshakeTimer = setTimeout(() => this.abort("no welcome within the handshake timeout"), HANDSHAKE_TIMEOUT_MS);
    this.socket.on("open", () => {
      this.opened = true;
      this.lastHeardAt = Date.now();
    });
    this.socket.on("message", (data, isBinary) => this.guard("frame", () => this.onFrame(data, isBinary)));
    this.socket.on("pong", () => {
      this.lastHeardAt = Date.now();
    });
    this.socket.on("unexpected-response", (_request, response: IncomingMessage) =>
      this.guard("upgrade response", () => this.onUpgradeRejected(response)),
    );
    // Reported once, in the agent's reconnect line; every failed dial also ends in "close".
    this.socket.on("error", (error) => {
      this.lastError = error.message;
      this.logger.debug({ err: error, url: settings.tunnelUrl }, "tunnel socket error");
    });
    this.socket.on("close", (code, reason) => this.guard("close", () => this.onClose(code, reason.toString())));
  }

  get isWelcomed(): boolean {
    return this.welcomed && !this.closed;
  }

  get activeJobCount(): number {
    return this.jobs.size;
  }

  /** Turns new jobs away from now on and resolves once in-flight jobs have ended. */
  drain(): Promise<void> {
    this.draining = true;
    if (this.jobs.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.jobsDrained.add(resolve));
  }

  /** Fails every job still running (retryable), then waits until each has sent its frame. */
  async shutdownJobs(): Promise<void> {
    this.draining = true;
    const done = this.drain();
    for (const job of this.jobs.values()) job.shutdown();
    await done;
  }

  /** Closes the socket politely (cutting it if the gateway does not answer) and resolves once closed. */
  close(code: number, reason: string): Promise<void> {
    if (!this.closed) {
      if (this.socket.readyState === WebSocket.CONNECTING) this.socket.terminate();
      else this.socket.close(code, reason);
      const cut = setTimeout(() => this.socket.terminate(), CLOSE_TIMEOUT_MS);
      void this.closedPromise.then(() => clearTimeout(cut));
    }
    return this.closedPromise;
  }

  private send(message: RunnerToGatewayMessage): boolean {
    if (this.socket.readyState !== WebSocket.OPEN) return false;
    try {
      this.socket.send(JSON.stringify(message));
      return true;
    } catch (error) {
      this.logger.warn({ err: error }, "could not send a tunnel frame");
      return false;
    }
  }

  /** Event handlers must never throw into ws: log and carry on. */
  private guard(what: string, handler: () => void | Promise<void>): void {
    try {
      const result = handler();
      if (result) result.catch((error: unknown) => this.logger.error({ err: error }, `tunnel ${what} handler failed`));
    } catch (error) {
      this.logger.error({ err: error }, `tunnel ${what} handler failed`);
    }
  }

  private abort(why: string): void {
    this.logger.warn({ url: this.settings.tunnelUrl }, `dropping the tunnel: ${why}`);
    this.socket.terminate();
  }

  private onUpgradeRejected(response: IncomingMessage): void {
    this.rejectedStatus = response.statusCode;
    response.resume();
    if (response.statusCode === 401 || response.statusCode === 403) {
      this.refused = true;
      this.hooks.onRefused("UNAUTHORIZED", `the gateway rejected the node token (HTTP ${response.statusCode})`);
    }
    this.socket.terminate();
  }

  private onFrame(data: WebSocket.RawData, isBinary: boolean): Promise<void> | undefined {
    this.lastHeardAt = Date.now();
    if (isBinary) {
      this.logger.warn("ignoring a binary tunnel frame");
      return undefined;
    }
    const parsed = parseGatewayFrame(data.toString());
    if (!parsed.ok) {
      this.logger.warn({ reason: parsed.reason }, "ignoring a malformed tunnel frame");
      return undefined;
    }
    return this.dispatch(parsed.message);
  }

  private dispatch(message: GatewayToRunnerMessage): Promise<void> | undefined {
    switch (message.type) {
      case "challenge":
        return this.answerChallenge(message);
      case "welcome":
        this.onWelcome(message.runnerId, message.heartbeatIntervalMs);
        return undefined;
      case "refused":
        this.refused = true;
        this.hooks.onRefused(message.code, message.message);
        this.socket.close(TunnelCloseCode.Normal, "refused");
        return undefined;
      case "job":
        this.startJob(message);
        return undefined;
      case "credit":
        this.jobFor(message.jobId, "credit")?.grantCredit(message.chunks);
        return undefined;
      case "cancel":
        this.jobFor(message.jobId, "cancel")?.cancel(message.reason);
        return undefined;
    }
  }

  private async answerChallenge(challenge: ChallengeMessage): Promise<void> {
    if (this.welcomed) {
      this.logger.warn("ignoring a challenge after welcome");
      return;
    }
    // Probe within the challenge's lifetime (clocks may disagree, so never below a second).
    const budgetMs = Math.min(10_000, Math.max(1_000, challenge.expiresAt - Date.now() - 500));
    const { models, gpus } = await this.telemetry.snapshot(budgetMs, this.probes.signal);
    if (this.closed) return;
    const signature = encodeSignature(
      this.settings.wallet.sign(challengeSigningBytes(challenge.nonce, challenge.gatewayId)),
    );
    this.send({
      type: "hello",
      protocolVersion: TUNNEL_PROTOCOL_VERSION,
      runnerId: this.hooks.runnerId(),
      wallet: this.settings.wallet.address,
      signature,
      nonce: challenge.nonce,
      engine: this.settings.engine.kind,
      models,
      gpus,
      version: this.settings.version,
      maxConcurrentJobs: this.settings.maxConcurrentJobs,
    });
    this.logger.debug({ models: models.map((model) => model.model), gpus: gpus.length }, "sent hello");
  }

  private onWelcome(runnerId: string, heartbeatIntervalMs: number): void {
    if (this.welcomed) return;
    this.welcomed = true;
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
    this.heartbeatIntervalMs = heartbeatIntervalMs;
    this.scheduleHeartbeat();
    this.hooks.onWelcome(runnerId);
  }

  private scheduleHeartbeat(): void {
    if (this.closed) return;
    this.heartbeatTimer = setTimeout(() => this.guard("heartbeat", () => this.heartbeat()), this.heartbeatIntervalMs);
  }

  private async heartbeat(): Promise<void> {
    const silentForMs = Date.now() - this.lastHeardAt;
    if (silentForMs > this.heartbeatIntervalMs * MISSED_HEARTBEATS_BEFORE_DEAD) {
      this.abort(`nothing heard from the gateway for ${silentForMs} ms`);
      return;
    }
    // A pong proves the gateway is alive even when it has nothing to say.
    this.socket.ping();
    try {
      const { models, gpus } = await this.telemetry.snapshot(
        Math.min(10_000, Math.max(500, this.heartbeatIntervalMs / 2)),
        this.probes.signal,
      );
      this.send({ type: "heartbeat", sentAt: Date.now(), activeJobs: this.jobs.size, models, gpus });
    } finally {
      this.scheduleHeartbeat();
    }
  }

  private jobFor(jobId: string, frame: string): AgentJob | undefined {
    const job = this.jobs.get(jobId);
    if (!job) this.logger.debug({ jobId }, `ignoring ${frame} for a job that is not running`);
    return job;
  }

  private startJob(message: JobMessage): void {
    if (!this.welcomed) {
      this.logger.warn({ jobId: message.jobId }, "ignoring a job sent before welcome");
      return;
    }
    if (this.jobs.has(message.jobId)) {
      this.logger.warn({ jobId: message.jobId }, "ignoring a duplicate job id");
      return;
    }
    if (this.draining) {
      this.refuseJob(message.jobId, {
        code: "RUNNER_ERR_SHUTTING_DOWN",
        message: "the runner is shutting down",
        retryable: true,
      });
      return;
    }
    if (this.jobs.size >= this.settings.maxConcurrentJobs) {
      this.refuseJob(message.jobId, {
        code: "RUNNER_ERR_BUSY",
        message: `the runner is at its limit of ${this.settings.maxConcurrentJobs} concurrent jobs`,
        retryable: true,
      });
      return;
    }
    const job = new AgentJob(message, {
      engine: this.settings.engine,
      wallet: this.settings.wallet,
      runnerId: () => this.hooks.runnerId(),
      send: (frame) => this.send(frame),
      logger: this.logger,
    });
    this.jobs.set(message.jobId, job);
    this.hooks.onJobStarted(message.jobId);
    void job.run().then((outcome) => this.onJobEnded(message.jobId, outcome));
  }

  private onJobEnded(jobId: string, outcome: JobOutcome): void {
    this.jobs.delete(jobId);
    this.hooks.onJobEnded(jobId, outcome);
    if (this.jobs.size === 0) {
      for (const resolve of this.jobsDrained) resolve();
      this.jobsDrained.clear();
    }
  }

  private refuseJob(jobId: string, error: WireError): void {
    const now = Date.now();
    this.send({
      type: "failed",
      jobId,
      error,
      chunksSent: 0,
      usage: { promptTokens: undefined, completionTokens: undefined },
      timings: { startedAt: now, firstTokenMs: undefined, finishedAt: now },
    });
  }

  private onClose(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.handshakeTimer);
    clearTimeout(this.heartbeatTimer);
    this.probes.abort(new Error("the tunnel closed"));
    // The gateway has already failed whatever was running on this socket; just stop the GPUs.
    for (const job of this.jobs.values()) job.abandon();
    if (code === TunnelCloseCode.AuthenticationFailed && !this.refused) {
      this.refused = true;
      this.hooks.onRefused("AUTHENTICATION_FAILED", reason || "the gateway closed the tunnel: authentication failed");
    }
    const closureReason =
      reason || (this.rejectedStatus === undefined ? (this.lastError ?? "") : `HTTP ${this.rejectedStatus}`);
    this.resolveClosed();
    this.hooks.onClosed({ code, reason: closureReason, opened: this.opened, refused: this.refused });
  }
}
