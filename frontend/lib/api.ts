// The twin's chat API, as the page uses it.
//
// - `loadRuntimeConfig` reads /config.json (written per environment by the deploy tool) at run
//   time, so no API address is baked into the build; without it the API is same-origin "/api".
// - `createApiClient` talks to the API: history, a streamed reply from /chat/stream (read with
//   fetch + ReadableStream and parsed as server-sent events), and POST /chat as the fallback when
//   streaming is unavailable (no readable response bodies, or a deployment without the route).

import { SseParser, parseSse, type SseEvent } from "./sse";

export type Role = "user" | "assistant";

export interface HistoryMessage {
  role: Role;
  content: string;
  timestamp: string;
}

export interface ChatReply {
  response: string;
  session_id: string;
  timestamp: string;
}

export interface RuntimeConfig {
  apiBaseUrl: string;
  environment?: string;
}

export const DEFAULT_API_BASE_URL = "/api";
export const RUNTIME_CONFIG_PATH = "/config.json";

type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** An error the page can explain: an API error body, an HTTP status, or a network failure. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field?: string;
  readonly correlationId?: string;
  /** Seconds to wait before retrying, from `Retry-After`. */
  readonly retryAfter?: number;

  constructor(init: {
    status: number;
    code: string;
    message: string;
    field?: string;
    correlationId?: string;
    retryAfter?: number;
  }) {
    super(init.message);
    this.name = "ApiError";
    this.status = init.status;
    this.code = init.code;
    this.field = init.field;
    this.correlationId = init.correlationId;
    this.retryAfter = init.retryAfter;
  }
}

/** The streaming route cannot be used here; the caller should use POST /chat instead. */
export class StreamingUnavailableError extends Error {
  constructor(reason: string) {
    super(`streaming unavailable: ${reason}`);
    this.name = "StreamingUnavailableError";
  }
}

function normaliseBaseUrl(value: unknown): string | null {
  if (typeof value !== "string") return null;
  const trimmed = value.trim().replace(/\/+$/, "");
  if (trimmed === "") return null;
  // Same-origin paths and http(s) URLs only: a config file must not point the page elsewhere
  // through javascript: or data: URLs.
  if (trimmed.startsWith("/") && !trimmed.startsWith("//")) return trimmed;
  if (/^https?:\/\/[^/]/i.test(trimmed)) return trimmed;
  return null;
}

/** Reads /config.json; a missing, unreadable or invalid file means the same-origin "/api". */
export async function loadRuntimeConfig(fetchImpl: FetchLike = defaultFetch): Promise<RuntimeConfig> {
  try {
    const response = await fetchImpl(RUNTIME_CONFIG_PATH, { cache: "no-store", headers: { Accept: "application/json" } });
    if (!response.ok) return { apiBaseUrl: DEFAULT_API_BASE_URL };
    const body: unknown = await response.json();
    if (typeof body !== "object" || body === null) return { apiBaseUrl: DEFAULT_API_BASE_URL };
    const record = body as Record<string, unknown>;
    const config: RuntimeConfig = { apiBaseUrl: normaliseBaseUrl(record.apiBaseUrl) ?? DEFAULT_API_BASE_URL };
    if (typeof record.environment === "string") config.environment = record.environment;
    return config;
  } catch {
    return { apiBaseUrl: DEFAULT_API_BASE_URL };
  }
}

function defaultFetch(input: string, init?: RequestInit): Promise<Response> {
  return fetch(input, init);
}

function parseRetryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/** Turns a non-2xx response into an ApiError, from its JSON error body when it has one. */
export async function errorFromResponse(response: Response): Promise<ApiError> {
  const retryAfter = parseRetryAfter(response.headers.get("Retry-After"));
  const headerCorrelation = response.headers.get("x-correlation-id") ?? undefined;
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const error = (body as { error?: Record<string, unknown> } | null)?.error;
  if (error && typeof error === "object" && typeof error.code === "string") {
    return new ApiError({
      status: response.status,
      code: error.code,
      message: typeof error.message === "string" ? error.message : `HTTP ${response.status}`,
      field: typeof error.field === "string" ? error.field : undefined,
      correlationId: typeof error.correlation_id === "string" ? error.correlation_id : headerCorrelation,
      retryAfter,
    });
  }
  return new ApiError({
    status: response.status,
    code: "http_error",
    message: `the server answered HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}`,
    correlationId: headerCorrelation,
    retryAfter,
  });
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && error.name === "AbortError";
}

function networkError(cause: unknown): ApiError {
  const detail = cause instanceof Error && cause.message ? ` (${cause.message})` : "";
  return new ApiError({ status: 0, code: "network_error", message: `the twin could not be reached${detail}` });
}

/** Does this browser let a page read a fetch response body as it arrives? */
export function canStream(): boolean {
  return (
    typeof ReadableStream !== "undefined" &&
    typeof TextDecoder !== "undefined" &&
    typeof Response !== "undefined" &&
    "body" in Response.prototype
  );
}

export interface SendOptions {
  /** Called with each piece of the reply as it arrives (streaming only). */
  onDelta?: (text: string) => void;
  signal?: AbortSignal;
}

export interface ApiClient {
  readonly baseUrl: string;
  history(sessionId: string, signal?: AbortSignal): Promise<HistoryMessage[] | null>;
  chat(message: string, sessionId: string | null, signal?: AbortSignal): Promise<ChatReply>;
  streamChat(message: string, sessionId: string | null, options?: SendOptions): Promise<ChatReply>;
  /** Streams when it can; otherwise, or when the stream route is unavailable, POST /chat. */
  send(message: string, sessionId: string | null, options?: SendOptions): Promise<ChatReply>;
}

export interface ClientOptions {
  baseUrl?: string;
  fetch?: FetchLike;
  /** Feature detection, replaceable in tests. */
  canStream?: () => boolean;
}

function chatBody(message: string, sessionId: string | null): string {
  return JSON.stringify(sessionId ? { message, session_id: sessionId } : { message });
}

function streamError(data: string): ApiError {
  try {
    const parsed = JSON.parse(data) as { error?: Record<string, unknown> };
    const error = parsed.error;
    if (error && typeof error.code === "string") {
      return new ApiError({
        status: 0,
        code: error.code,
        message: typeof error.message === "string" ? error.message : "the twin failed to answer",
        field: typeof error.field === "string" ? error.field : undefined,
        correlationId: typeof error.correlation_id === "string" ? error.correlation_id : undefined,
      });
    }
  } catch {
    // fall through
  }
  return new ApiError({ status: 0, code: "stream_error", message: "the twin failed to answer" });
}

function badResponse(message: string): ApiError {
  return new ApiError({ status: 0, code: "bad_response", message });
}

export function createApiClient(options: ClientOptions = {}): ApiClient {
  const baseUrl = normaliseBaseUrl(options.baseUrl) ?? DEFAULT_API_BASE_URL;
  const doFetch: FetchLike = options.fetch ?? defaultFetch;
  const streamingSupported = options.canStream ?? canStream;
  // Once the stream route has proved unavailable, later messages go straight to POST /chat.
  let streamRouteMissing = false;

  async function request(path: string, init: RequestInit): Promise<Response> {
    try {
      return await doFetch(`${baseUrl}${path}`, init);
    } catch (error) {
      if (isAbort(error)) throw error;
      throw networkError(error);
    }
  }

  async function history(sessionId: string, signal?: AbortSignal): Promise<HistoryMessage[] | null> {
    const response = await request(`/chat/history/${encodeURIComponent(sessionId)}`, {
      method: "GET",
      headers: { Accept: "application/json" },
      signal,
    });
    if (response.status === 404) return null;
    if (!response.ok) throw await errorFromResponse(response);
    const body = (await response.json().catch(() => null)) as { messages?: unknown } | null;
    if (!body || !Array.isArray(body.messages)) throw badResponse("the conversation history could not be read");
    return body.messages.filter(
      (m): m is HistoryMessage =>
        typeof m === "object" &&
        m !== null &&
        (m.role === "user" || m.role === "assistant") &&
        typeof m.content === "string",
    );
  }

  async function chat(message: string, sessionId: string | null, signal?: AbortSignal): Promise<ChatReply> {
    const response = await request("/chat", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: chatBody(message, sessionId),
      signal,
    });
    if (!response.ok) throw await errorFromResponse(response);
    const body = (await response.json().catch(() => null)) as Partial<ChatReply> | null;
    if (!body || typeof body.response !== "string" || typeof body.session_id !== "string") {
      throw badResponse("the twin's reply could not be read");
    }
    return { response: body.response, session_id: body.session_id, timestamp: body.timestamp ?? new Date().toISOString() };
  }

  async function streamChat(message: string, sessionId: string | null, opts: SendOptions = {}): Promise<ChatReply> {
    const response = await request("/chat/stream", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: chatBody(message, sessionId),
      signal: opts.signal,
    });
    // A deployment without the route (or a proxy that refuses it): nothing was processed.
    if (response.status === 404 || response.status === 405 || response.status === 501) {
      const error = await errorFromResponse(response.clone());
      // A 404 about the session itself is a real answer, not a missing route.
      if (error.code !== "session_not_found") throw new StreamingUnavailableError(`HTTP ${response.status}`);
      throw error;
    }
    if (!response.ok) throw await errorFromResponse(response);
    const contentType = response.headers.get("Content-Type") ?? "";
    if (!contentType.toLowerCase().startsWith("text/event-stream")) {
      throw new StreamingUnavailableError(`the answer was ${contentType || "untyped"}, not an event stream`);
    }

    let text = "";
    let reply: ChatReply | null = null;
    const handle = (event: SseEvent): void => {
      if (reply) return;
      if (event.event === "delta") {
        let piece: unknown;
        try {
          piece = (JSON.parse(event.data) as { text?: unknown }).text;
        } catch {
          throw badResponse("the twin's reply stream could not be read");
        }
        if (typeof piece === "string" && piece !== "") {
          text += piece;
          opts.onDelta?.(piece);
        }
      } else if (event.event === "done") {
        let done: { session_id?: unknown; timestamp?: unknown };
        try {
          done = JSON.parse(event.data) as typeof done;
        } catch {
          throw badResponse("the twin's reply stream could not be read");
        }
        if (typeof done.session_id !== "string") throw badResponse("the reply stream ended without a session");
        reply = {
          response: text,
          session_id: done.session_id,
          timestamp: typeof done.timestamp === "string" ? done.timestamp : new Date().toISOString(),
        };
      } else if (event.event === "error") {
        throw streamError(event.data);
      }
    };

    const reader = response.body?.getReader?.();
    if (!reader) {
      // The body cannot be read as it arrives: read it whole, then parse it.
      for (const event of parseSse(await response.text())) handle(event);
    } else {
      const decoder = new TextDecoder();
      const parser = new SseParser();
      try {
        for (;;) {
          let chunk: ReadableStreamReadResult<Uint8Array>;
          try {
            chunk = await reader.read();
          } catch (error) {
            if (isAbort(error)) throw error;
            throw networkError(error);
          }
          if (chunk.done) {
            for (const event of [...parser.push(decoder.decode()), ...parser.end()]) handle(event);
            break;
          }
          for (const event of parser.push(decoder.decode(chunk.value, { stream: true }))) handle(event);
          if (reply) break;
        }
      } finally {
        // Done (or failed): let go of the connection.
        reader.cancel().catch(() => undefined);
      }
    }
    if (!reply) {
      throw new ApiError({
        status: 0,
        code: "stream_incomplete",
        message: "the connection closed before the reply was complete",
      });
    }
    return reply;
  }

  async function send(message: string, sessionId: string | null, opts: SendOptions = {}): Promise<ChatReply> {
    if (!streamRouteMissing && streamingSupported()) {
      try {
        return await streamChat(message, sessionId, opts);
      } catch (error) {
        if (!(error instanceof StreamingUnavailableError)) throw error;
        streamRouteMissing = true;
      }
    }
    return chat(message, sessionId, opts.signal);
  }

  return { baseUrl, history, chat, streamChat, send };
}

/** A sentence for the error banner. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    let text: string;
    switch (error.code) {
      case "network_error":
        text = "The twin could not be reached. Check your connection, then retry.";
        break;
      case "model_unavailable":
        text = "The twin is unavailable right now.";
        break;
      case "store_unavailable":
        text = "The conversation could not be saved right now.";
        break;
      case "stream_incomplete":
        text = "The reply was cut off before it was complete.";
        break;
      default:
        text = `${capitalise(error.message)}.`.replace(/\.\.$/, ".");
    }
    if (error.retryAfter !== undefined && error.retryAfter > 0) {
      text += ` Try again in ${error.retryAfter} second${error.retryAfter === 1 ? "" : "s"}.`;
    }
    if (error.correlationId) text += ` (Reference: ${error.correlationId})`;
    return text;
  }
  if (error instanceof Error && error.message) return `${capitalise(error.message)}.`.replace(/\.\.$/, ".");
  return "Something went wrong.";
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
