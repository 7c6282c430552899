import type { Role } from "@/lib/api";

export type MessageStatus = "sent" | "sending" | "streaming" | "failed";

export interface ChatMessage {
  id: string;
  role: Role;
  content: string;
  /** ISO 8601. */
  timestamp: string;
  status: MessageStatus;
}
