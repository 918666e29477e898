/**
 * dist/loader.js loads the engine bundle through V8's code cache (dist/.v8/). Each case runs a
 * fresh Node process on a copy of the built bundle in a temp package, so the repository's own
 * cache is not touched and every step starts from a known state.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { sluicePackageRoot } from "sluice/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = sluicePackageRoot();
let pkg: string;

// Loads the engine, optionally asks for the cache to be written at exit, and reports what it used.
const PROBE = `import { codeCacheStatus, engine, writeCodeCacheOnExit } from "./dist/loader.js";
if (process.argv[2]) writeCodeCacheOnExit(process.argv[2]);
const m = engine();
console.log(JSON.stringify({ used: codeCacheStatus().used ?? null, api: typeof m.api.defineStep, main: typeof m.main }));
`;

function probe(tier?: "run" | "any"): { used: string | null; api: string; main: string } {
  const r = spawnSync(process.execPath, ["probe.mjs", ...(tier ? [tier] : [])], { cwd: pkg, encoding: "utf8" });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { used: string | null; api: string; main: string };
}

const cacheFiles = (): string[] => (fs.existsSync(path.join(pkg, "dist", ".v8")) ? fs.readdirSync(path.join(pkg, "dist", ".v8")).sort() : []);

beforeAll(() => {
  pkg = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-code-cache-"));
  fs.mkdirSync(path.join(pkg, "dist"));
  for (const f of ["loader.js", "sluice.cjs"]) fs.copyFileSync(path.join(ROOT, "dist", f), path.join(pkg, "dist", f));
  fs.writeFileSync(path.join(pkg, "package.json"), JSON.stringify({ type: "module" }));
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(pkg, "node_modules"), "dir");
  fs.writeFileSync(path.join(pkg, "probe.mjs"), PROBE);
});

afterAll(() => fs.rmSync(pkg, { recursive: true, force: true }));

describe("the engine's code cache", () => {
  it("is written by the first command, used by the next, and a run's cache is preferred and replaces another command's", () => {
    expect(probe("any")).toEqual({ used: null, api: "function", main: "function" });
    expect(cacheFiles()).toEqual([expect.stringMatching(/^sluice-v20\.[\d.]+-x64-[0-9a-f]{8}-any\.bin$/)]);
    expect(probe().used).toBe("any");
    // A run started from another command's cache writes its own, which later starts prefer.
    expect(probe("run").used).toBe("any");
    expect(cacheFiles().map((f) => f.replace(/.*-/, ""))).toEqual(["any.bin", "run.bin"]);
    expect(probe("any").used).toBe("run");
    expect(probe().used).toBe("run");
  });

  it("ignores a damaged cache (V8 would crash on it) and replaces it", () => {
    const run = path.join(pkg, "dist", ".v8", cacheFiles().find((f) => f.endsWith("-run.bin"))!);
    const bytes = fs.readFileSync(run);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x55;
    fs.writeFileSync(run, bytes);
    const r = probe("run");
    expect(r).toEqual({ used: "any", api: "function", main: "function" });
    expect(probe().used).toBe("run");
    // Cut short: the same.
    fs.writeFileSync(run, fs.readFileSync(run).subarray(0, 100));
    expect(probe("run").used).toBe("any");
    expect(probe().used).toBe("run");
  });

  it("runs without a cache where none can be written, and exits as it would have", () => {
    // A file where the cache folder goes: mkdir fails as it would in a read-only install (tests
    // run as root, for whom permissions would not stop the write).
    const v8 = path.join(pkg, "dist", ".v8");
    fs.rmSync(v8, { recursive: true, force: true });
    fs.writeFileSync(v8, "not a folder");
    try {
      expect(probe("run")).toEqual({ used: null, api: "function", main: "function" });
      expect(probe("any").used).toBe(null);
      expect(fs.readdirSync(path.join(pkg, "dist")).filter((f) => f.includes(".tmp"))).toEqual([]);
    } finally {
      fs.rmSync(v8, { force: true });
    }
  });

  it("does not give a rebuilt bundle the old bundle's cache", () => {
    const bundle = path.join(pkg, "dist", "sluice.cjs");
    const later = new Date(fs.statSync(bundle).mtimeMs + 60_000);
    fs.utimesSync(bundle, later, later);
    expect(probe().used).toBe(null);
  });
});
