/**
 * Bookkeeping for many requests multiplexed on one `/v1/ws` socket (pure: also unit-tested
 * under Node). Frames, as documented in gateway/routes/websocket-api.ts:
 *   {"type":"chunk","id","chunk"} {"type":"response","id","response"} {"type":"done","id"}
 *   {"type":"error","id"|null,"status","error"}
 */

export type FrameEffect =
  | { kind: "first-token"; id: string; ttftMs: number }
  | { kind: "chunk"; id: string }
  | { kind: "finished"; id: string; durationMs: number; chunks: number }
  | { kind: "failed"; id: string | null; message: string }
  | { kind: "ignored" };

interface Pending {
  startedAt: number;
  chunks: number;
  sawText: boolean;
}

export class WsRequestTracker {
  private readonly pending = new Map<string, Pending>();
  private sequence = 0;

  /** A fresh request id, registered as started at `now` (ms). */
  start(now: number, prefix = "r"): string {
    this.sequence++;
    const id = `${prefix}${this.sequence}`;
    this.pending.set(id, { startedAt: now, chunks: 0, sawText: false });
    return id;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  onFrame(text: string, now: number): FrameEffect {
    let frame: { type?: unknown; id?: unknown; chunk?: unknown; error?: unknown };
    try {
      frame = JSON.parse(text) as typeof frame;
    } catch {
      return { kind: "failed", id: null, message: `frame is not JSON: ${text.slice(0, 120)}` };
    }
    const id = typeof frame.id === "string" ? frame.id : null;
    if (frame.type === "error") {
      if (id !== null) this.pending.delete(id);
      const message = (frame.error as { message?: unknown } | undefined)?.message;
      return { kind: "failed", id, message: typeof message === "string" ? message : "error frame" };
    }
    const request = id === null ? undefined : this.pending.get(id);
    if (id === null || request === undefined) return { kind: "ignored" };
    if (frame.type === "chunk") {
      request.chunks++;
      if (!request.sawText && chunkHasText(frame.chunk)) {
        request.sawText = true;
        return { kind: "first-token", id, ttftMs: now - request.startedAt };
      }
      return { kind: "chunk", id };
    }
    if (frame.type === "done" || frame.type === "response") {
      this.pending.delete(id);
      return { kind: "finished", id, durationMs: now - request.startedAt, chunks: request.chunks };
    }
    return { kind: "ignored" };
  }
}

function chunkHasText(chunk: unknown): boolean {
  const choices = (chunk as { choices?: Array<{ delta?: { content?: unknown } }> } | undefined)?.choices;
  if (!Array.isArray(choices)) return false;
  return choices.some((choice) => typeof choice?.delta?.content === "string" && choice.delta.content !== "");
}
