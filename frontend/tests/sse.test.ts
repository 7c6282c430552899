// @vitest-environment node
import { describe, expect, it } from "vitest";
import { SseParser, parseSse } from "@/lib/sse";

const STREAM =
  'event: delta\ndata: {"text":"Hel"}\n\n' +
  ": keep-alive\n\n" +
  'event: delta\ndata: {"text":"lo é 🙂"}\n\n' +
  'event: done\ndata: {"session_id":"s","timestamp":"t"}\n\n';

const EXPECTED = [
  { event: "delta", data: '{"text":"Hel"}' },
  { event: "delta", data: '{"text":"lo é 🙂"}' },
  { event: "done", data: '{"session_id":"s","timestamp":"t"}' },
];

function feed(chunks: string[]) {
  const parser = new SseParser();
  return [...chunks.flatMap((c) => parser.push(c)), ...parser.end()];
}

describe("SseParser", () => {
  it("parses a whole stream", () => {
    expect(parseSse(STREAM)).toEqual(EXPECTED);
  });

  it("gives the same events wherever the stream is cut in two", () => {
    for (let cut = 1; cut < STREAM.length; cut++) {
      expect(feed([STREAM.slice(0, cut), STREAM.slice(cut)]), `cut at ${cut}`).toEqual(EXPECTED);
    }
  });

  it("gives the same events when fed one character at a time", () => {
    expect(feed([...STREAM])).toEqual(EXPECTED);
  });

  it("gives the same events when cut into three at every pair of places (CRLF line ends)", () => {
    const crlf = STREAM.replace(/\n/g, "\r\n");
    for (let a = 1; a < crlf.length; a += 3) {
      for (let b = a + 1; b < crlf.length; b += 5) {
        expect(feed([crlf.slice(0, a), crlf.slice(a, b), crlf.slice(b)]), `cuts at ${a},${b}`).toEqual(EXPECTED);
      }
    }
  });

  it("handles a CRLF split between chunks without seeing an extra blank line", () => {
    expect(feed(["event: delta\r", "\ndata: 1\r", "\n\r", "\n"])).toEqual([{ event: "delta", data: "1" }]);
  });

  it("accepts bare CR line ends", () => {
    expect(parseSse("event: a\rdata: 1\r\rdata: 2\r\r")).toEqual([
      { event: "a", data: "1" },
      { event: "message", data: "2" },
    ]);
  });

  it("joins several data lines with newlines and drops one leading space only", () => {
    expect(parseSse("data:  two spaces\ndata:none\ndata\n\n")).toEqual([{ event: "message", data: " two spaces\nnone\n" }]);
  });

  it("ignores comments, retry and unknown fields, keeps id", () => {
    expect(parseSse(": hi\nretry: 10\nfoo: bar\nid: 7\nevent: x\ndata: y\n\n")).toEqual([{ event: "x", data: "y", id: "7" }]);
  });

  it("does not dispatch an event without data, and resets the type after each event", () => {
    expect(parseSse("event: lonely\n\ndata: plain\n\n")).toEqual([{ event: "message", data: "plain" }]);
  });

  it("dispatches a final event whose blank line never came when the stream ends", () => {
    const parser = new SseParser();
    expect(parser.push('event: done\ndata: {"a":1}')).toEqual([]);
    expect(parser.end()).toEqual([{ event: "done", data: '{"a":1}' }]);
  });
});
