// A server-sent events parser that is fed text in arbitrary pieces.
//
// It follows the event-stream format of the HTML standard: lines end in LF, CRLF or CR; `event:`
// names the event; `data:` lines (several are joined with "\n") carry its payload; a line starting
// with ":" is a comment; a blank line dispatches the event. One space after the colon is dropped.
// Chunks may be cut anywhere — inside a field name, inside a CRLF, between two events — so the
// parser keeps the unfinished line and the event being built across `push` calls.

export interface SseEvent {
  /** The event's type: `event:` when given, else "message". */
  event: string;
  data: string;
  id?: string;
}

export class SseParser {
  private buffer = "";
  private eventType = "";
  private data: string[] = [];
  private id: string | undefined;
  private sawField = false;
  /** The previous chunk ended in CR: a LF starting the next chunk belongs to that line end. */
  private pendingCr = false;

  /** Feeds text; returns the events it completed, in order. */
  push(text: string): SseEvent[] {
    const events: SseEvent[] = [];
    let input = text;
    if (this.pendingCr && input.startsWith("\n")) input = input.slice(1);
    this.pendingCr = false;
    this.buffer += input;

    let start = 0;
    for (;;) {
      const cr = this.buffer.indexOf("\r", start);
      const lf = this.buffer.indexOf("\n", start);
      if (cr < 0 && lf < 0) break;
      let end: number;
      let next: number;
      if (cr >= 0 && (lf < 0 || cr < lf)) {
        end = cr;
        if (cr + 1 < this.buffer.length) {
          next = this.buffer[cr + 1] === "\n" ? cr + 2 : cr + 1;
        } else {
          // A CR at the very end: its LF, if any, comes with the next chunk.
          next = cr + 1;
          this.pendingCr = true;
        }
      } else {
        end = lf;
        next = lf + 1;
      }
      this.line(this.buffer.slice(start, end), events);
      start = next;
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }

  /**
   * The stream ended. The standard drops an event whose blank line never came; a server that
   * closes right after its last `data:` line still means it, so it is dispatched here.
   */
  end(): SseEvent[] {
    const events: SseEvent[] = [];
    if (this.buffer.length > 0) this.line(this.buffer, events);
    this.buffer = "";
    this.pendingCr = false;
    this.dispatch(events);
    return events;
  }

  private line(line: string, events: SseEvent[]): void {
    if (line === "") {
      this.dispatch(events);
      return;
    }
    if (line.startsWith(":")) return; // a comment (often a keep-alive)
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.eventType = value;
        this.sawField = true;
        break;
      case "data":
        this.data.push(value);
        this.sawField = true;
        break;
      case "id":
        if (!value.includes("\0")) this.id = value;
        break;
      default:
        break; // `retry` and unknown fields are ignored
    }
  }

  private dispatch(events: SseEvent[]): void {
    if (this.sawField && this.data.length > 0) {
      const event: SseEvent = { event: this.eventType || "message", data: this.data.join("\n") };
      if (this.id !== undefined) event.id = this.id;
      events.push(event);
    }
    this.eventType = "";
    this.data = [];
    this.sawField = false;
  }
}

/** Parses a whole event stream at once (when the body cannot be read as a stream). */
export function parseSse(text: string): SseEvent[] {
  const parser = new SseParser();
  return [...parser.push(text), ...parser.end()];
}
