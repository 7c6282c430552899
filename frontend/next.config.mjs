// Static export: `next build` writes the whole site to out/ (index.html, 404.html, _next/static/…).
// Nothing here names an API address: the page reads /config.json at run time.
import { createHash } from "node:crypto";
import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL(".", import.meta.url));

// Left out of the build id: build output, installed packages and other generated, git-ignored
// files (see .gitignore), plus files that never reach out/ (tests, e2e, docs, vitest config).
// Everything else under frontend/ counts — sources, public/, package.json, package-lock.json,
// next.config.mjs, tsconfig.json, .env* — so a new source folder is covered without edits here.
const SKIP_DIR_NAMES = new Set([".git", "node_modules"]); // at any depth
const SKIP_DIRS = new Set([".next", "out", "test-results", "tests", "e2e"]); // paths from frontend/
const SKIP_FILES = new Set([
  "next-env.d.ts",
  "README.md",
  ".gitignore",
  ".npmrc",
  "vitest.config.ts",
  "public/config.json", // git-ignored, written per environment; copied to out/ as is, nothing else reads it
]);
const skipFile = (rel) => SKIP_FILES.has(rel) || rel.endsWith(".tsbuildinfo") || rel.endsWith(".DS_Store");

/** Relative paths ("/"-separated) of the files that feed the build, in a fixed order. */
function inputFiles(dir = ROOT, prefix = "") {
  const files = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix + entry.name;
    if (entry.isDirectory()) {
      if (!SKIP_DIR_NAMES.has(entry.name) && !SKIP_DIRS.has(rel)) files.push(...inputFiles(join(dir, entry.name), `${rel}/`));
    } else if (!skipFile(rel)) {
      files.push(rel);
    }
  }
  return files;
}

/**
 * The build id is a hash of the inputs, so the same sources give byte-identical out/ (Next's
 * default is a random id per build, written into every HTML/RSC file and the
 * _next/static/<id>/ path). Any change to an input gives a new id, which Next uses to detect
 * version skew on client-side navigation. Paths are sorted by code point, not by locale.
 */
function inputsBuildId() {
  const hash = createHash("sha256");
  for (const rel of inputFiles().sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
    const abs = join(ROOT, ...rel.split("/"));
    const data = lstatSync(abs).isSymbolicLink() ? Buffer.from(readlinkSync(abs)) : readFileSync(abs);
    hash.update(`${rel}\0${data.length}\0`).update(data);
  }
  // Letters and digits without "a" and "d": Next keeps its own random ids free of "ad" so that
  // ad blockers do not block /_next/static/<id>/ files; this alphabet can never spell it.
  const alphabet = "0123456789bcefghjkmnpqrstuvwxyz";
  let n = BigInt(`0x${hash.digest("hex")}`);
  let id = "";
  for (let i = 0; i < 24; i++) {
    id += alphabet[Number(n % 31n)];
    n /= 31n;
  }
  return id;
}

/** @type {import('next').NextConfig} */
const nextConfig = {
  output: "export",
  images: { unoptimized: true },
  poweredByHeader: false,
  reactStrictMode: true,
  generateBuildId: async () => inputsBuildId(),
};

export default nextConfig;
