// The twin's chat page (a plain static stand-in until the Next.js frontend lands).
// The API base comes from /config.json, which twinctl writes per environment.
"use strict";
(() => {
  const SESSION_KEY = "twin.session_id";
  const $ = (id) => document.getElementById(id);
  const list = $("messages"), input = $("message"), send = $("send");
  let apiBase = "/api";
  let lastMessage = null;

  const showError = (text) => { $("error-text").textContent = text; $("error").hidden = false; };
  const clearError = () => { $("error").hidden = true; };

  function bubble(role, content, timestamp) {
    const item = document.createElement("li");
    item.className = role;
    const text = document.createElement("span");
    text.textContent = content;
    item.append(text);
    const time = document.createElement("time");
    const when = timestamp ? new Date(timestamp) : new Date();
    time.dateTime = when.toISOString();
    time.textContent = when.toLocaleTimeString();
    item.append(time);
    list.append(item);
    item.scrollIntoView({ block: "end" });
    return text;
  }

  async function loadHistory() {
    const session = localStorage.getItem(SESSION_KEY);
    if (!session) return;
    const response = await fetch(`${apiBase}/chat/history/${encodeURIComponent(session)}`);
    if (response.status === 404) { localStorage.removeItem(SESSION_KEY); return; }
    if (!response.ok) throw new Error(`history: HTTP ${response.status}`);
    const body = await response.json();
    for (const m of body.messages) bubble(m.role, m.content, m.timestamp);
  }

  async function chat(message) {
    const session = localStorage.getItem(SESSION_KEY);
    const payload = JSON.stringify(session ? { message, session_id: session } : { message });
    const response = await fetch(`${apiBase}/chat/stream`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: payload,
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error(body.error?.message || `HTTP ${response.status}`);
    }
    const target = bubble("assistant", "");
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
        const event = (block.match(/^event: (.*)$/m) || [])[1];
        const data = JSON.parse((block.match(/^data: (.*)$/m) || [, "{}"])[1]);
        if (event === "delta") target.textContent += data.text;
        else if (event === "done") localStorage.setItem(SESSION_KEY, data.session_id);
        else if (event === "error") throw new Error(data.error?.message || "the twin failed");
      }
    }
  }

  async function submit(message) {
    clearError();
    send.disabled = true; send.textContent = "Sending…";
    try {
      await chat(message);
      lastMessage = null;
    } catch (error) {
      lastMessage = message;
      showError(`Could not reach the twin: ${error.message}`);
    } finally {
      send.disabled = false; send.textContent = "Send"; input.focus();
    }
  }

  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const message = input.value.trim();
    if (!message || send.disabled) return;
    input.value = "";
    bubble("user", message);
    submit(message);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("composer").requestSubmit(); }
  });
  $("retry").addEventListener("click", () => { if (lastMessage) submit(lastMessage); });
  $("new-conversation").addEventListener("click", () => {
    localStorage.removeItem(SESSION_KEY); list.replaceChildren(); clearError(); input.focus();
  });

  fetch("/config.json")
    .then((r) => (r.ok ? r.json() : {}))
    .catch(() => ({}))
    .then((config) => { if (config.apiBaseUrl) apiBase = config.apiBaseUrl.replace(/\/$/, ""); })
    .then(loadHistory)
    .catch((error) => showError(`Could not load the conversation: ${error.message}`));
})();
