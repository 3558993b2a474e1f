/**
 * Stop-sequence matching as vLLM does it on streamed text: text that could still be the start
 * of a stop sequence is held back until the next token settles it, so a stop sequence never
 * reaches the client, not even split across tokens.
 */
export class StopSequenceMatcher {
  private heldBack = "";
  /** The stop sequence that ended the output, once one has. */
  matched: string | undefined;

  private readonly stopSequences: readonly string[];

  constructor(stopSequences: readonly string[]) {
    // An empty stop sequence would match everywhere; engines ignore it.
    this.stopSequences = stopSequences.filter((stop) => stop.length > 0);
  }

  /** Adds generated text; returns what may be shown now ("" while held back). */
  push(text: string): string {
    const buffer = this.heldBack + text;
    let earliestIndex = -1;
    for (const stop of this.stopSequences) {
      const index = buffer.indexOf(stop);
      if (index !== -1 && (earliestIndex === -1 || index < earliestIndex)) {
        earliestIndex = index;
        this.matched = stop;
      }
    }
    if (earliestIndex !== -1) {
      this.heldBack = "";
      return buffer.slice(0, earliestIndex);
    }
    const holdLength = this.longestPendingPrefix(buffer);
    this.heldBack = buffer.slice(buffer.length - holdLength);
    return buffer.slice(0, buffer.length - holdLength);
  }

  /** Releases held-back text when the output ends for another reason. */
  flush(): string {
    const text = this.heldBack;
    this.heldBack = "";
    return text;
  }

  private longestPendingPrefix(buffer: string): number {
    let longest = 0;
    for (const stop of this.stopSequences) {
      for (let length = Math.min(stop.length - 1, buffer.length); length > longest; length--) {
        if (buffer.endsWith(stop.slice(0, length))) {
          longest = length;
          break;
        }
      }
    }
    return longest;
  }
}
