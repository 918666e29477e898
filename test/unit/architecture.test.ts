/**
 * Keeps the layering of /work/shared/STYLE.md honest: reads every import of `src/`, `steps/` and
 * `pipelines/` and fails on an import that points up a layer, on a cycle between modules, and on
 * a step or pipeline that reaches past the public package.
 */
import fs from "node:fs";
import { builtinModules } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const SOURCE_EXT = /\.(?:[cm]?ts|[cm]?js|tsx)$/;

/**
 * Layer of each top-level entry of `src/` (folder, or file at the top). A module may import from
 * its own layer or below; `index.ts` and `testing/` are the facade and may import anything, and
 * `bundle/` (the entry of the dist/ bundle) sits on top of them all.
 */
const LAYERS: Readonly<Record<string, number>> = {
  util: 0,
  "errors.ts": 0,
  "log.ts": 0,
  define: 1,
  artifacts: 1,
  config: 1,
  graph: 2,
  hash: 3,
  store: 4,
  scheduler: 5,
  executors: 6,
  serving: 6,
  workspace: 6,
  triggers: 6,
  server: 7,
  cli: 8,
  "index.ts": 9,
  testing: 9,
  bundle: 10,
};

/** The folders whose code must use sluice exactly as a user would. */
const USER_CODE_DIRS = ["steps", "pipelines"] as const;

/** Repo-relative path (forward slashes) → the module specifiers it imports. */
type ImportMap = ReadonlyMap<string, readonly string[]>;

/**
 * Every module specifier of a file: static imports (value and type), `export … from`,
 * side-effect imports, `import("literal")` and `require("literal")`. Uses the TypeScript
 * scanner, so multi-line imports count and comments or strings that mention imports do not.
 */
function importsOf(sourceText: string): string[] {
  return ts.preProcessFile(sourceText, true, true).importedFiles.map((f) => f.fileName);
}

function listSources(dir: string): string[] {
  const abs = path.join(REPO, dir);
  if (!fs.existsSync(abs)) return [];
  return (fs.readdirSync(abs, { recursive: true, encoding: "utf8" }) as string[])
    .filter((rel) => SOURCE_EXT.test(rel) && !rel.endsWith(".d.ts") && fs.statSync(path.join(abs, rel)).isFile())
    .map((rel) => `${dir}/${rel.split(path.sep).join("/")}`)
    .sort();
}

function scan(dirs: readonly string[]): ImportMap {
  const out = new Map<string, string[]>();
  for (const dir of dirs) {
    for (const file of listSources(dir)) out.set(file, importsOf(fs.readFileSync(path.join(REPO, file), "utf8")));
  }
  return out;
}

const isRelative = (spec: string): boolean => spec.startsWith("./") || spec.startsWith("../");

/** Resolves a relative specifier of `file` to a repo-relative path (forward slashes). */
function resolveRelative(file: string, spec: string): string {
  return path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
}

/** `src/graph/build-plan.ts` → `graph`; `src/errors.ts` → `errors.ts`. */
function moduleOf(srcFile: string): string {
  return srcFile.slice("src/".length).split("/")[0]!;
}

/** One edge between two modules, with a file that makes it (for the message). */
interface ModuleEdge {
  readonly from: string;
  readonly to: string;
  readonly file: string;
  readonly spec: string;
}

/** Checks direction rules of `src/` and returns the module edges it saw. */
function checkLayers(imports: ImportMap): { violations: string[]; edges: ModuleEdge[] } {
  const violations: string[] = [];
  const edges: ModuleEdge[] = [];
  for (const [file, specs] of imports) {
    if (!file.startsWith("src/")) continue;
    const from = moduleOf(file);
    const fromLayer = LAYERS[from];
    if (fromLayer === undefined) {
      violations.push(`${file}: module "${from}" has no layer; add it to LAYERS (and to STYLE.md's layout table).`);
      continue;
    }
    for (const spec of specs) {
      if (spec === "sluice" || spec.startsWith("sluice/")) {
        violations.push(`${file} imports "${spec}": code inside src/ must import relatively, not through the public package.`);
        continue;
      }
      if (!isRelative(spec)) {
        if (spec.startsWith("/") || spec.startsWith("file:")) violations.push(`${file} imports "${spec}": absolute imports are not portable.`);
        continue;
      }
      const target = resolveRelative(file, spec);
      if (!target.startsWith("src/")) {
        violations.push(`${file} imports "${spec}" (${target}), outside src/.`);
        continue;
      }
      const to = moduleOf(target);
      const toLayer = LAYERS[to];
      if (toLayer === undefined) {
        violations.push(`${file} imports "${spec}": module "${to}" has no layer; add it to LAYERS.`);
        continue;
      }
      if (toLayer > fromLayer) {
        violations.push(`${file} imports "${spec}": ${from} (layer ${fromLayer}) may not import ${to} (layer ${toLayer}). Move the shared code down a layer or invert the dependency.`);
      }
      if (to !== from) edges.push({ from, to, file, spec });
    }
  }
  return { violations, edges };
}

/** Cycles between modules, one message per strongly connected component (Tarjan). */
function findModuleCycles(edges: readonly ModuleEdge[]): string[] {
  const adj = new Map<string, Map<string, ModuleEdge>>();
  for (const e of edges) {
    if (!adj.has(e.from)) adj.set(e.from, new Map());
    if (!adj.has(e.to)) adj.set(e.to, new Map());
    if (!adj.get(e.from)!.has(e.to)) adj.get(e.from)!.set(e.to, e);
  }
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let counter = 0;
  const strongConnect = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of adj.get(v)!.keys()) {
      if (!index.has(w)) {
        strongConnect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) components.push(comp.sort());
    }
  };
  // Module graphs are a few dozen nodes: recursion depth is bounded by the module count.
  for (const v of [...adj.keys()].sort()) if (!index.has(v)) strongConnect(v);

  return components.map((comp) => {
    // Shortest cycle through the component's first module, by BFS inside the component.
    const members = new Set(comp);
    const start = comp[0]!;
    const prev = new Map<string, string>();
    const queue = [start];
    let closing: string | undefined;
    for (let i = 0; i < queue.length && closing === undefined; i++) {
      const v = queue[i]!;
      for (const w of adj.get(v)!.keys()) {
        if (!members.has(w)) continue;
        if (w === start) {
          closing = v;
          break;
        }
        if (!prev.has(w)) {
          prev.set(w, v);
          queue.push(w);
        }
      }
    }
    const cyclePath = [start];
    for (let v = closing!; v !== start; v = prev.get(v)!) cyclePath.splice(1, 0, v);
    cyclePath.push(start);
    const via = cyclePath.slice(0, -1).map((m, i) => {
      const e = adj.get(m)!.get(cyclePath[i + 1]!)!;
      return `${e.file} imports "${e.spec}"`;
    });
    return `import cycle between modules ${cyclePath.join(" → ")} (${via.join("; ")}). Break it by moving the shared part down a layer.`;
  });
}

/** Imports of `steps/` and `pipelines/` that a user's own code could not write. */
function checkUserCode(imports: ImportMap, publicEntries: ReadonlySet<string>): string[] {
  const violations: string[] = [];
  const builtins = new Set(builtinModules);
  for (const [file, specs] of imports) {
    if (!USER_CODE_DIRS.some((d) => file.startsWith(`${d}/`))) continue;
    for (const spec of specs) {
      if (spec === "sluice" || spec.startsWith("sluice/")) {
        if (!publicEntries.has(spec)) violations.push(`${file} imports "${spec}": not a public entry of the package (public: ${[...publicEntries].join(", ")}).`);
        continue;
      }
      if (spec.startsWith("node:") || builtins.has(spec)) continue;
      if (isRelative(spec)) {
        const target = resolveRelative(file, spec);
        if (!USER_CODE_DIRS.some((d) => target.startsWith(`${d}/`))) {
          violations.push(`${file} imports "${spec}" (${target}): steps/ and pipelines/ may import only "sluice", node builtins, npm packages and files of steps/ or pipelines/.`);
        }
        continue;
      }
      if (spec.startsWith("/") || spec.startsWith("file:") || spec.startsWith("#") || /^[A-Za-z]:[\\/]/.test(spec)) {
        violations.push(`${file} imports "${spec}": use "sluice" or a relative path inside steps/ or pipelines/.`);
      }
      // Anything else is a bare npm package name: allowed.
    }
  }
  return violations;
}

/** `sluice` plus each subpath export of package.json, except package.json itself. */
function publicEntries(): Set<string> {
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")) as { name: string; exports: Record<string, unknown> };
  return new Set(
    Object.keys(pkg.exports)
      .filter((k) => k !== "./package.json")
      .map((k) => (k === "." ? pkg.name : `${pkg.name}/${k.slice(2)}`)),
  );
}

describe("import scanner", () => {
  it("finds multi-line, type-only, re-export, side-effect and literal dynamic imports, and skips comments and strings", () => {
    const text = [
      'import {',
      '  a,',
      '  b,',
      '} from "./multi.ts";',
      'import type { T } from "../types.ts";',
      'export * from "./re.ts";',
      'export { x } from "./re-named.ts";',
      'import "./side.ts";',
      'const m = await import("./lazy.ts");',
      'const n = await import(`./${name}.ts`);',
      '// import { z } from "./commented.ts";',
      '/* import "./block.ts"; */',
      'const s = "import { q } from \'./in-string.ts\'";',
    ].join("\n");
    expect(importsOf(text)).toEqual(["./multi.ts", "../types.ts", "./re.ts", "./re-named.ts", "./side.ts", "./lazy.ts"]);
  });
});

describe("architecture rules (checked on planted violations)", () => {
  it("flags an import that points up a layer and accepts same-layer and downward imports", () => {
    const imports: ImportMap = new Map([
      ["src/graph/build-plan.ts", ["../define/index.ts", "../errors.ts", "./topo-sort.ts", "../hash/cache-key.ts"]],
      ["src/config/config.ts", ["../define/params.ts", "../graph/index.ts"]],
      ["src/workspace/workspace.ts", ["../executors/index.ts", "node:fs", "kysely"]],
      ["src/index.ts", ["./cli/main.ts"]],
    ]);
    const { violations } = checkLayers(imports);
    expect(violations).toEqual([
      expect.stringContaining('src/graph/build-plan.ts imports "../hash/cache-key.ts": graph (layer 2) may not import hash (layer 3)'),
      expect.stringContaining('src/config/config.ts imports "../graph/index.ts": config (layer 1) may not import graph (layer 2)'),
    ]);
  });

  it("flags a module without a layer and a self-import through the package name", () => {
    const { violations } = checkLayers(new Map([["src/mystery/x.ts", []], ["src/hash/y.ts", ["sluice"]]]));
    expect(violations).toEqual([expect.stringContaining('module "mystery" has no layer'), expect.stringContaining('imports "sluice"')]);
  });

  it("flags a cycle between two same-layer modules and names the files that make it", () => {
    const { edges } = checkLayers(
      new Map([
        ["src/workspace/workspace.ts", ["../executors/index.ts"]],
        ["src/executors/thread-executor.ts", ["../workspace/index.ts"]],
        ["src/serving/a.ts", ["../triggers/b.ts"]],
      ]),
    );
    expect(findModuleCycles(edges)).toEqual([
      'import cycle between modules executors → workspace → executors (src/executors/thread-executor.ts imports "../workspace/index.ts"; src/workspace/workspace.ts imports "../executors/index.ts"). Break it by moving the shared part down a layer.',
    ]);
  });

  it("flags a step that reaches into src/ or a private package entry, and allows sluice, builtins, npm and local files", () => {
    const imports: ImportMap = new Map([
      ["steps/ml/train.ts", ["sluice", "sluice/testing", "node:fs", "path", "apache-arrow", "./util.ts", "../text/index.ts"]],
      ["pipelines/iris.ts", ["../steps/ml/index.ts", "../src/graph/index.ts", "sluice/internal", "/abs/x.ts"]],
    ]);
    expect(checkUserCode(imports, new Set(["sluice", "sluice/testing"]))).toEqual([
      expect.stringContaining('pipelines/iris.ts imports "../src/graph/index.ts" (src/graph/index.ts)'),
      expect.stringContaining('pipelines/iris.ts imports "sluice/internal": not a public entry'),
      expect.stringContaining('pipelines/iris.ts imports "/abs/x.ts"'),
    ]);
  });
});

describe("the repository's own code", () => {
  const imports = scan(["src", ...USER_CODE_DIRS]);
  const srcFiles = [...imports.keys()].filter((f) => f.startsWith("src/"));

  it("scans the source tree (guards against a scanner that silently finds nothing)", () => {
    expect(srcFiles.length).toBeGreaterThan(20);
    expect(imports.get("src/index.ts")).toContain("./define/index.ts");
  });

  it("imports only from the same or lower layers in src/", () => {
    expect(checkLayers(imports).violations).toEqual([]);
  });

  it("has no import cycle between modules of src/", () => {
    expect(findModuleCycles(checkLayers(imports).edges)).toEqual([]);
  });

  it("uses only the public package, node builtins, npm packages and its own files in steps/ and pipelines/", () => {
    expect(checkUserCode(imports, publicEntries())).toEqual([]);
  });
});
