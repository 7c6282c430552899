"use client";

import { useEffect, useRef } from "react";
import { formatTimestamp, fullTimestamp } from "@/lib/time";
import type { ChatMessage } from "./types";

interface Props {
  messages: ChatMessage[];
}

/**
 * The conversation. The wrapper is an ARIA log (a polite live region): screen readers announce
 * new messages. While a reply streams in, the region is marked busy, so the reply is announced
 * once, complete, rather than word by word.
 */
export function MessageList({ messages }: Props) {
  const endRef = useRef<HTMLDivElement>(null);
  const streaming = messages.some((m) => m.status === "streaming");
  const last = messages[messages.length - 1];

  useEffect(() => {
    endRef.current?.scrollIntoView?.({ block: "end" });
  }, [messages.length, last?.content]);

  return (
    <div
      className="messages"
      role="log"
      aria-live="polite"
      aria-relevant="additions text"
      aria-busy={streaming}
      aria-label="Conversation"
      tabIndex={0}
    >
      <ol>
        {messages.map((message) => (
          <li key={message.id} className={`message ${message.role}`} data-status={message.status}>
            <span className="visually-hidden">{message.role === "user" ? "You said:" : "The twin said:"}</span>
            <p className="content">
              {message.content}
              {message.status === "streaming" && (
                <span className="typing" aria-hidden="true">
                  <span />
                  <span />
                  <span />
                </span>
              )}
            </p>
            <p className="meta">
              {message.status === "streaming" ? (
                <span>{message.content ? "Answering…" : "Thinking…"}</span>
              ) : (
                <time dateTime={message.timestamp} title={fullTimestamp(message.timestamp)}>
                  {formatTimestamp(message.timestamp)}
                </time>
              )}
              {message.status === "sending" && <span> · Sending…</span>}
              {message.status === "failed" && <span className="failed"> · Not sent</span>}
            </p>
          </li>
        ))}
      </ol>
      <div ref={endRef} />
    </div>
  );
}
