import Database from "better-sqlite3";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CodeFingerprinter, type CodeFingerprint } from "../../../src/hash/code-fingerprint.ts";
import {
  createMemoryFingerprintMemo,
  createSqliteFingerprintMemo,
  type FileStamp,
  type FingerprintMemo,
  type MemoEntry,
} from "../../../src/hash/fingerprint-memo.ts";
import { typescriptLoaded } from "../../../src/hash/normalize-source.ts";
import { SluiceError } from "../../../src/errors.ts";

const workspaces: string[] = [];

afterEach(() => {
  for (const dir of workspaces.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A temp workspace laid out from an object literal (path → contents). */
function workspace(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "sluice-fp-"));
  workspaces.push(root);
  write(root, { "package.json": JSON.stringify({ name: "my-ws", version: "1.2.3" }), ...files });
  return root;
}

function write(root: string, files: Record<string, string>): void {
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), text);
  }
}

/** Set every file's mtime to `when`, so the racy-write guard lets the memo keep them. */
function backdate(dir: string, when = new Date("2024-01-02T03:04:05Z")): void {
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) utimesSync(join(entry.parentPath, entry.name), when, when);
  }
}

/** Fingerprint with a fresh fingerprinter (no memo carried over between edits). */
function fp(root: string, entry = "steps/train.ts"): CodeFingerprint {
  return new CodeFingerprinter({ root }).fingerprint(join(root, entry));
}

function digestOf(source: string): string {
  return fp(workspace({ "steps/train.ts": source, "lib/helper.ts": "export const helper = (x: unknown, _o: unknown) => x;\n" })).digest;
}

/** Counts memo traffic on top of another memo. */
function counting(inner: FingerprintMemo): FingerprintMemo & { gets: number; hits: number; sets: number } {
  const memo = {
    gets: 0,
    hits: 0,
    sets: 0,
    get(path: string, stat: FileStamp): MemoEntry | undefined {
      memo.gets++;
      const entry = inner.get(path, stat);
      if (entry !== undefined) memo.hits++;
      return entry;
    },
    set(path: string, stat: FileStamp, entry: MemoEntry): void {
      memo.sets++;
      inner.set(path, stat, entry);
    },
  };
  return memo;
}

function changedFiles(a: CodeFingerprint, b: CodeFingerprint): string[] {
  const keys = new Set([...Object.keys(a.manifest.files), ...Object.keys(b.manifest.files)]);
  return [...keys].filter((k) => a.manifest.files[k] !== b.manifest.files[k]).sort();
}

const BASE = `import { helper } from "../lib/helper.ts";

/** Train the model. */
export function train(rows: number[], rate = 0.5): number {
  // scale first
  const scaled = rows.map((r) => r * rate);
  const opts = { depth: 3, label: "target", pattern: /a+b/g };
  return helper(scaled, opts);
}
`;

describe("CodeFingerprinter", () => {
  it("loads the module without loading typescript", () => {
    // First test of the file: nothing has parsed a file yet in this module instance.
    expect(typescriptLoaded()).toBe(false);
  });

  it("gives the same digest after a comment-only edit", () => {
    const edited = BASE.replace("/** Train the model. */", "/**\n * Trains the model (v2).\n * @param rows input\n */")
      .replace("// scale first", "/* scale */ // first, then more")
      .concat("// trailing remark\n");
    expect(digestOf(edited)).toBe(digestOf(BASE));
  });

  it("gives the same digest after reformatting: indentation, line breaks, quotes, semicolons, trailing commas", () => {
    const reformatted = `import {
    helper,
} from '../lib/helper.ts'
export function train(
    rows: number[],
    rate = 0.5,
): number {
        const scaled = rows.map(r =>
            r * rate)
        const opts = {
            depth: 3,
            label: 'target',
            pattern: /a+b/g,
        }
        return helper(
            scaled,
            opts,
        )
}`;
    expect(digestOf(reformatted)).toBe(digestOf(BASE));
  });

  it.each([
    ["a string literal", BASE.replace('"target"', '"Target"')],
    ["a number", BASE.replace("depth: 3", "depth: 4")],
    ["a regex literal", BASE.replace("/a+b/g", "/a+b/gi")],
    ["a default parameter", BASE.replace("rate = 0.5", "rate = 0.25")],
  ])("gives a different digest when %s changes", (_what, edited) => {
    expect(digestOf(edited)).not.toBe(digestOf(BASE));
  });

  it("keeps template literal text, ASI line breaks and array holes distinct", () => {
    expect(digestOf("export const t = `a  ${1}`;")).not.toBe(digestOf("export const t = `a ${1}`;"));
    expect(digestOf("export function f(x: number) { return\nx }")).not.toBe(digestOf("export function f(x: number) { return x }"));
    expect(digestOf("export const a = [1,,];")).not.toBe(digestOf("export const a = [1,];"));
    expect(digestOf("export const a = [1,];")).toBe(digestOf("export const a = [1];"));
  });

  it("changes when a helper the entry imports changes, directly or two levels down, and names that file", () => {
    const files = {
      "steps/train.ts": BASE,
      "lib/helper.ts": 'import { deep } from "./deep/inner.ts";\nexport const helper = (x: number[], o: object) => deep(x.length, o);\n',
      "lib/deep/inner.ts": "export const deep = (n: number, _o: object) => n + 1;\n",
    };
    const before = fp(workspace(files));
    expect(Object.keys(before.manifest.files)).toEqual(["lib/deep/inner.ts", "lib/helper.ts", "steps/train.ts"]);

    const direct = fp(workspace({ ...files, "lib/helper.ts": files["lib/helper.ts"].replace("x.length", "x.length * 2") }));
    expect(direct.digest).not.toBe(before.digest);
    expect(changedFiles(before, direct)).toEqual(["lib/helper.ts"]);

    const deep = fp(workspace({ ...files, "lib/deep/inner.ts": "export const deep = (n: number, _o: object) => n + 2;\n" }));
    expect(deep.digest).not.toBe(before.digest);
    expect(changedFiles(before, deep)).toEqual(["lib/deep/inner.ts"]);
  });

  it("records package versions from node_modules, the workspace's own version for self-reference, and skips builtins", () => {
    const files = {
      "steps/train.ts": [
        'import PQueue from "p-queue";',
        'import { x } from "@scope/tools/sub/path.js";',
        'import { defineStep } from "my-ws/steps";',
        'import { readFileSync } from "node:fs";',
        'import { readFile } from "fs/promises";',
        'import "path";',
        'import { gone } from "not-installed";',
        "export default [PQueue, x, defineStep, readFileSync, readFile, gone];",
      ].join("\n"),
      "node_modules/p-queue/package.json": JSON.stringify({ name: "p-queue", version: "9.3.5" }),
      "node_modules/@scope/tools/package.json": JSON.stringify({ name: "@scope/tools", version: "2.0.0" }),
    };
    const before = fp(workspace(files));
    expect(before.manifest.packages).toEqual({ "p-queue": "9.3.5", "@scope/tools": "2.0.0", "my-ws": "1.2.3", "not-installed": "missing" });
    expect(Object.keys(before.manifest.files)).toEqual(["steps/train.ts"]);

    const bumped = fp(workspace({ ...files, "node_modules/p-queue/package.json": JSON.stringify({ name: "p-queue", version: "9.3.6" }) }));
    expect(bumped.digest).not.toBe(before.digest);
    expect(bumped.manifest.packages["p-queue"]).toBe("9.3.6");
    expect(changedFiles(before, bumped)).toEqual([]);
  });

  it("finds a package in the nearest node_modules walking up from the importing file", () => {
    const root = workspace({
      "steps/nested/train.ts": 'import "lodash";\n',
      "node_modules/lodash/package.json": JSON.stringify({ version: "4.0.0" }),
      "steps/node_modules/lodash/package.json": JSON.stringify({ version: "4.17.21" }),
    });
    expect(fp(root, "steps/nested/train.ts").manifest.packages).toEqual({ lodash: "4.17.21" });
  });

  it("counts a relative import that lands in node_modules as a package, not a local file", () => {
    const root = workspace({
      "steps/train.ts": 'import "../node_modules/@acme/kit/dist/index.js";\n',
      "node_modules/@acme/kit/package.json": JSON.stringify({ name: "@acme/kit", version: "3.1.0" }),
      "node_modules/@acme/kit/dist/index.js": "export {};\n",
    });
    const f = fp(root);
    expect(Object.keys(f.manifest.files)).toEqual(["steps/train.ts"]);
    expect(f.manifest.packages).toEqual({ "@acme/kit": "3.1.0" });
  });

  it("ignores files reached only through import type / export type", () => {
    const files = {
      "steps/train.ts": 'import type { Shape } from "../lib/types.ts";\nexport type { Other } from "../lib/types.ts";\nexport const s: Shape = { n: 1 };\n',
      "lib/types.ts": "export interface Shape { n: number }\nexport type Other = string;\nexport const unused = 1;\n",
    };
    const before = fp(workspace(files));
    expect(Object.keys(before.manifest.files)).toEqual(["steps/train.ts"]);
    const after = fp(workspace({ ...files, "lib/types.ts": files["lib/types.ts"].replace("unused = 1", "unused = 2") }));
    expect(after.digest).toBe(before.digest);
  });

  it("follows every runtime import form and resolves ./x.js to x.ts, ./x to x.ts and ./dir to dir/index.ts", () => {
    const root = workspace({
      "steps/train.ts": [
        'import { a } from "./a.js";',
        'import "./side";',
        'export * from "./dir";',
        'export { type T } from "./types-but-runtime.ts";',
        'const lazy = () => import("./lazy.mjs");',
        'const c = require("./c.cjs");',
        'import data from "./data.json" with { type: "json" };',
        "export default [a, lazy, c, data];",
      ].join("\n"),
      "steps/a.ts": "export const a = 1;\n",
      "steps/a.js": "stale build output that must not be read",
      "steps/side.ts": "globalThis.x = 1;\n",
      "steps/dir/index.ts": "export const d = 1;\n",
      "steps/types-but-runtime.ts": "export type T = number;\n",
      "steps/lazy.mjs": "export default 1;\n",
      "steps/c.cjs": "module.exports = 1;\n",
      "steps/data.json": '{"rows": [1, 2]}',
    });
    expect(Object.keys(fp(root).manifest.files)).toEqual([
      "steps/a.ts", "steps/c.cjs", "steps/data.json", "steps/dir/index.ts", "steps/lazy.mjs", "steps/side.ts", "steps/train.ts", "steps/types-but-runtime.ts",
    ]);
  });

  it("terminates on import cycles and lists each file once", () => {
    const root = workspace({
      "steps/train.ts": 'import "./a.ts";\nimport "./train.ts";\n',
      "steps/a.ts": 'import "./b.ts";\n',
      "steps/b.ts": 'import "./a.ts";\nimport "./train.ts";\n',
    });
    expect(Object.keys(fp(root).manifest.files)).toEqual(["steps/a.ts", "steps/b.ts", "steps/train.ts"]);
  });

  it("throws SLUICE_DEFINITION_INVALID naming the importing file and the specifier when a relative import does not resolve", () => {
    const root = workspace({ "steps/train.ts": 'import "./ok.ts";\n', "steps/ok.ts": 'import { x } from "../lib/nope.js";\nexport default x;\n' });
    let error: unknown;
    try {
      fp(root);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SluiceError);
    expect((error as SluiceError).code).toBe("SLUICE_DEFINITION_INVALID");
    expect((error as SluiceError).message).toContain('"steps/ok.ts" imports "../lib/nope.js"');
    expect((error as SluiceError).message).toContain("lib/nope.ts");
    expect((error as SluiceError).details).toEqual({ file: "steps/ok.ts", specifier: "../lib/nope.js" });
  });

  it("keeps ../ paths for local files outside the root", () => {
    const outer = workspace({ "shared/util.ts": "export const u = 1;\n", "ws/steps/train.ts": 'import "../../shared/util.ts";\n' });
    const f = fp(join(outer, "ws"));
    expect(Object.keys(f.manifest.files)).toEqual(["../shared/util.ts", "steps/train.ts"]);
  });

  it("returns the memoised fingerprint for the same entry until invalidate()", () => {
    const root = workspace({ "steps/train.ts": "export const x = 1;\n" });
    const fingerprinter = new CodeFingerprinter({ root });
    const first = fingerprinter.fingerprint(join(root, "steps/train.ts"));
    write(root, { "steps/train.ts": "export const x = 22;\n" });
    expect(fingerprinter.fingerprint(join(root, "steps/train.ts"))).toBe(first);
    fingerprinter.invalidate();
    expect(fingerprinter.fingerprint(join(root, "steps/train.ts")).digest).not.toBe(first.digest);
  });

  it("does not memoise a file modified within the racy window", () => {
    const root = workspace({ "steps/train.ts": "export const x = 1;\n" });
    const soon = new Date(Date.now() + 3_600_000);
    utimesSync(join(root, "steps/train.ts"), soon, soon);
    const memo = counting(createMemoryFingerprintMemo());
    new CodeFingerprinter({ root, memo }).fingerprint(join(root, "steps/train.ts"));
    expect(memo.sets).toBe(0);
  });
});

describe("fingerprint memo", () => {
  const FIVE_FILES = {
    "steps/train.ts": 'import "./a.ts";\nimport "./b.js";\nimport "p-queue";\n',
    "steps/a.ts": 'import "./c.ts";\n',
    "steps/b.ts": 'import "./c.ts";\nimport "./d";\n',
    "steps/c.ts": "export const c = 1;\n",
    "steps/d.ts": "export const d = 1;\n",
    "node_modules/p-queue/package.json": JSON.stringify({ version: "9.3.5" }),
  };

  it("answers a warm run from the memo alone: one lookup per file, no writes, typescript never loaded", async () => {
    const root = workspace(FIVE_FILES);
    backdate(root);
    const dbPath = join(root, "memo.db");
    const db1 = new Database(dbPath);
    const cold = new CodeFingerprinter({ root, memo: createSqliteFingerprintMemo(db1) }).fingerprint(join(root, "steps/train.ts"));
    db1.close();
    expect(Object.keys(cold.manifest.files)).toHaveLength(5);

    // A fresh copy of the modules stands in for a fresh process: its typescript flag starts false.
    vi.resetModules();
    const fresh = await import("../../../src/hash/code-fingerprint.ts");
    const freshMemo = await import("../../../src/hash/fingerprint-memo.ts");
    const freshNormalize = await import("../../../src/hash/normalize-source.ts");
    const db2 = new Database(dbPath);
    const memo = counting(freshMemo.createSqliteFingerprintMemo(db2));
    const warm = new fresh.CodeFingerprinter({ root, memo }).fingerprint(join(root, "steps/train.ts"));
    db2.close();

    expect(warm).toEqual(cold);
    expect({ gets: memo.gets, hits: memo.hits, sets: memo.sets }).toEqual({ gets: 5, hits: 5, sets: 0 });
    expect(freshNormalize.typescriptLoaded()).toBe(false);
  });

  it("survives reopening the SQLite database and misses only the file whose stamp changed", () => {
    const root = workspace(FIVE_FILES);
    backdate(root);
    const dbPath = join(root, "memo.db");
    const first = new Database(dbPath);
    const before = new CodeFingerprinter({ root, memo: createSqliteFingerprintMemo(first) }).fingerprint(join(root, "steps/train.ts"));
    first.close();

    // Same size, new content: only the stamp's mtime differs.
    write(root, { "steps/c.ts": "export const c = 2;\n" });
    const later = new Date("2024-02-03T04:05:06Z");
    utimesSync(join(root, "steps/c.ts"), later, later);
    const reopened = new Database(dbPath);
    const memo = counting(createSqliteFingerprintMemo(reopened));
    const after = new CodeFingerprinter({ root, memo }).fingerprint(join(root, "steps/train.ts"));
    reopened.close();

    expect(changedFiles(before, after)).toEqual(["steps/c.ts"]);
    expect(after.digest).not.toBe(before.digest);
    expect({ hits: memo.hits, sets: memo.sets }).toEqual({ hits: 4, sets: 5 - 4 });
    expect(statSync(dbPath).size).toBeGreaterThan(0);
  });
});
