// Stand-ins for the API in unit tests: Responses with JSON or event-stream bodies, and a fetch
// that routes by method and URL and records every call.

const encoder = new TextEncoder();

export function jsonResponse(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

/** An event-stream response delivering `chunks` (strings or raw bytes) one read at a time. */
export function sseResponse(chunks: Array<string | Uint8Array>, status = 200): Response {
  const queue = chunks.map((c) => (typeof c === "string" ? encoder.encode(c) : c));
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = queue.shift();
      if (next === undefined) controller.close();
      else controller.enqueue(next);
    },
  });
  return new Response(body, { status, headers: { "Content-Type": "text/event-stream" } });
}

/** An event-stream response the test feeds by hand. */
export function controlledSse(): { response: Response; push: (text: string) => void; close: () => void; fail: (e: Error) => void } {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
  });
  return {
    response: new Response(body, { status: 200, headers: { "Content-Type": "text/event-stream" } }),
    push: (text) => controller.enqueue(encoder.encode(text)),
    close: () => controller.close(),
    fail: (e) => controller.error(e),
  };
}

export function sseEvent(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** The event stream the runtime sends for a reply, cut into one delta per word. */
export function replyStream(reply: string, sessionId: string, timestamp = "2026-11-21T10:00:00Z"): string {
  const words = reply.split(/(?<= )/);
  return words.map((w) => sseEvent("delta", { text: w })).join("") + sseEvent("done", { session_id: sessionId, timestamp });
}

export interface Call {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
  init?: RequestInit;
}

type Handler = (call: Call) => Response | Promise<Response>;

/** A fetch answering from `routes` ("METHOD url" → handler); anything else is a 404 error body. */
export function fakeFetch(routes: Record<string, Handler>) {
  const calls: Call[] = [];
  const fn = async (input: string, init: RequestInit = {}): Promise<Response> => {
    const method = (init.method ?? "GET").toUpperCase();
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, key) => {
      headers[key] = value;
    });
    let body: unknown = init.body;
    if (typeof body === "string") {
      try {
        body = JSON.parse(body);
      } catch {
        // leave as text
      }
    }
    const call: Call = { method, url: String(input), headers, body, init };
    calls.push(call);
    if (init.signal?.aborted) throw new DOMException("aborted", "AbortError");
    const handler = routes[`${method} ${input}`];
    if (!handler) {
      return jsonResponse({ error: { code: "not_found", message: `no route ${method} ${input}`, correlation_id: "c-404" } }, 404);
    }
    return handler(call);
  };
  return Object.assign(fn, { calls });
}

export const REPLY = "[offline twin] persona: I am Ada. | history turns: 0 | you said: hello";
export const SESSION = "3f1e0c9a-1111-4222-8333-444455556666";
