// Starts and stops the real twin-runtime (offline model, file store) for the end-to-end tests.

import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const RUNTIME_BIN = process.env.TWIN_RUNTIME_BIN ?? path.join(REPO_ROOT, "target", "debug", "twin-runtime");
export const PERSONA = path.join(REPO_ROOT, "persona", "me.txt");

/** Throws, with what to do, when the runtime binary has not been built. */
export function requireRuntimeBinary() {
  if (!fs.existsSync(RUNTIME_BIN)) {
    throw new Error(
      `the twin runtime binary ${RUNTIME_BIN} does not exist: build the workspace first ` +
        `(cd ${REPO_ROOT} && cargo build --workspace), then run the end-to-end tests again`,
    );
  }
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitHealthy(origin, child, log, deadlineMs) {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`twin-runtime exited with ${child.exitCode} while starting:\n${log.join("")}`);
    try {
      const response = await fetch(`${origin}/api/health`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`twin-runtime did not answer ${origin}/api/health within ${deadlineMs} ms:\n${log.join("")}`);
}

/** Starts the runtime on 127.0.0.1:port with the file store in `storage`; resolves once healthy. */
export async function startRuntime({ port, storage }) {
  requireRuntimeBinary();
  const log = [];
  const child = spawn(RUNTIME_BIN, ["--listen", `127.0.0.1:${port}`], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      ENVIRONMENT: "local",
      LOCAL_PERSONA_PATH: PERSONA,
      LOCAL_STORAGE_PATH: storage,
      LOG_FORMAT: "text",
      RUST_LOG: "warn",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.on("data", (d) => log.push(String(d)));
  child.stderr.on("data", (d) => log.push(String(d)));
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const origin = `http://127.0.0.1:${port}`;
  try {
    await waitHealthy(origin, child, log, 15_000);
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  return {
    origin,
    log,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
