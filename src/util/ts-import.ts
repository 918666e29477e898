import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { importModule } from "./import-module.ts";

/**
 * Imports a workspace module (a pipeline, a step, `sluice.config.ts`) written in TypeScript,
 * with no build step and no loader hooks on the hot path.
 *
 * When sluice itself runs from its TypeScript sources, a TypeScript loader (tsx, vitest) is
 * already active and modules are imported as they are. Otherwise each module and the local
 * modules it imports are compiled once with esbuild into `<root>/cache/js/`, mirroring the
 * source tree (inside the workspace, so bare imports and `sluice` itself resolve as from the
 * source), and imported natively from there. A manifest of (size, mtime, inode) per source file
 * decides when to recompile, so an unchanged workspace pays a few stats.
 * Source maps are inline and enabled, so stack traces (and the module URLs `defineStep` records)
 * name the `.ts` files.
 */

const TS_EXT = /\.(ts|mts|cts|tsx)$/;
const NATIVE_TS = import.meta.url.endsWith(".ts");
const FORMAT = 1;

type Stamp = [size: number, mtimeMs: number, ino: number];
interface Manifest {
  format: number;
  entries: Record<string, { files: Record<string, Stamp> }>;
}

function stampOf(file: string): Stamp | undefined {
  try {
    const st = fs.statSync(file);
    return [st.size, st.mtimeMs, st.ino];
  } catch {
    return undefined;
  }
}

function outRel(rel: string): string {
  return rel.replace(TS_EXT, "") + ".mjs";
}

/** Compiles and imports TypeScript workspace modules (see the module comment). */
export class TsImporter {
  readonly #root: string;
  readonly #outDir: string;
  #manifest: Manifest | undefined;

  constructor(root: string) {
    this.#root = root;
    this.#outDir = path.join(root, "cache", "js");
  }

  /** True when modules are imported as they are (a TypeScript loader is active). */
  static get native(): boolean {
    return NATIVE_TS;
  }

  /** The URL to import for a module URL or path: the compiled file for a `.ts` source. */
  loadableUrl(moduleUrlOrPath: string): string {
    const file = moduleUrlOrPath.startsWith("file:") ? fileURLToPath(moduleUrlOrPath) : moduleUrlOrPath;
    if (NATIVE_TS || !TS_EXT.test(file)) return pathToFileURL(file).href;
    const rel = path.relative(this.#root, file);
    return pathToFileURL(path.join(this.#outDir, outRel(rel))).href;
  }

  /** Imports a module, compiling it and its local imports first when they changed. */
  async import(file: string): Promise<Record<string, unknown>> {
    const abs = path.resolve(this.#root, file);
    if (NATIVE_TS || !TS_EXT.test(abs)) return importModule(pathToFileURL(abs).href);
    const rel = path.relative(this.#root, abs);
    if (rel.startsWith("..")) {
      throw new Error(`${abs} is outside the workspace ${this.#root}; TypeScript modules must live inside it`);
    }
    if (!this.#fresh(rel)) await this.#compile(rel);
    process.setSourceMapsEnabled(true);
    return importModule(this.loadableUrl(abs));
  }

  #readManifest(): Manifest {
    if (this.#manifest) return this.#manifest;
    try {
      const m = JSON.parse(fs.readFileSync(path.join(this.#outDir, "manifest.json"), "utf8")) as Manifest;
      if (m.format === FORMAT) return (this.#manifest = m);
    } catch {
      // no manifest yet, or unreadable: compile afresh
    }
    return (this.#manifest = { format: FORMAT, entries: {} });
  }

  #fresh(rel: string): boolean {
    const entry = this.#readManifest().entries[rel];
    if (!entry) return false;
    for (const [f, stamp] of Object.entries(entry.files)) {
      const now = stampOf(path.join(this.#root, f));
      if (!now || now[0] !== stamp[0] || now[1] !== stamp[1] || now[2] !== stamp[2]) return false;
      if (TS_EXT.test(f) && !fs.existsSync(path.join(this.#outDir, outRel(f)))) return false;
    }
    return true;
  }

  async #compile(entryRel: string): Promise<void> {
    const esbuild = await importModule<typeof import("esbuild")>("esbuild");
    const root = this.#root;
    const wanted = new Set<string>([entryRel]);
    const done = new Set<string>();
    const json = new Set<string>();
    // Each pass compiles the files found so far; imports it discovers are compiled next pass.
    while ([...wanted].some((f) => !done.has(f))) {
      const batch = [...wanted].filter((f) => !done.has(f));
      const built = await esbuild.build({
        entryPoints: batch.map((f) => path.join(root, f)),
        outdir: this.#outDir,
        outbase: root,
        // Written below, each file renamed into place: another process (a worker, a second run)
        // importing the same module meanwhile never sees a half-written file.
        write: false,
        outExtension: { ".js": ".mjs" },
        bundle: true,
        format: "esm",
        platform: "node",
        target: "node20",
        sourcemap: "inline",
        logLevel: "silent",
        // A compiled module still sees its source's location in import.meta.
        define: { "import.meta.url": "__sluiceSourceUrl", "import.meta.filename": "__sluiceSourceFile", "import.meta.dirname": "__sluiceSourceDir" },
        plugins: [{
          name: "sluice-local-imports",
          setup(build) {
            build.onLoad({ filter: TS_EXT }, async (args) => {
              const source = await fs.promises.readFile(args.path, "utf8");
              // Declared on the first line (no new line), so source-mapped line numbers stay exact.
              const where = `const __sluiceSourceUrl = ${JSON.stringify(pathToFileURL(args.path).href)}, __sluiceSourceFile = ${JSON.stringify(args.path)}, __sluiceSourceDir = ${JSON.stringify(path.dirname(args.path))};`;
              return { contents: source.startsWith("#!") ? source.replace(/^#![^\n]*/, (m) => `${m}\n${where}`) : where + source, loader: args.path.endsWith(".tsx") ? "tsx" : "ts" };
            });
            build.onResolve({ filter: /.*/ }, async (args) => {
              if (args.kind === "entry-point" || (args.pluginData as { inner?: boolean } | undefined)?.inner) return undefined;
              if (!args.path.startsWith(".") && !path.isAbsolute(args.path)) return { external: true };
              const r = await build.resolve(args.path, { resolveDir: args.resolveDir, kind: args.kind, pluginData: { inner: true } });
              if (r.errors.length > 0) return { errors: r.errors };
              const target = path.relative(root, r.path);
              if (target.startsWith("..") || target.split(path.sep).includes("node_modules")) return { path: pathToFileURL(r.path).href, external: true };
              if (target.endsWith(".json")) {
                json.add(target);
                return { path: pathToFileURL(r.path).href, external: true };
              }
              wanted.add(target);
              const fromDir = path.dirname(path.relative(root, args.importer));
              let spec = path.relative(fromDir, outRel(target)).split(path.sep).join("/");
              if (!spec.startsWith(".")) spec = `./${spec}`;
              return { path: spec, external: true };
            });
          },
        }],
      });
      for (const out of built.outputFiles) {
        fs.mkdirSync(path.dirname(out.path), { recursive: true });
        const tmp = `${out.path}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, out.contents);
        fs.renameSync(tmp, out.path);
      }
      for (const f of batch) done.add(f);
    }
    const files: Record<string, Stamp> = {};
    for (const f of [...done, ...json]) {
      const s = stampOf(path.join(root, f));
      if (s) files[f] = s;
    }
    const manifest = this.#readManifest();
    manifest.entries[entryRel] = { files };
    const target = path.join(this.#outDir, "manifest.json");
    const tmp = `${target}.${process.pid}.tmp`;
    fs.mkdirSync(this.#outDir, { recursive: true });
    fs.writeFileSync(tmp, JSON.stringify(manifest));
    fs.renameSync(tmp, target);
  }
}
