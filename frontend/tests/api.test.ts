// @vitest-environment node
import { describe, expect, it, vi } from "vitest";
import {
  ApiError,
  createApiClient,
  describeError,
  errorFromResponse,
  loadRuntimeConfig,
  StreamingUnavailableError,
} from "@/lib/api";
import { REPLY, SESSION, controlledSse, fakeFetch, jsonResponse, replyStream, sseEvent, sseResponse } from "./helpers";

const encoder = new TextEncoder();

describe("loadRuntimeConfig", () => {
  it("reads apiBaseUrl and environment from /config.json, without caching", async () => {
    const fetch = fakeFetch({ "GET /config.json": () => jsonResponse({ apiBaseUrl: "/v1/api/", environment: "staging" }) });
    await expect(loadRuntimeConfig(fetch)).resolves.toEqual({ apiBaseUrl: "/v1/api", environment: "staging" });
    expect(fetch.calls[0].init?.cache).toBe("no-store");
  });

  it("accepts an absolute http(s) URL", async () => {
    const fetch = fakeFetch({ "GET /config.json": () => jsonResponse({ apiBaseUrl: "https://api.example.test/api" }) });
    await expect(loadRuntimeConfig(fetch)).resolves.toEqual({ apiBaseUrl: "https://api.example.test/api" });
  });

  it.each([
    ["missing (404)", () => new Response("not here", { status: 404 })],
    ["not JSON", () => new Response("<html>", { status: 200, headers: { "Content-Type": "text/html" } })],
    ["without apiBaseUrl", () => jsonResponse({ environment: "local" })],
    ["a javascript: URL", () => jsonResponse({ apiBaseUrl: "javascript:alert(1)" })],
    ["a protocol-relative URL", () => jsonResponse({ apiBaseUrl: "//evil.test/api" })],
    ["not an object", () => jsonResponse("just a string")],
  ])("falls back to same-origin /api when the file is %s", async (_name, answer) => {
    const fetch = fakeFetch({ "GET /config.json": answer });
    const config = await loadRuntimeConfig(fetch);
    expect(config.apiBaseUrl).toBe("/api");
  });

  it("falls back to /api when the request fails", async () => {
    const fetch = vi.fn().mockRejectedValue(new TypeError("Failed to fetch"));
    await expect(loadRuntimeConfig(fetch)).resolves.toEqual({ apiBaseUrl: "/api" });
  });
});

describe("history", () => {
  it("GETs /chat/history/{id} under the base URL and returns the messages", async () => {
    const messages = [
      { role: "user", content: "hi", timestamp: "2026-11-21T10:00:00Z" },
      { role: "assistant", content: "hello", timestamp: "2026-11-21T10:00:01Z" },
    ];
    const fetch = fakeFetch({ [`GET /x/api/chat/history/${SESSION}`]: () => jsonResponse({ session_id: SESSION, messages }) });
    const client = createApiClient({ baseUrl: "/x/api", fetch });
    await expect(client.history(SESSION)).resolves.toEqual(messages);
    expect(fetch.calls).toHaveLength(1);
    expect(fetch.calls[0].method).toBe("GET");
  });

  it("escapes the session id in the path", async () => {
    const fetch = fakeFetch({});
    await createApiClient({ fetch }).history("../a b");
    expect(fetch.calls[0].url).toBe("/api/chat/history/..%2Fa%20b");
  });

  it("returns null for an unknown session (404)", async () => {
    const fetch = fakeFetch({
      [`GET /api/chat/history/${SESSION}`]: () =>
        jsonResponse({ error: { code: "session_not_found", message: "no conversation", correlation_id: "c1" } }, 404),
    });
    await expect(createApiClient({ fetch }).history(SESSION)).resolves.toBeNull();
  });

  it("drops malformed entries", async () => {
    const fetch = fakeFetch({
      [`GET /api/chat/history/${SESSION}`]: () =>
        jsonResponse({ messages: [{ role: "system", content: "x" }, null, { role: "user", content: "ok", timestamp: "t" }] }),
    });
    await expect(createApiClient({ fetch }).history(SESSION)).resolves.toEqual([{ role: "user", content: "ok", timestamp: "t" }]);
  });

  it("turns an error body into an ApiError", async () => {
    const fetch = fakeFetch({
      [`GET /api/chat/history/${SESSION}`]: () =>
        jsonResponse(
          { error: { code: "store_unavailable", message: "conversation memory is unavailable", correlation_id: "corr-9" } },
          503,
          { "Retry-After": "5" },
        ),
    });
    const error = await createApiClient({ fetch }).history(SESSION).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 503, code: "store_unavailable", correlationId: "corr-9", retryAfter: 5 });
  });
});

describe("chat (POST /chat)", () => {
  it("sends {message} without a session, and {message, session_id} with one", async () => {
    const fetch = fakeFetch({
      "POST /api/chat": (call) =>
        jsonResponse({ response: REPLY, session_id: SESSION, timestamp: "2026-11-21T10:00:00Z", echo: call.body }),
    });
    const client = createApiClient({ fetch });
    await expect(client.chat("hello", null)).resolves.toEqual({
      response: REPLY,
      session_id: SESSION,
      timestamp: "2026-11-21T10:00:00Z",
    });
    await client.chat("again", SESSION);
    expect(fetch.calls.map((c) => c.body)).toEqual([{ message: "hello" }, { message: "again", session_id: SESSION }]);
    for (const call of fetch.calls) {
      expect(call.method).toBe("POST");
      expect(call.headers["content-type"]).toBe("application/json");
    }
  });

  it("reports a validation error with its field and correlation id", async () => {
    const fetch = fakeFetch({
      "POST /api/chat": () =>
        jsonResponse(
          {
            error: {
              code: "message_too_long",
              message: "message is 4001 characters; the limit is 4000",
              field: "message",
              correlation_id: "3f1e",
            },
          },
          400,
        ),
    });
    const error = await createApiClient({ fetch }).chat("x", null).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 400, code: "message_too_long", field: "message", correlationId: "3f1e" });
    expect((error as Error).message).toBe("message is 4001 characters; the limit is 4000");
  });

  it("reads Retry-After on 503 model_unavailable", async () => {
    const fetch = fakeFetch({
      "POST /api/chat": () =>
        jsonResponse({ error: { code: "model_unavailable", message: "the model failed", correlation_id: "c" } }, 503, {
          "Retry-After": "30",
        }),
    });
    const error = (await createApiClient({ fetch }).chat("x", null).catch((e: unknown) => e)) as ApiError;
    expect(error.code).toBe("model_unavailable");
    expect(error.retryAfter).toBe(30);
    expect(describeError(error)).toBe("The twin is unavailable right now. Try again in 30 seconds. (Reference: c)");
  });

  it("copes with an error that is not JSON (a proxy's HTML page)", async () => {
    const fetch = fakeFetch({
      "POST /api/chat": () =>
        new Response("<h1>Bad gateway</h1>", {
          status: 502,
          statusText: "Bad Gateway",
          headers: { "Content-Type": "text/html", "x-correlation-id": "hdr-1" },
        }),
    });
    const error = (await createApiClient({ fetch }).chat("x", null).catch((e: unknown) => e)) as ApiError;
    expect(error).toMatchObject({ status: 502, code: "http_error", correlationId: "hdr-1" });
    expect(error.message).toBe("the server answered HTTP 502 Bad Gateway");
  });

  it("turns a network failure into network_error", async () => {
    const fetch = vi.fn().mockRejectedValue(new TypeError("Failed to fetch"));
    const error = (await createApiClient({ fetch }).chat("x", null).catch((e: unknown) => e)) as ApiError;
    expect(error.code).toBe("network_error");
    expect(describeError(error)).toMatch(/could not be reached/);
  });

  it("rejects a 200 that is not a reply", async () => {
    const fetch = fakeFetch({ "POST /api/chat": () => jsonResponse({ nope: true }) });
    await expect(createApiClient({ fetch }).chat("x", null)).rejects.toMatchObject({ code: "bad_response" });
  });
});

describe("streamChat (POST /chat/stream)", () => {
  it("posts the same body with Accept: text/event-stream and reports each delta", async () => {
    const fetch = fakeFetch({ "POST /api/chat/stream": () => sseResponse([replyStream(REPLY, SESSION)]) });
    const deltas: string[] = [];
    const reply = await createApiClient({ fetch }).streamChat("hello", SESSION, { onDelta: (t) => deltas.push(t) });
    expect(reply).toEqual({ response: REPLY, session_id: SESSION, timestamp: "2026-11-21T10:00:00Z" });
    expect(deltas.join("")).toBe(REPLY);
    expect(deltas.length).toBeGreaterThan(5);
    const [call] = fetch.calls;
    expect(call.body).toEqual({ message: "hello", session_id: SESSION });
    expect(call.headers["content-type"]).toBe("application/json");
    expect(call.headers.accept).toBe("text/event-stream");
  });

  it("gives the same reply however the bytes are cut, mid-event and mid-character", async () => {
    const bytes = encoder.encode(
      sseEvent("delta", { text: "Grüße " }) + sseEvent("delta", { text: "🙂 ok" }) + sseEvent("done", { session_id: SESSION, timestamp: "t" }),
    );
    for (let cut = 1; cut < bytes.length; cut++) {
      const fetch = fakeFetch({ "POST /api/chat/stream": () => sseResponse([bytes.slice(0, cut), bytes.slice(cut)]) });
      const reply = await createApiClient({ fetch }).streamChat("x", null);
      expect(reply.response, `cut at byte ${cut}`).toBe("Grüße 🙂 ok");
    }
    const oneByteAtATime = [...bytes].map((b) => Uint8Array.of(b));
    const fetch = fakeFetch({ "POST /api/chat/stream": () => sseResponse(oneByteAtATime) });
    await expect(createApiClient({ fetch }).streamChat("x", null)).resolves.toMatchObject({ response: "Grüße 🙂 ok" });
  });

  it("shows deltas as they arrive, before the stream ends", async () => {
    const stream = controlledSse();
    const fetch = fakeFetch({ "POST /api/chat/stream": () => stream.response });
    const deltas: string[] = [];
    const pending = createApiClient({ fetch }).streamChat("x", null, { onDelta: (t) => deltas.push(t) });
    stream.push('event: delta\ndata: {"text":"first "}\n\nevent: del');
    await vi.waitFor(() => expect(deltas).toEqual(["first "]));
    stream.push('ta\ndata: {"text":"second"}\n\n');
    await vi.waitFor(() => expect(deltas).toEqual(["first ", "second"]));
    stream.push(sseEvent("done", { session_id: SESSION, timestamp: "t" }));
    await expect(pending).resolves.toMatchObject({ response: "first second", session_id: SESSION });
  });

  it("turns an error event into an ApiError", async () => {
    const fetch = fakeFetch({
      "POST /api/chat/stream": () =>
        sseResponse([
          sseEvent("delta", { text: "partial" }),
          sseEvent("error", { error: { code: "model_unavailable", message: "the model failed", correlation_id: "e-1" } }),
        ]),
    });
    await expect(createApiClient({ fetch }).streamChat("x", null)).rejects.toMatchObject({
      code: "model_unavailable",
      correlationId: "e-1",
    });
  });

  it("fails when the stream ends without done", async () => {
    const fetch = fakeFetch({ "POST /api/chat/stream": () => sseResponse([sseEvent("delta", { text: "cut" })]) });
    await expect(createApiClient({ fetch }).streamChat("x", null)).rejects.toMatchObject({ code: "stream_incomplete" });
  });

  it("fails with network_error when the connection breaks mid-stream", async () => {
    const stream = controlledSse();
    const fetch = fakeFetch({ "POST /api/chat/stream": () => stream.response });
    const pending = createApiClient({ fetch }).streamChat("x", null);
    stream.push(sseEvent("delta", { text: "a" }));
    stream.fail(new TypeError("network error"));
    await expect(pending).rejects.toMatchObject({ code: "network_error" });
  });

  it("rejects a malformed delta", async () => {
    const fetch = fakeFetch({ "POST /api/chat/stream": () => sseResponse(["event: delta\ndata: {not json\n\n"]) });
    await expect(createApiClient({ fetch }).streamChat("x", null)).rejects.toMatchObject({ code: "bad_response" });
  });

  it("reports a JSON error body (e.g. 400, 503) without falling back", async () => {
    const fetch = fakeFetch({
      "POST /api/chat/stream": () =>
        jsonResponse({ error: { code: "empty_message", message: "message must not be empty", field: "message", correlation_id: "z" } }, 400),
    });
    await expect(createApiClient({ fetch }).send(" ", null)).rejects.toMatchObject({ status: 400, code: "empty_message", field: "message" });
    expect(fetch.calls.map((c) => c.url)).toEqual(["/api/chat/stream"]);
  });

  it.each([404, 405, 501])("says streaming is unavailable on HTTP %i", async (status) => {
    const fetch = fakeFetch({ "POST /api/chat/stream": () => jsonResponse({ error: { code: "not_found", message: "no" } }, status) });
    await expect(createApiClient({ fetch }).streamChat("x", null)).rejects.toBeInstanceOf(StreamingUnavailableError);
  });

  it("reads the whole body when it cannot be read as a stream", async () => {
    const text = replyStream("whole body", SESSION);
    const response = {
      ok: true,
      status: 200,
      headers: new Headers({ "Content-Type": "text/event-stream; charset=utf-8" }),
      body: null,
      text: async () => text,
      clone() {
        return this;
      },
    } as unknown as Response;
    const fetch = vi.fn().mockResolvedValue(response);
    await expect(createApiClient({ fetch }).streamChat("x", null)).resolves.toMatchObject({ response: "whole body" });
  });
});

describe("send: streaming with fallback to POST /chat", () => {
  const chatRoute = {
    "POST /api/chat": () => jsonResponse({ response: "from POST", session_id: SESSION, timestamp: "t" }),
  };

  it("streams when it can", async () => {
    const fetch = fakeFetch({ ...chatRoute, "POST /api/chat/stream": () => sseResponse([replyStream("streamed", SESSION)]) });
    await expect(createApiClient({ fetch }).send("x", null)).resolves.toMatchObject({ response: "streamed" });
    expect(fetch.calls.map((c) => c.url)).toEqual(["/api/chat/stream"]);
  });

  it("falls back when the stream route is missing, and skips it from then on", async () => {
    const fetch = fakeFetch(chatRoute); // /chat/stream answers 404
    const client = createApiClient({ fetch });
    await expect(client.send("one", null)).resolves.toMatchObject({ response: "from POST" });
    await expect(client.send("two", SESSION)).resolves.toMatchObject({ response: "from POST" });
    expect(fetch.calls.map((c) => `${c.method} ${c.url}`)).toEqual([
      "POST /api/chat/stream",
      "POST /api/chat",
      "POST /api/chat",
    ]);
    expect(fetch.calls[1].body).toEqual({ message: "one" });
    expect(fetch.calls[2].body).toEqual({ message: "two", session_id: SESSION });
  });

  it("falls back when the answer is not an event stream", async () => {
    const fetch = fakeFetch({
      ...chatRoute,
      "POST /api/chat/stream": () => new Response("<html></html>", { status: 200, headers: { "Content-Type": "text/html" } }),
    });
    await expect(createApiClient({ fetch }).send("x", null)).resolves.toMatchObject({ response: "from POST" });
  });

  it("uses POST /chat directly when the browser cannot stream", async () => {
    const fetch = fakeFetch(chatRoute);
    await expect(createApiClient({ fetch, canStream: () => false }).send("x", null)).resolves.toMatchObject({
      response: "from POST",
    });
    expect(fetch.calls.map((c) => c.url)).toEqual(["/api/chat"]);
  });

  it("does not resend through POST /chat after a network failure (the turn may have been stored)", async () => {
    const fetch = vi.fn().mockRejectedValue(new TypeError("Failed to fetch"));
    await expect(createApiClient({ fetch }).send("x", null)).rejects.toMatchObject({ code: "network_error" });
    expect(fetch).toHaveBeenCalledTimes(1);
  });

  it("passes an abort through untouched", async () => {
    const controller = new AbortController();
    controller.abort();
    const fetch = fakeFetch(chatRoute);
    const error = await createApiClient({ fetch }).send("x", null, { signal: controller.signal }).catch((e: unknown) => e);
    expect((error as Error).name).toBe("AbortError");
  });
});

describe("errorFromResponse and describeError", () => {
  it("reads an HTTP-date Retry-After", async () => {
    const when = new Date(Date.now() + 10_000).toUTCString();
    const error = await errorFromResponse(new Response("", { status: 503, headers: { "Retry-After": when } }));
    expect(error.retryAfter).toBeGreaterThanOrEqual(8);
    expect(error.retryAfter).toBeLessThanOrEqual(10);
  });

  it("explains API errors in a sentence", () => {
    expect(describeError(new ApiError({ status: 400, code: "empty_message", message: "message must not be empty" }))).toBe(
      "Message must not be empty.",
    );
    expect(describeError(new ApiError({ status: 503, code: "store_unavailable", message: "x", retryAfter: 1 }))).toBe(
      "The conversation could not be saved right now. Try again in 1 second.",
    );
    expect(describeError("weird")).toBe("Something went wrong.");
  });
});
