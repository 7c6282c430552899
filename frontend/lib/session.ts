// The conversation's session id, kept in localStorage so a reload continues the conversation.
// Storage can be unavailable (disabled, or full): the page then works for the visit only.

export const SESSION_KEY = "twin.session_id";

export function readSession(): string | null {
  try {
    return window.localStorage.getItem(SESSION_KEY);
  } catch {
    return null;
  }
}

export function writeSession(sessionId: string): void {
  try {
    window.localStorage.setItem(SESSION_KEY, sessionId);
  } catch {
    // storage unavailable
  }
}

export function clearSession(): void {
  try {
    window.localStorage.removeItem(SESSION_KEY);
  } catch {
    // storage unavailable
  }
}
