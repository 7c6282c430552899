import type { Metadata } from "next";

export const metadata: Metadata = { title: "Not found · Digital twin" };

// Exported as out/404.html; CloudFront (or any static host) serves it for unknown paths.
export default function NotFound() {
  return (
    <main className="chat not-found" aria-labelledby="title">
      <h1 id="title">Page not found</h1>
      <p>There is nothing at this address.</p>
      <p>
        {/* A plain link: the 404 page may be served at any path. */}
        <a href="/">Back to the twin</a>
      </p>
    </main>
  );
}
