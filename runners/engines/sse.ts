/**
 * Incremental Server-Sent Events decoder for engine streams. Network chunks split lines (and
 * UTF-8 characters, which the caller handles by decoding with a streaming decoder) anywhere, so
 * only the unfinished tail is kept between pushes; complete events are returned as their `data`
 * payloads. Follows the SSE spec for what engines send: `data:` lines (joined with "\n" when an
 * event has several), comments and other fields ignored, events ended by a blank line, "\n" or
 * "\r\n" line ends.
 */
export class SseDecoder {
  private pending = "";
  private dataLines: string[] = [];

  /** Feeds decoded text; returns the data of every event completed by it, in order. */
  push(text: string): string[] {
    const events: string[] = [];
    const buffer = this.pending === "" ? text : this.pending + text;
    let lineStart = 0;
    let newline = buffer.indexOf("\n", lineStart);
    while (newline !== -1) {
      const lineEnd = newline > lineStart && buffer.charCodeAt(newline - 1) === 13 ? newline - 1 : newline;
      this.takeLine(buffer.slice(lineStart, lineEnd), events);
      lineStart = newline + 1;
      newline = buffer.indexOf("\n", lineStart);
    }
    this.pending = lineStart === 0 ? buffer : buffer.slice(lineStart);
    return events;
  }

  /** Ends the stream: a last event cut off before its blank line is still delivered. */
  finish(): string[] {
    const events: string[] = [];
    if (this.pending !== "") {
      const line = this.pending.endsWith("\r") ? this.pending.slice(0, -1) : this.pending;
      this.pending = "";
      this.takeLine(line, events);
    }
    this.takeLine("", events);
    return events;
  }

  /** Bytes of an unfinished line held back; lets callers bound memory against a garbled stream. */
  get pendingLength(): number {
    return this.pending.length;
  }

  private takeLine(line: string, events: string[]): void {
    if (line === "") {
      if (this.dataLines.length > 0) {
        events.push(this.dataLines.length === 1 ? (this.dataLines[0] ?? "") : this.dataLines.join("\n"));
        this.dataLines = [];
      }
      return;
    }
    if (!line.startsWith("data:")) return;
    // One optional space after the colon belongs to the syntax, not the payload.
    this.dataLines.push(line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5));
  }
}
