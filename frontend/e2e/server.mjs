// A small static server for the exported site (out/) that also serves /config.json and proxies
// the API to a running twin-runtime, streaming responses through as they arrive — the same shape
// as CloudFront in front of the S3 site and API Gateway. Used by the end-to-end tests, and by hand:
//
//   node e2e/server.mjs --api http://127.0.0.1:8000 [--port 3000] [--root out]
//
// Only for local use: it binds to 127.0.0.1 and has no caching or compression.

import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".map": "application/json",
};

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text), "Cache-Control": "no-store" });
  res.end(text);
}

function findFile(root, pathname) {
  let decoded;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return null;
  }
  if (decoded.includes("\0")) return null;
  const base = path.resolve(root, `.${path.posix.normalize(decoded)}`);
  if (base !== root && !base.startsWith(root + path.sep)) return null;
  for (const candidate of [base, `${base}.html`, path.join(base, "index.html")]) {
    try {
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // next
    }
  }
  return null;
}

/**
 * Starts the server. `state` can be changed while it runs:
 * - `apiOrigin`: where /api is proxied (e.g. http://127.0.0.1:8123);
 * - `config`: the /config.json body, or null to answer 404;
 * - `streaming`: false makes /…/chat/stream answer 404, as a deployment without the route would.
 */
export async function startSiteServer({ root, apiOrigin, config = { apiBaseUrl: "/api", environment: "local" }, port = 0, host = "127.0.0.1" }) {
  const siteRoot = path.resolve(root);
  if (!fs.existsSync(path.join(siteRoot, "index.html"))) {
    throw new Error(`${siteRoot}/index.html is missing: build the site first (npm run build in frontend/)`);
  }
  const state = { apiOrigin, config, streaming: true };

  function apiPrefix() {
    const base = state.config && typeof state.config.apiBaseUrl === "string" ? state.config.apiBaseUrl : "/api";
    return base.startsWith("/") ? base.replace(/\/+$/, "") : "/api";
  }

  function proxy(req, res, pathname, search) {
    const upstreamPath = `/api${pathname.slice(apiPrefix().length)}${search}`;
    if (!state.streaming && /\/chat\/stream$/.test(pathname)) {
      sendJson(res, 404, { error: { code: "not_found", message: "streaming is switched off in this test server" } });
      req.resume();
      return;
    }
    const target = new URL(upstreamPath, state.apiOrigin);
    const headers = { ...req.headers, host: target.host };
    const upstream = http.request(target, { method: req.method, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      res.flushHeaders();
      answer.pipe(res);
    });
    upstream.on("error", (error) => {
      if (!res.headersSent) {
        sendJson(res, 502, {
          error: { code: "bad_gateway", message: `the API is not reachable (${error.code ?? error.message})` },
        });
      } else {
        res.destroy(error);
      }
    });
    req.pipe(upstream);
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://site.invalid");
    const { pathname } = url;
    if (pathname === "/config.json") {
      if (state.config === null) sendJson(res, 404, { message: "no runtime config" });
      else sendJson(res, 200, state.config);
      return;
    }
    const prefix = apiPrefix();
    if (pathname === prefix || pathname.startsWith(`${prefix}/`)) {
      proxy(req, res, pathname, url.search);
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { Allow: "GET, HEAD" });
      res.end();
      return;
    }
    const file = findFile(siteRoot, pathname);
    const status = file ? 200 : 404;
    const served = file ?? path.join(siteRoot, "404.html");
    const type = TYPES[path.extname(served)] ?? "application/octet-stream";
    const cache = pathname.startsWith("/_next/static/") ? "public, max-age=31536000, immutable" : "no-cache";
    res.writeHead(status, { "Content-Type": type, "Cache-Control": cache, "X-Content-Type-Options": "nosniff" });
    if (req.method === "HEAD") res.end();
    else fs.createReadStream(served).pipe(res);
  });

  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  const address = server.address();
  const url = `http://${host}:${address.port}`;
  return {
    url,
    state,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

// Run by hand.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const option = (name, fallback) => {
    const index = args.indexOf(`--${name}`);
    return index >= 0 && args[index + 1] ? args[index + 1] : fallback;
  };
  const here = path.dirname(fileURLToPath(import.meta.url));
  const site = await startSiteServer({
    root: option("root", path.join(here, "..", "out")),
    apiOrigin: option("api", "http://127.0.0.1:8000"),
    port: Number(option("port", "3000")),
  });
  console.log(`serving ${option("root", "out")} on ${site.url}, /api -> ${site.state.apiOrigin} (Ctrl-C stops)`);
  const stop = () => site.close().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
