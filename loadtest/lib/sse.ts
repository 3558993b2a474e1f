/**
 * An incremental Server-Sent Events parser (the WHATWG event-stream rules the harness needs):
 * text arrives in arbitrary pieces, events end at a blank line, `data:` lines join with "\n",
 * lines starting with ":" are comments, CR, LF and CRLF all end a line. An event cut off by the
 * end of the stream is not an event (`finish()` reports it as a truncated tail).
 */

export interface SseEvent {
  /** The `event:` field, "message" when absent. */
  event: string;
  data: string;
  id: string | undefined;
}

export class SseParser {
  private buffer = "";
  private dataLines: string[] = [];
  private eventName = "";
  private lastId: string | undefined;
  private sawField = false;
  /** A CR ended the previous piece: an LF starting the next one belongs to it. */
  private pendingCr = false;

  /** Feeds a piece of the stream; returns the events it completed, in order. */
  push(text: string): SseEvent[] {
    const events: SseEvent[] = [];
    if (text.length === 0) return events;
    let input = text;
    if (this.pendingCr) {
      this.pendingCr = false;
      if (input.startsWith("\n")) input = input.slice(1);
    }
    this.buffer += input;
    let start = 0;
    // Searched once per piece and again only once passed: most streams have no CR at all.
    let cr = this.buffer.indexOf("\r");
    for (;;) {
      const lf = this.buffer.indexOf("\n", start);
      if (cr !== -1 && cr < start) cr = this.buffer.indexOf("\r", start);
      let end: number;
      let next: number;
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        end = cr;
        if (cr + 1 === this.buffer.length) {
          // Maybe the first half of a CRLF: the line ends here either way.
          this.pendingCr = true;
          next = cr + 1;
        } else {
          next = this.buffer[cr + 1] === "\n" ? cr + 2 : cr + 1;
        }
      } else if (lf !== -1) {
        end = lf;
        next = lf + 1;
      } else {
        break;
      }
      const event = this.line(this.buffer.slice(start, end));
      if (event !== undefined) events.push(event);
      start = next;
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }

  /** Ends the stream; true when an unfinished event (or line) was left over and is dropped. */
  finish(): boolean {
    const truncated = this.buffer.length > 0 || this.sawField;
    this.buffer = "";
    this.resetEvent();
    return truncated;
  }

  private line(line: string): SseEvent | undefined {
    if (line.length === 0) return this.dispatch();
    if (line.startsWith(":")) return undefined;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    this.sawField = true;
    switch (field) {
      case "data":
        this.dataLines.push(value);
        break;
      case "event":
        this.eventName = value;
        break;
      case "id":
        if (!value.includes("\0")) this.lastId = value;
        break;
      default:
        // "retry" and unknown fields do not matter to a load test.
        break;
    }
    return undefined;
  }

  private dispatch(): SseEvent | undefined {
    if (this.dataLines.length === 0) {
      this.resetEvent();
      return undefined;
    }
    const event: SseEvent = { event: this.eventName || "message", data: this.dataLines.join("\n"), id: this.lastId };
    this.resetEvent();
    return event;
  }

  private resetEvent(): void {
    this.dataLines = [];
    this.eventName = "";
    this.sawField = false;
  }
}

/** Parses a whole SSE body at once (tests, k6-style full bodies). */
export function parseSseText(text: string): { events: SseEvent[]; truncated: boolean } {
  const parser = new SseParser();
  const events = parser.push(text);
  return { events, truncated: parser.finish() };
}

export type ChatChunkKind = "content" | "other" | "done" | "error" | "invalid";

/**
 * Classifies one OpenAI chat SSE data payload: `[DONE]`, an error object, a chunk carrying
 * visible text (`choices[].delta.content` non-empty), another chunk (role, finish, usage) or
 * something that is not JSON.
 */
export function classifyChatPayload(data: string): ChatChunkKind {
  if (data === "[DONE]") return "done";
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return "invalid";
  }
  if (typeof parsed !== "object" || parsed === null) return "invalid";
  if ("error" in parsed) return "error";
  const choices = (parsed as { choices?: unknown }).choices;
  if (!Array.isArray(choices)) return "other";
  for (const choice of choices) {
    if (typeof choice !== "object" || choice === null) continue;
    const delta = (choice as { delta?: unknown }).delta;
    if (typeof delta !== "object" || delta === null) continue;
    const content = (delta as { content?: unknown }).content;
    if (typeof content === "string" && content.length > 0) return "content";
  }
  return "other";
}
