/**
 * The gateway's end of one runner tunnel once the runner is welcomed: sends jobs, credits and
 * cancels; routes the runner's frames to the listener of each job.
 */
import type { FastifyBaseLogger } from "fastify";
import type { WebSocket } from "ws";
import type {
  ChunkMessage,
  GatewayToRunnerMessage,
  JobEndMessage,
  JobFailedMessage,
  JobMessage,
} from "../../runners/protocol.ts";

export interface JobListener {
  onChunk(chunk: ChunkMessage["chunk"]): void;
  onEnd(message: JobEndMessage): void;
  onFailed(message: JobFailedMessage): void;
  /** The tunnel dropped before the job ended: no end frame will come. */
  onRunnerLost(reason: string): void;
}

export class RunnerConnection {
  private readonly listeners = new Map<string, JobListener>();
  private closed = false;

  constructor(
    readonly runnerId: string,
    private readonly socket: WebSocket,
    private readonly logger: FastifyBaseLogger,
  ) {}

  get open(): boolean {
    return !this.closed && this.socket.readyState === this.socket.OPEN;
  }

  get jobCount(): number {
    return this.listeners.size;
  }

  /** False when the tunnel is gone; the caller then tries another runner. */
  startJob(message: JobMessage, listener: JobListener): boolean {
    if (!this.open) return false;
    this.listeners.set(message.jobId, listener);
    this.send(message);
    return true;
  }

  grantCredit(jobId: string, chunks: number): void {
    if (this.listeners.has(jobId)) this.send({ type: "credit", jobId, chunks });
  }

  cancelJob(jobId: string, reason: string): void {
    if (this.listeners.has(jobId)) this.send({ type: "cancel", jobId, reason });
  }

  /** Stops routing a job's frames (after a timeout gave up on it, say). */
  forgetJob(jobId: string): void {
    this.listeners.delete(jobId);
  }

  handleChunk(message: ChunkMessage): void {
    this.listeners.get(message.jobId)?.onChunk(message.chunk);
  }

  handleEnd(message: JobEndMessage): void {
    const listener = this.listeners.get(message.jobId);
    this.listeners.delete(message.jobId);
    listener?.onEnd(message);
  }

  handleFailed(message: JobFailedMessage): void {
    const listener = this.listeners.get(message.jobId);
    this.listeners.delete(message.jobId);
    listener?.onFailed(message);
  }

  /** Called once when the socket closes: every job still running on it is lost. */
  handleClose(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    const lost = [...this.listeners.values()];
    this.listeners.clear();
    for (const listener of lost) listener.onRunnerLost(reason);
  }

  close(code: number, reason: string): void {
    this.socket.close(code, reason);
  }

  terminate(): void {
    this.socket.terminate();
  }

  private send(message: GatewayToRunnerMessage): void {
    try {
      this.socket.send(JSON.stringify(message));
    } catch (error) {
      this.logger.warn({ err: error, runnerId: this.runnerId }, "runner tunnel send failed");
    }
  }
}
