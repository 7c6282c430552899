"use client";

import { forwardRef, useState, type FormEvent, type KeyboardEvent } from "react";

interface Props {
  /** A message is being sent: the button shows it, and Enter does not send another. */
  busy: boolean;
  /** Something else (the history) is loading: sending waits for it. */
  disabled?: boolean;
  /** Called with the trimmed message; returns false if it was not taken. */
  onSend: (message: string) => boolean;
}

/** The message box: Enter sends, Shift+Enter starts a new line. */
export const Composer = forwardRef<HTMLTextAreaElement, Props>(function Composer({ busy, disabled = false, onSend }, ref) {
  const [draft, setDraft] = useState("");
  const blocked = busy || disabled;

  function submit() {
    const message = draft.trim();
    if (blocked || message === "") return;
    if (onSend(message)) setDraft("");
  }

  function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    submit();
  }

  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    // Not while an input method is composing a character: its Enter picks the character.
    if (event.key === "Enter" && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      submit();
    }
  }

  return (
    <form className="composer" onSubmit={onSubmit} aria-label="Send a message">
      <label htmlFor="message" className="visually-hidden">
        Message
      </label>
      <textarea
        id="message"
        ref={ref}
        name="message"
        rows={2}
        value={draft}
        onChange={(event) => setDraft(event.target.value)}
        onKeyDown={onKeyDown}
        placeholder="Ask the twin something…"
        aria-describedby="composer-hint"
        autoComplete="off"
        enterKeyHint="send"
      />
      <button type="submit" className="send" disabled={blocked} aria-busy={busy}>
        {busy ? (
          <>
            <span className="spinner" aria-hidden="true" />
            Sending…
          </>
        ) : (
          "Send"
        )}
      </button>
      <p id="composer-hint" className="hint">
        Enter sends · Shift+Enter for a new line
      </p>
    </form>
  );
});
