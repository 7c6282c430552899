"use client";

import { useCallback, useEffect, useRef, useState } from "react";
import {
  ApiError,
  createApiClient,
  describeError,
  loadRuntimeConfig,
  type ApiClient,
  type HistoryMessage,
  type RuntimeConfig,
} from "@/lib/api";
import { clearSession, readSession, writeSession } from "@/lib/session";
import { Composer } from "./Composer";
import { ErrorBanner } from "./ErrorBanner";
import { MessageList } from "./MessageList";
import type { ChatMessage } from "./types";

interface Failure {
  text: string;
  retry?: () => void;
}

interface Props {
  /** Replaces reading /config.json (tests). */
  loadConfig?: () => Promise<RuntimeConfig>;
}

let nextId = 0;
const newId = () => `m${++nextId}`;

function fromHistory(message: HistoryMessage): ChatMessage {
  return { id: newId(), role: message.role, content: message.content, timestamp: message.timestamp, status: "sent" };
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && error.name === "AbortError";
}

export function Chat({ loadConfig = loadRuntimeConfig }: Props) {
  const [messages, setMessages] = useState<ChatMessage[]>([]);
  const [loading, setLoading] = useState(true);
  const [sending, setSending] = useState(false);
  const [failure, setFailure] = useState<Failure | null>(null);
  const [environment, setEnvironment] = useState<string | null>(null);

  const clientRef = useRef<Promise<ApiClient> | null>(null);
  const abortRef = useRef<AbortController | null>(null);
  // Bumped by "New conversation": answers to requests of an earlier conversation are dropped.
  const epochRef = useRef(0);
  const inputRef = useRef<HTMLTextAreaElement>(null);

  const client = useCallback((): Promise<ApiClient> => {
    if (!clientRef.current) {
      clientRef.current = loadConfig().then((config) => {
        setEnvironment(config.environment ?? null);
        return createApiClient({ baseUrl: config.apiBaseUrl });
      });
    }
    return clientRef.current;
  }, [loadConfig]);

  const loadHistory = useCallback(async (): Promise<void> => {
    const epoch = epochRef.current;
    setFailure(null);
    const session = readSession();
    const controller = new AbortController();
    abortRef.current = controller;
    setLoading(true);
    try {
      const api = await client();
      if (!session) return;
      const history = await api.history(session, controller.signal);
      if (epoch !== epochRef.current || controller.signal.aborted) return;
      if (history === null) {
        clearSession(); // the conversation is gone: start a new one
        setMessages([]);
      } else {
        setMessages(history.map(fromHistory));
      }
    } catch (error) {
      if (isAbort(error) || epoch !== epochRef.current || controller.signal.aborted) return;
      if (error instanceof ApiError && error.code === "invalid_session_id") {
        clearSession();
        return;
      }
      setFailure({ text: `Could not load the conversation. ${describeError(error)}`, retry: () => void loadHistory() });
    } finally {
      if (epoch === epochRef.current && !controller.signal.aborted) {
        setLoading(false);
        abortRef.current = null;
      }
    }
  }, [client]);

  useEffect(() => {
    void loadHistory();
    return () => {
      abortRef.current?.abort();
      abortRef.current = null;
    };
  }, [loadHistory]);

  const send = useCallback(
    async (text: string, retryOf?: string): Promise<void> => {
      const epoch = epochRef.current;
      const userId = retryOf ?? newId();
      const assistantId = newId();
      const now = new Date().toISOString();
      setFailure(null);
      setSending(true);
      setMessages((previous) => {
        const withUser = retryOf
          ? previous.map((m) => (m.id === retryOf ? { ...m, status: "sending" as const } : m))
          : [...previous, { id: userId, role: "user" as const, content: text, timestamp: now, status: "sending" as const }];
        return [...withUser, { id: assistantId, role: "assistant", content: "", timestamp: now, status: "streaming" }];
      });
      const controller = new AbortController();
      abortRef.current = controller;
      const current = () => epoch === epochRef.current && !controller.signal.aborted;
      try {
        const api = await client();
        const reply = await api.send(text, readSession(), {
          signal: controller.signal,
          onDelta: (piece) => {
            if (!current()) return;
            setMessages((previous) =>
              previous.map((m) => (m.id === assistantId ? { ...m, content: m.content + piece } : m)),
            );
          },
        });
        if (!current()) return;
        writeSession(reply.session_id);
        setMessages((previous) =>
          previous.map((m) => {
            if (m.id === assistantId) return { ...m, content: reply.response, timestamp: reply.timestamp, status: "sent" };
            if (m.id === userId) return { ...m, status: "sent" };
            return m;
          }),
        );
      } catch (error) {
        if (isAbort(error) || !current()) return;
        // Nothing of a failed turn is stored: drop the partial reply, keep the message for Retry.
        setMessages((previous) =>
          previous.filter((m) => m.id !== assistantId).map((m) => (m.id === userId ? { ...m, status: "failed" } : m)),
        );
        setFailure({ text: `Could not send your message. ${describeError(error)}`, retry: () => void send(text, userId) });
      } finally {
        if (epoch === epochRef.current && abortRef.current === controller) {
          setSending(false);
          abortRef.current = null;
        }
      }
    },
    [client],
  );

  const onSend = useCallback(
    (message: string): boolean => {
      if (sending || loading) return false;
      void send(message);
      return true;
    },
    [loading, send, sending],
  );

  function newConversation() {
    epochRef.current += 1;
    abortRef.current?.abort();
    abortRef.current = null;
    clearSession();
    setMessages([]);
    setFailure(null);
    setSending(false);
    setLoading(false);
    inputRef.current?.focus();
  }

  return (
    <main className="chat" aria-labelledby="title">
      <header className="chat-header">
        <h1 id="title">
          Digital twin
          {environment && environment !== "production" && <span className="environment">{environment}</span>}
        </h1>
        <button type="button" className="secondary" onClick={newConversation}>
          New conversation
        </button>
      </header>
      {failure && <ErrorBanner message={failure.text} onRetry={failure.retry} onDismiss={() => setFailure(null)} />}
      <p className="empty" role="status">
        {messages.length > 0
          ? ""
          : loading
            ? "Loading the conversation…"
            : "No messages yet. Ask the twin about its work, projects or opinions."}
      </p>
      <MessageList messages={messages} />
      <Composer ref={inputRef} busy={sending} disabled={loading} onSend={onSend} />
    </main>
  );
}
