// Message timestamps: the time of day for today's messages, the date and time for older ones.

export function formatTimestamp(iso: string, now: Date = new Date(), locale?: string): string {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return "";
  const sameDay =
    when.getFullYear() === now.getFullYear() && when.getMonth() === now.getMonth() && when.getDate() === now.getDate();
  const time = when.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" });
  if (sameDay) return time;
  return `${when.toLocaleDateString(locale, { day: "numeric", month: "short", year: "numeric" })}, ${time}`;
}

export function fullTimestamp(iso: string, locale?: string): string {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return "";
  return when.toLocaleString(locale, { dateStyle: "full", timeStyle: "medium" });
}
