// End-to-end: the exported site in Debian's Chromium (headless, driven by playwright-core),
// served by e2e/server.mjs, talking through its proxy to the real twin-runtime (offline model,
// file store in a temporary directory). Run: npm run test:e2e (after npm run build).

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { freePort, requireRuntimeBinary, startRuntime } from "./runtime.mjs";
import { startSiteServer } from "./server.mjs";

const FRONTEND = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const OUT = path.join(FRONTEND, "out");
const RESULTS = path.join(FRONTEND, "test-results");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const PERSONA_LINE = "I am Ada, a software engineer who builds serverless systems and the tools that ship them.";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const SESSION_KEY = "twin.session_id";
const TIMEOUT = { timeout: 60_000 };

const reply = (message, turns) => `[offline twin] persona: ${PERSONA_LINE} | history turns: ${turns} | you said: ${message}`;

let storage;
let userDataDir;
let runtimePort;
let runtime;
let site;
let context;
let page;
const requests = [];
const failedAssets = [];
const pageErrors = [];

async function bubbles() {
  return page.$$eval(".messages li", (items) =>
    items.map((li) => ({
      role: li.classList.contains("user") ? "user" : "assistant",
      text: li.querySelector(".content")?.textContent ?? "",
    })),
  );
}

async function send(text) {
  const box = page.getByRole("textbox", { name: "Message" });
  await box.fill(text);
  await box.press("Enter");
}

async function waitForAssistant(text) {
  await page.locator(".messages li.assistant .content", { hasText: text }).last().waitFor({ timeout: 15_000 });
  await page.waitForFunction(() => !document.querySelector('.messages li[data-status="streaming"]'));
}

const storedSession = () => page.evaluate((key) => localStorage.getItem(key), SESSION_KEY);

function apiCalls() {
  return requests.filter((r) => new URL(r.url).pathname.includes("/chat")).map((r) => `${r.method} ${new URL(r.url).pathname}`);
}

// Fail, not skip, when a prerequisite is missing: each message says what to do.
function requirePrerequisites() {
  requireRuntimeBinary();
  if (!fs.existsSync(path.join(OUT, "index.html"))) throw new Error(`${OUT}/index.html is missing: run npm run build first`);
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (scripts/test-frontend does it)`);
}

it("has its prerequisites: the built twin-runtime, the exported site, Debian's chromium", () => {
  requirePrerequisites();
});

describe("the chat page against the real runtime", () => {
  before(async () => {
    requirePrerequisites();

    storage = fs.mkdtempSync(path.join(os.tmpdir(), "twin-e2e-store-"));
    userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "twin-e2e-chromium-"));
    fs.mkdirSync(RESULTS, { recursive: true });
    runtimePort = await freePort();
    runtime = await startRuntime({ port: runtimePort, storage });
    site = await startSiteServer({ root: OUT, apiOrigin: runtime.origin });

    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
      viewport: { width: 1000, height: 760 },
      locale: "en-GB",
      timezoneId: "UTC",
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(15_000);
    page.on("request", (request) => requests.push({ method: request.method(), url: request.url() }));
    page.on("pageerror", (error) => pageErrors.push(String(error)));
    page.on("response", (response) => {
      // API failures are provoked on purpose below; the site's own files must all load.
      const { pathname } = new URL(response.url());
      const deliberate = /\/api(\/|$)/.test(pathname) || pathname === "/config.json" || pathname === "/no/such/page";
      if (response.status() >= 400 && !deliberate) failedAssets.push(`${response.status()} ${pathname}`);
    });
    page.on("console", (message) => {
      // The browser logs failed requests itself (the API-down case); anything else is a bug.
      if (message.type() === "error" && !/Failed to load resource/.test(message.text())) pageErrors.push(message.text());
    });
  });

  after(async () => {
    await context?.close().catch(() => undefined);
    await site?.close();
    await runtime?.stop();
    for (const dir of [storage, userDataDir]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("sends a message and shows the streamed reply", TIMEOUT, async () => {
    await page.goto(site.url);
    await page.getByText("No messages yet").waitFor();
    assert.equal(await page.locator(".environment").textContent(), "local", "the environment comes from /config.json");
    assert.equal(await storedSession(), null);

    await send("Hello, who are you?");
    await waitForAssistant("you said: Hello, who are you?");
    assert.deepEqual(await bubbles(), [
      { role: "user", text: "Hello, who are you?" },
      { role: "assistant", text: reply("Hello, who are you?", 0) },
    ]);
    assert.match(await storedSession(), UUID);
    assert.deepEqual(apiCalls(), ["POST /api/chat/stream"], "the reply came through the stream route");
    assert.equal(await page.locator(".messages time").count(), 2, "both bubbles carry a timestamp");
    assert.equal(await page.getByRole("button", { name: "Send" }).isEnabled(), true);
  });

  it("Shift+Enter makes a new line; Enter sends it", TIMEOUT, async () => {
    const box = page.getByRole("textbox", { name: "Message" });
    await box.click();
    await page.keyboard.type("line one");
    await page.keyboard.press("Shift+Enter");
    await page.keyboard.type("line two");
    assert.equal(await box.inputValue(), "line one\nline two");
    await page.keyboard.press("Enter");
    await waitForAssistant("you said: line one\nline two");
    assert.equal(await box.inputValue(), "");
    const all = await bubbles();
    assert.deepEqual(all.slice(2), [
      { role: "user", text: "line one\nline two" },
      { role: "assistant", text: reply("line one\nline two", 1) },
    ]);
  });

  it("shows the conversation again after a reload", TIMEOUT, async () => {
    const before = await bubbles();
    const session = await storedSession();
    requests.length = 0;
    await page.reload();
    await page.locator(".messages li").nth(3).waitFor();
    assert.deepEqual(await bubbles(), before);
    assert.equal(await storedSession(), session);
    assert.deepEqual(apiCalls(), [`GET /api/chat/history/${session}`]);

    await page.screenshot({ path: path.join(RESULTS, "chat.png") });
    await page.emulateMedia({ colorScheme: "dark" });
    await page.screenshot({ path: path.join(RESULTS, "chat-dark.png") });
    await page.emulateMedia({ colorScheme: "light" });
  });

  it("fits a phone screen", TIMEOUT, async () => {
    await page.setViewportSize({ width: 375, height: 667 });
    await page.reload();
    await page.locator(".messages li").nth(3).waitFor();
    const layout = await page.evaluate(() => {
      const box = (selector) => document.querySelector(selector).getBoundingClientRect();
      return {
        scrollWidth: document.documentElement.scrollWidth,
        clientWidth: document.documentElement.clientWidth,
        composerBottom: box(".composer").bottom,
        send: box(".send"),
        textarea: box("#message"),
        fontSize: getComputedStyle(document.querySelector("#message")).fontSize,
      };
    });
    assert.ok(layout.scrollWidth <= layout.clientWidth, `no sideways scrolling (${layout.scrollWidth} > ${layout.clientWidth})`);
    assert.ok(layout.composerBottom <= 667, "the message box stays on screen");
    assert.ok(layout.send.height >= 44 && layout.send.width >= 44, "the send button is big enough to tap");
    assert.ok(layout.textarea.right <= layout.send.left, "the box and the button sit side by side");
    assert.equal(layout.fontSize, "16px", "16px text: phones do not zoom in on focus");
    await page.screenshot({ path: path.join(RESULTS, "chat-phone.png") });
    await page.setViewportSize({ width: 1000, height: 760 });
  });

  it("is usable with the keyboard, labelled, and has enough contrast", TIMEOUT, async () => {
    await page.reload();
    await page.locator(".messages li").nth(3).waitFor();
    await page.evaluate(() => document.activeElement?.blur());
    const order = [];
    for (let i = 0; i < 4; i++) {
      await page.keyboard.press("Tab");
      order.push(
        await page.evaluate(() => {
          const el = document.activeElement;
          return el.getAttribute("aria-label") || el.id || el.textContent.trim();
        }),
      );
    }
    assert.deepEqual(order, ["New conversation", "Conversation", "message", "Send"]);
    assert.equal(await page.getByRole("log", { name: "Conversation" }).getAttribute("aria-live"), "polite");
    assert.equal(await page.locator("html").getAttribute("lang"), "en");

    for (const scheme of ["light", "dark"]) {
      await page.emulateMedia({ colorScheme: scheme });
      const ratios = await page.evaluate(() => {
        const rgb = (value) => (value.match(/[\d.]+/g) ?? []).map(Number);
        const luminance = ([r, g, b]) => {
          const channel = (c) => ((c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
          return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
        };
        const background = (el) => {
          for (let node = el; node; node = node.parentElement) {
            const [r, g, b, a = 1] = rgb(getComputedStyle(node).backgroundColor);
            if (a > 0) return [r, g, b];
          }
          return [255, 255, 255];
        };
        const out = {};
        for (const selector of ["h1", ".secondary", ".message.user .content", ".message.user time", ".message.assistant .content", ".message.assistant time", ".send", ".hint", "#message"]) {
          const el = document.querySelector(selector);
          const fg = luminance(rgb(getComputedStyle(el).color));
          const bg = luminance(background(el));
          out[selector] = Math.round(((Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05)) * 100) / 100;
        }
        return out;
      });
      for (const [selector, ratio] of Object.entries(ratios)) {
        assert.ok(ratio >= 4.5, `${scheme}: ${selector} has contrast ${ratio}, below 4.5:1`);
      }
    }
    await page.emulateMedia({ colorScheme: "light" });
  });

  it("New conversation starts empty", TIMEOUT, async () => {
    const old = await storedSession();
    await page.getByRole("button", { name: "New conversation" }).click();
    assert.deepEqual(await bubbles(), []);
    assert.equal(await storedSession(), null);
    assert.equal(await page.evaluate(() => document.activeElement?.id), "message", "focus moves to the message box");
    await page.getByText("No messages yet").waitFor();

    await send("Fresh start");
    await waitForAssistant("you said: Fresh start");
    assert.deepEqual(await bubbles(), [
      { role: "user", text: "Fresh start" },
      { role: "assistant", text: reply("Fresh start", 0) },
    ]);
    const fresh = await storedSession();
    assert.match(fresh, UUID);
    assert.notEqual(fresh, old);

    await page.reload();
    await page.locator(".messages li").nth(1).waitFor();
    assert.equal((await bubbles()).length, 2, "the new conversation is the one reloaded");
  });

  it("shows the error banner when the API is down, and Retry works once it is back", TIMEOUT, async () => {
    await runtime.stop();
    await send("Are you there?");
    const alert = page.locator(".error[role=alert]");
    await alert.waitFor();
    assert.match(await alert.textContent(), /Could not send your message/);
    assert.match(await page.locator(".messages li.user").last().textContent(), /Not sent/);
    assert.equal(await page.locator(".messages li.assistant").count(), 1, "no half reply is left");
    assert.equal(await page.getByRole("button", { name: "Send" }).isEnabled(), true);
    await page.screenshot({ path: path.join(RESULTS, "chat-error.png") });

    runtime = await startRuntime({ port: runtimePort, storage });
    await alert.getByRole("button", { name: "Retry" }).click();
    await waitForAssistant("you said: Are you there?");
    assert.equal(await page.locator(".error[role=alert]").count(), 0, "the banner is gone");
    assert.deepEqual((await bubbles()).slice(2), [
      { role: "user", text: "Are you there?" },
      { role: "assistant", text: reply("Are you there?", 1) },
    ]);
    assert.doesNotMatch(await page.locator(".messages li.user").last().textContent(), /Not sent/);
  });

  it("shows an error with Retry when the history cannot be loaded", TIMEOUT, async () => {
    await runtime.stop();
    await page.reload();
    const alert = page.locator(".error[role=alert]");
    await alert.waitFor();
    assert.match(await alert.textContent(), /Could not load the conversation/);
    runtime = await startRuntime({ port: runtimePort, storage });
    await alert.getByRole("button", { name: "Retry" }).click();
    await page.locator(".messages li").nth(3).waitFor();
    assert.equal((await bubbles()).length, 4);
    assert.equal(await page.locator(".error[role=alert]").count(), 0);
  });

  it("falls back to POST /api/chat when streaming is unavailable", TIMEOUT, async () => {
    site.state.streaming = false;
    try {
      await page.reload();
      await page.locator(".messages li").nth(3).waitFor();
      requests.length = 0;
      await send("No stream please");
      await waitForAssistant("you said: No stream please");
      assert.deepEqual(apiCalls(), ["POST /api/chat/stream", "POST /api/chat"]);
      assert.equal((await bubbles()).at(-1).text, reply("No stream please", 2));
    } finally {
      site.state.streaming = true;
    }
  });

  it("takes the API address from /config.json at run time, and defaults to /api without it", TIMEOUT, async () => {
    site.state.config = { apiBaseUrl: "/edge/api", environment: "staging" };
    try {
      await page.reload();
      await page.locator(".messages li").nth(5).waitFor();
      assert.equal(await page.locator(".environment").textContent(), "staging");
      requests.length = 0;
      await send("Via the edge");
      await waitForAssistant("you said: Via the edge");
      assert.deepEqual(apiCalls(), ["POST /edge/api/chat/stream"]);

      site.state.config = null;
      await page.reload();
      await page.locator(".messages li").nth(7).waitFor();
      assert.equal(await page.locator(".environment").count(), 0);
      assert.ok(apiCalls().includes(`GET /api/chat/history/${await storedSession()}`));
    } finally {
      site.state.config = { apiBaseUrl: "/api", environment: "local" };
    }
  });

  it("serves the 404 page for unknown paths", TIMEOUT, async () => {
    const response = await page.goto(`${site.url}/no/such/page`);
    assert.equal(response.status(), 404);
    assert.equal(await page.getByRole("heading", { level: 1 }).textContent(), "Page not found");
    await page.getByRole("link", { name: "Back to the twin" }).click();
    await page.getByRole("log", { name: "Conversation" }).waitFor();
  });

  it("fetched nothing from any other origin, loaded every file, and logged no errors", TIMEOUT, async () => {
    const foreign = requests.filter((r) => !r.url.startsWith(`${site.url}/`) && !r.url.startsWith("data:"));
    assert.deepEqual(foreign, []);
    assert.deepEqual(failedAssets, [], "every file of the site loaded (no 404 for an icon or a chunk)");
    assert.deepEqual(pageErrors, []);
  });
});
