import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { classifyChatPayload, parseSseText, SseParser } from "../../loadtest/lib/sse.ts";

const chunk = (content: string) =>
  JSON.stringify({ id: "c1", object: "chat.completion.chunk", choices: [{ index: 0, delta: { content } }] });

describe("SseParser", () => {
  it("parses events ended by a blank line", () => {
    const { events, truncated } = parseSseText(`data: ${chunk("Hi")}\n\ndata: [DONE]\n\n`);
    expect(events.map((event) => event.data)).toEqual([chunk("Hi"), "[DONE]"]);
    expect(events[0]?.event).toBe("message");
    expect(truncated).toBe(false);
  });

  it("joins multi-line data with LF and reads event and id fields", () => {
    const { events } = parseSseText("event: update\nid: 7\ndata: one\ndata:two\n\n");
    expect(events).toEqual([{ event: "update", data: "one\ntwo", id: "7" }]);
  });

  it("skips comments and events without data", () => {
    const { events } = parseSseText(": keep-alive\n\nevent: ping\n\ndata: x\n\n");
    expect(events.map((event) => event.data)).toEqual(["x"]);
  });

  it("accepts CRLF and lone CR line endings", () => {
    expect(parseSseText("data: a\r\n\r\ndata: b\r\rdata: c\n\n").events.map((event) => event.data)).toEqual([
      "a",
      "b",
      "c",
    ]);
  });

  it("handles a CRLF split across two pieces as one line ending", () => {
    const parser = new SseParser();
    expect(parser.push("data: a\r")).toEqual([]);
    expect(parser.push("\n\r")).toEqual([{ event: "message", data: "a", id: undefined }]);
    expect(parser.push("\ndata: b\n\n").map((event) => event.data)).toEqual(["b"]);
    expect(parser.finish()).toBe(false);
  });

  it("drops and reports an event cut off by the end of the stream", () => {
    const { events, truncated } = parseSseText("data: whole\n\ndata: half");
    expect(events.map((event) => event.data)).toEqual(["whole"]);
    expect(truncated).toBe(true);
    expect(parseSseText("data: no blank line yet\n").truncated).toBe(true);
  });

  it("gives the same events however the stream is cut into pieces", () => {
    const body = [
      `data: ${chunk("alpha")}`,
      "",
      ": comment",
      `data: ${chunk("β ünïcode")}`,
      "",
      "event: custom\r\ndata: x\r\ndata: y\r\n\r",
      "data: [DONE]",
      "",
      "",
    ].join("\n");
    const expected = parseSseText(body).events;
    expect(expected.length).toBe(4);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: body.length }), { maxLength: 12 }), (cuts) => {
        const points = [...new Set(cuts)].sort((left, right) => left - right);
        const parser = new SseParser();
        const events = [];
        let start = 0;
        for (const point of [...points, body.length]) {
          events.push(...parser.push(body.slice(start, point)));
          start = point;
        }
        expect(events).toEqual(expected);
        expect(parser.finish()).toBe(false);
      }),
    );
  });
});

describe("classifyChatPayload", () => {
  it("tells text chunks from the others", () => {
    expect(classifyChatPayload("[DONE]")).toBe("done");
    expect(classifyChatPayload(chunk("word"))).toBe("content");
    expect(classifyChatPayload(chunk(""))).toBe("other");
    expect(classifyChatPayload(JSON.stringify({ choices: [{ delta: { role: "assistant" } }] }))).toBe("other");
    expect(classifyChatPayload(JSON.stringify({ choices: [], usage: { total_tokens: 3 } }))).toBe("other");
    expect(classifyChatPayload(JSON.stringify({ error: { message: "runner failed" } }))).toBe("error");
    expect(classifyChatPayload("{not json")).toBe("invalid");
    expect(classifyChatPayload("42")).toBe("invalid");
  });
});
