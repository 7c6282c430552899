import { act, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { Chat } from "@/components/Chat";
import type { RuntimeConfig } from "@/lib/api";
import { SESSION_KEY } from "@/lib/session";
import { REPLY, SESSION, controlledSse, fakeFetch, jsonResponse, replyStream } from "./helpers";

const HISTORY = [
  { role: "user", content: "earlier question", timestamp: "2026-11-21T10:00:00Z" },
  { role: "assistant", content: "earlier answer", timestamp: "2026-11-21T10:00:01Z" },
];

function startChat(routes: Parameters<typeof fakeFetch>[0], config: RuntimeConfig = { apiBaseUrl: "/api", environment: "local" }) {
  const fetch = fakeFetch(routes);
  vi.stubGlobal("fetch", fetch);
  render(<Chat loadConfig={async () => config} />);
  return fetch;
}

const bubbles = () =>
  within(screen.getByRole("log")).queryAllByRole("listitem").map((li) => ({
    role: li.classList.contains("user") ? "user" : "assistant",
    text: li.querySelector(".content")?.textContent,
  }));

function type(text: string) {
  const box = screen.getByLabelText("Message");
  fireEvent.change(box, { target: { value: text } });
  fireEvent.keyDown(box, { key: "Enter" });
}

describe("Chat", () => {
  it("starts empty without a stored session, and reads no history", async () => {
    const fetch = startChat({});
    await screen.findByText(/No messages yet/);
    expect(bubbles()).toEqual([]);
    expect(fetch.calls).toEqual([]);
    expect(screen.getByText("local")).toBeTruthy(); // the environment from the runtime config
  });

  it("loads the stored session's history on start", async () => {
    localStorage.setItem(SESSION_KEY, SESSION);
    const fetch = startChat(
      { [`GET /v2/api/chat/history/${SESSION}`]: () => jsonResponse({ session_id: SESSION, messages: HISTORY }) },
      { apiBaseUrl: "/v2/api" },
    );
    await screen.findByText("earlier answer");
    expect(bubbles()).toEqual([
      { role: "user", text: "earlier question" },
      { role: "assistant", text: "earlier answer" },
    ]);
    expect(fetch.calls.map((c) => c.url)).toEqual([`/v2/api/chat/history/${SESSION}`]);
  });

  it("forgets a session the API no longer knows", async () => {
    localStorage.setItem(SESSION_KEY, SESSION);
    startChat({});
    await screen.findByText(/No messages yet/);
    expect(localStorage.getItem(SESSION_KEY)).toBeNull();
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("shows the reply as it streams in, then stores the session id", async () => {
    const stream = controlledSse();
    const fetch = startChat({ "POST /api/chat/stream": () => stream.response });
    await screen.findByText(/No messages yet/);
    type("hello");

    await waitFor(() => expect(screen.getByRole("button", { name: /Sending/ })).toHaveProperty("disabled", true));
    expect(bubbles()[0]).toEqual({ role: "user", text: "hello" });
    expect(fetch.calls[0].body).toEqual({ message: "hello" });

    act(() => stream.push('event: delta\ndata: {"text":"[offline twin] "}\n\n'));
    await waitFor(() => expect(bubbles()[1]?.text).toBe("[offline twin] "));
    expect(screen.getByRole("log").getAttribute("aria-busy")).toBe("true");

    act(() => {
      stream.push('event: delta\ndata: {"text":"persona"}\n\nevent: done\ndata: {"session_id":"' + SESSION + '","timestamp":"2026-11-21T10:00:00Z"}\n\n');
    });
    await waitFor(() => expect(screen.getByRole("button", { name: "Send" })).toHaveProperty("disabled", false));
    expect(bubbles()).toEqual([
      { role: "user", text: "hello" },
      { role: "assistant", text: "[offline twin] persona" },
    ]);
    expect(screen.getByRole("log").getAttribute("aria-busy")).toBe("false");
    expect(localStorage.getItem(SESSION_KEY)).toBe(SESSION);
  });

  it("sends the stored session id with the next message", async () => {
    localStorage.setItem(SESSION_KEY, SESSION);
    const fetch = startChat({
      [`GET /api/chat/history/${SESSION}`]: () => jsonResponse({ session_id: SESSION, messages: HISTORY }),
      "POST /api/chat/stream": () => new Response(replyStream(REPLY, SESSION), { headers: { "Content-Type": "text/event-stream" } }),
    });
    await screen.findByText("earlier answer");
    type("hello");
    await screen.findByText(REPLY);
    expect(fetch.calls[1].body).toEqual({ message: "hello", session_id: SESSION });
    expect(bubbles()).toHaveLength(4);
  });

  it("falls back to POST /chat when streaming is unavailable", async () => {
    const fetch = startChat({
      "POST /api/chat/stream": () => new Response(null, { status: 405, headers: { Allow: "GET" } }),
      "POST /api/chat": () => jsonResponse({ response: "plain reply", session_id: SESSION, timestamp: "2026-11-21T10:00:00Z" }),
    });
    await screen.findByText(/No messages yet/);
    type("hello");
    await screen.findByText("plain reply");
    expect(fetch.calls.map((c) => `${c.method} ${c.url}`)).toEqual(["POST /api/chat/stream", "POST /api/chat"]);
    expect(localStorage.getItem(SESSION_KEY)).toBe(SESSION);
  });

  it("shows an error banner, and Retry sends the same message again", async () => {
    let down = true;
    const fetch = startChat({
      "POST /api/chat/stream": () =>
        down
          ? jsonResponse({ error: { code: "model_unavailable", message: "the model failed", correlation_id: "corr-1" } }, 503, {
              "Retry-After": "30",
            })
          : new Response(replyStream(REPLY, SESSION), { headers: { "Content-Type": "text/event-stream" } }),
    });
    await screen.findByText(/No messages yet/);
    type("hello");

    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toMatch(/Could not send your message\. The twin is unavailable right now\. Try again in 30 seconds\./);
    expect(alert.textContent).toContain("corr-1");
    expect(bubbles()).toEqual([{ role: "user", text: "hello" }]); // no half reply left behind
    expect(screen.getByRole("listitem").textContent).toContain("Not sent");
    expect(screen.getByRole("button", { name: "Send" })).toHaveProperty("disabled", false);

    down = false;
    fireEvent.click(within(alert).getByRole("button", { name: "Retry" }));
    await screen.findByText(REPLY);
    expect(screen.queryByRole("alert")).toBeNull();
    expect(bubbles()).toEqual([
      { role: "user", text: "hello" },
      { role: "assistant", text: REPLY },
    ]);
    expect(screen.getAllByRole("listitem")[0].textContent).not.toContain("Not sent");
    expect(fetch.calls.filter((c) => c.url === "/api/chat/stream").map((c) => c.body)).toEqual([
      { message: "hello" },
      { message: "hello" },
    ]);
  });

  it("drops the partial reply when the stream fails mid-way", async () => {
    startChat({
      "POST /api/chat/stream": () =>
        new Response(
          'event: delta\ndata: {"text":"half"}\n\nevent: error\ndata: {"error":{"code":"model_unavailable","message":"the model failed","correlation_id":"x"}}\n\n',
          { headers: { "Content-Type": "text/event-stream" } },
        ),
    });
    await screen.findByText(/No messages yet/);
    type("hello");
    await screen.findByRole("alert");
    expect(bubbles()).toEqual([{ role: "user", text: "hello" }]);
  });

  it("shows an error with Retry when the history cannot be loaded", async () => {
    localStorage.setItem(SESSION_KEY, SESSION);
    let attempts = 0;
    startChat({
      [`GET /api/chat/history/${SESSION}`]: () =>
        ++attempts === 1
          ? new Response("bad gateway", { status: 502 })
          : jsonResponse({ session_id: SESSION, messages: HISTORY }),
    });
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toMatch(/Could not load the conversation/);
    fireEvent.click(within(alert).getByRole("button", { name: "Retry" }));
    await screen.findByText("earlier answer");
    expect(screen.queryByRole("alert")).toBeNull();
    expect(localStorage.getItem(SESSION_KEY)).toBe(SESSION);
  });

  it("New conversation clears the messages, the session and any error, and focuses the box", async () => {
    localStorage.setItem(SESSION_KEY, SESSION);
    startChat({
      [`GET /api/chat/history/${SESSION}`]: () => jsonResponse({ session_id: SESSION, messages: HISTORY }),
      "POST /api/chat/stream": () => new Response("nope", { status: 500 }),
    });
    await screen.findByText("earlier answer");
    type("will fail");
    await screen.findByRole("alert");
    fireEvent.click(screen.getByRole("button", { name: "New conversation" }));
    expect(bubbles()).toEqual([]);
    expect(screen.queryByRole("alert")).toBeNull();
    expect(localStorage.getItem(SESSION_KEY)).toBeNull();
    expect(document.activeElement).toBe(screen.getByLabelText("Message"));
    expect(screen.getByText(/No messages yet/)).toBeTruthy();
  });

  it("New conversation during a reply abandons it", async () => {
    const stream = controlledSse();
    startChat({ "POST /api/chat/stream": () => stream.response });
    await screen.findByText(/No messages yet/);
    type("hello");
    act(() => stream.push('event: delta\ndata: {"text":"partial"}\n\n'));
    await screen.findByText("partial", { exact: false });
    fireEvent.click(screen.getByRole("button", { name: "New conversation" }));
    expect(bubbles()).toEqual([]);
    expect(screen.getByRole("button", { name: "Send" })).toHaveProperty("disabled", false);
    expect(localStorage.getItem(SESSION_KEY)).toBeNull();
  });
});
