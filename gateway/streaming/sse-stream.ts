/**
 * A job's output as Server-Sent Events, handed to `reply.send(stream)` so Fastify owns
 * backpressure and close. The stream pulls from the job only when the socket wants more, and
 * the job returns credit to the runner as it is pulled: a slow client slows the GPU, never
 * the gateway's memory. A failure after the first chunk ends with an error event and no
 * `[DONE]`, so clients can tell it from a finished answer.
 */
import { Readable } from "node:stream";
import type { Job } from "../jobs/job.ts";
import { usageChunk } from "./usage-chunk.ts";

const DONE = "data: [DONE]\n\n";

export class SseStream extends Readable {
  private pumping = false;
  private ended = false;

  constructor(
    private readonly job: Job,
    private readonly includeUsage: boolean,
  ) {
    super({ highWaterMark: 16 * 1024 });
  }

  override _read(): void {
    if (!this.pumping && !this.ended) void this.pump();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.ended) {
      this.ended = true;
      this.job.cancel("client disconnected");
    }
    callback(error);
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      for (;;) {
        const event = await this.job.next();
        if (this.ended) return;
        if (event.type === "chunk") {
          if (!this.push(`data: ${JSON.stringify(event.chunk)}\n\n`)) return;
          continue;
        }
        this.ended = true;
        if (event.type === "end") {
          if (this.includeUsage) this.push(`data: ${JSON.stringify(usageChunk(this.job, event.usage))}\n\n`);
          this.push(DONE);
        } else {
          this.push(`data: ${JSON.stringify(event.error.toBody())}\n\n`);
        }
        this.push(null);
        return;
      }
    } finally {
      this.pumping = false;
    }
  }
}
