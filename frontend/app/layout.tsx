import type { Metadata, Viewport } from "next";
import type { ReactNode } from "react";
import "./globals.css";

// System fonts only: nothing is fetched from another host at build or run time.
export const metadata: Metadata = {
  title: "Digital twin",
  description: "Chat with the digital twin.",
};

export const viewport: Viewport = {
  width: "device-width",
  initialScale: 1,
  viewportFit: "cover",
  themeColor: [
    { media: "(prefers-color-scheme: light)", color: "#ffffff" },
    { media: "(prefers-color-scheme: dark)", color: "#121417" },
  ],
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
