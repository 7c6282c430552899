import { act, fireEvent, render, screen, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { Composer } from "@/components/Composer";
import { ErrorBanner } from "@/components/ErrorBanner";
import { MessageList } from "@/components/MessageList";
import type { ChatMessage } from "@/components/types";

describe("Composer", () => {
  function setup(props: Partial<Parameters<typeof Composer>[0]> = {}) {
    const onSend = vi.fn(() => true);
    render(<Composer busy={false} onSend={onSend} {...props} />);
    const box = screen.getByLabelText("Message") as HTMLTextAreaElement;
    return { onSend, box };
  }

  it("has a labelled textarea described by the keyboard hint, then the send button", () => {
    const { box } = setup();
    expect(box.tagName).toBe("TEXTAREA");
    expect(box.getAttribute("aria-describedby")).toBe("composer-hint");
    expect(document.getElementById("composer-hint")?.textContent).toMatch(/Enter sends/);
    // Focus order follows the document: the textarea before the button.
    const button = screen.getByRole("button", { name: "Send" });
    expect(box.compareDocumentPosition(button) & Node.DOCUMENT_POSITION_FOLLOWING).toBeTruthy();
  });

  it("sends the trimmed message on Enter and clears the box", () => {
    const { onSend, box } = setup();
    fireEvent.change(box, { target: { value: "  hello twin \n" } });
    fireEvent.keyDown(box, { key: "Enter" });
    expect(onSend).toHaveBeenCalledWith("hello twin");
    expect(box.value).toBe("");
  });

  it("does not send on Shift+Enter (a new line)", () => {
    const { onSend, box } = setup();
    fireEvent.change(box, { target: { value: "line one" } });
    const event = fireEvent.keyDown(box, { key: "Enter", shiftKey: true });
    expect(event).toBe(true); // default not prevented: the browser inserts the newline
    expect(onSend).not.toHaveBeenCalled();
    expect(box.value).toBe("line one");
  });

  it("does not send while an input method is composing", () => {
    const { onSend, box } = setup();
    fireEvent.change(box, { target: { value: "にほん" } });
    fireEvent.keyDown(box, { key: "Enter", isComposing: true });
    expect(onSend).not.toHaveBeenCalled();
  });

  it("sends with the button too, and ignores a blank message", () => {
    const { onSend, box } = setup();
    fireEvent.click(screen.getByRole("button", { name: "Send" }));
    fireEvent.change(box, { target: { value: "   " } });
    fireEvent.keyDown(box, { key: "Enter" });
    expect(onSend).not.toHaveBeenCalled();
    fireEvent.change(box, { target: { value: "via button" } });
    fireEvent.click(screen.getByRole("button", { name: "Send" }));
    expect(onSend).toHaveBeenCalledWith("via button");
  });

  it("keeps the text when the message was not taken", () => {
    const { box } = setup({ onSend: vi.fn(() => false) });
    fireEvent.change(box, { target: { value: "keep me" } });
    fireEvent.keyDown(box, { key: "Enter" });
    expect(box.value).toBe("keep me");
  });

  it("shows a loading state while sending and does not send again", () => {
    const { onSend, box } = setup({ busy: true });
    const button = screen.getByRole("button", { name: /Sending/ });
    expect(button).toHaveProperty("disabled", true);
    expect(button.getAttribute("aria-busy")).toBe("true");
    fireEvent.change(box, { target: { value: "next one" } });
    fireEvent.keyDown(box, { key: "Enter" });
    expect(onSend).not.toHaveBeenCalled();
    expect(box.value).toBe("next one"); // the user can type the next message meanwhile
  });
});

describe("ErrorBanner", () => {
  it("is an alert with Retry and Dismiss", () => {
    const onRetry = vi.fn();
    const onDismiss = vi.fn();
    render(<ErrorBanner message="The twin could not be reached." onRetry={onRetry} onDismiss={onDismiss} />);
    const alert = screen.getByRole("alert");
    expect(alert.textContent).toMatch(/could not be reached/);
    fireEvent.click(within(alert).getByRole("button", { name: "Retry" }));
    fireEvent.click(within(alert).getByRole("button", { name: "Dismiss the error" }));
    expect(onRetry).toHaveBeenCalledOnce();
    expect(onDismiss).toHaveBeenCalledOnce();
  });

  it("has no Retry when there is nothing to retry", () => {
    render(<ErrorBanner message="x" onDismiss={() => undefined} />);
    expect(screen.queryByRole("button", { name: "Retry" })).toBeNull();
  });
});

describe("MessageList", () => {
  const today = new Date();
  today.setHours(9, 5, 0, 0);
  const messages: ChatMessage[] = [
    { id: "1", role: "user", content: "Who are you?\nTell me.", timestamp: today.toISOString(), status: "sent" },
    { id: "2", role: "assistant", content: "I am Ada.", timestamp: "2020-01-02T03:04:05Z", status: "sent" },
  ];

  it("renders user and assistant bubbles in order, with timestamps", () => {
    render(<MessageList messages={messages} />);
    const log = screen.getByRole("log", { name: "Conversation" });
    expect(log.getAttribute("aria-live")).toBe("polite");
    const items = within(log).getAllByRole("listitem");
    expect(items.map((li) => li.className)).toEqual(["message user", "message assistant"]);
    expect(items[0].textContent).toContain("You said:");
    expect(items[0].querySelector(".content")?.textContent).toBe("Who are you?\nTell me.");
    expect(items[1].textContent).toContain("The twin said:");
    const times = log.querySelectorAll("time");
    expect(times[0].getAttribute("dateTime")).toBe(today.toISOString());
    expect(times[0].textContent).toMatch(/0?9.05/); // today: the time of day only
    expect(times[1].textContent).toMatch(/2020/); // an older day: the date too
  });

  it("marks the log busy while a reply streams, and shows it as it grows", () => {
    const streaming: ChatMessage[] = [
      messages[0],
      { id: "3", role: "assistant", content: "Hel", timestamp: today.toISOString(), status: "streaming" },
    ];
    const { rerender } = render(<MessageList messages={streaming} />);
    const log = screen.getByRole("log");
    expect(log.getAttribute("aria-busy")).toBe("true");
    expect(log.textContent).toContain("Answering…");
    act(() => {
      rerender(<MessageList messages={[messages[0], { ...streaming[1], content: "Hello", status: "sent" }]} />);
    });
    expect(log.getAttribute("aria-busy")).toBe("false");
    expect(log.textContent).toContain("Hello");
    expect(log.textContent).not.toContain("Answering…");
  });

  it("marks a message that was not sent", () => {
    render(<MessageList messages={[{ ...messages[0], status: "failed" }]} />);
    expect(screen.getByRole("listitem").textContent).toContain("Not sent");
  });
});
