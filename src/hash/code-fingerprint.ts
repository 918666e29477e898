import { readFileSync, statSync, type BigIntStats } from "node:fs";
import { isBuiltin } from "node:module";
import { dirname, extname, isAbsolute, join, parse, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { SluiceError } from "../errors.ts";
import { digestJson, type Digest } from "../util/canonical-json.ts";
import { createMemoryFingerprintMemo, type FileStamp, type FingerprintMemo, type MemoEntry } from "./fingerprint-memo.ts";
import { normalizeSource } from "./normalize-source.ts";

/** The parts of a step's code fingerprint, kept with each cache entry so `explain` can diff them. */
export interface CodeManifest {
  /** workspace-root-relative POSIX paths of the entry module and every local module it imports transitively → digest of that file's normalised source */
  files: Record<string, Digest>;
  /** bare packages imported by any of those files → version, e.g. { "p-queue": "9.3.5", "sluice": "0.1.0" }; node builtins excluded */
  packages: Record<string, string>;
}

/** A step's code fingerprint: the digest of its manifest, and the manifest. */
export interface CodeFingerprint {
  /** `digestJson(manifest)`. */
  digest: Digest;
  manifest: CodeManifest;
}

/** Options of `CodeFingerprinter`. */
export interface CodeFingerprinterOptions {
  /** Workspace root (absolute): manifest paths are relative to it, its package.json names the self-referenced package. */
  root: string;
  /**
   * Where per-file digests and imports are remembered by (path, size, mtimeNs, ino).
   * @default createMemoryFingerprintMemo()
   */
  memo?: FingerprintMemo;
}

/** Version recorded for a bare import whose package.json cannot be found. */
const MISSING = "missing";

/**
 * A file modified less than this long ago is not written to the memo: within one filesystem
 * timestamp tick a same-size rewrite keeps its stamp, and a memo hit would return stale code.
 */
const RACY_WINDOW_NS = 2_000_000_000n;

const JS_TO_TS: Readonly<Record<string, readonly string[]>> = {
  ".js": [".ts", ".tsx"], ".jsx": [".tsx"], ".mjs": [".mts"], ".cjs": [".cts"],
};
const TS_EXTENSIONS = new Set([".ts", ".tsx", ".mts", ".cts"]);
const EXTENSIONLESS = [".ts", ".tsx", ".mts", ".js", ".mjs", ".cjs", `${sep}index.ts`, `${sep}index.js`];

type Target =
  | { kind: "local"; path: string }
  | { kind: "package"; name: string; version: string }
  | { kind: "builtin" };

/**
 * Fingerprints step modules: the module, the local modules it imports transitively (normalised so
 * comments and formatting do not count) and name@version of the packages they import.
 * Results are kept per entry, and stats, resolutions and package versions per generation, until
 * `invalidate()`: within a generation every step sees one snapshot of the code.
 */
export class CodeFingerprinter {
  readonly #root: string;
  readonly #memo: FingerprintMemo;
  readonly #byEntry = new Map<string, CodeFingerprint>();
  readonly #stats = new Map<string, BigIntStats | undefined>();
  readonly #files = new Map<string, MemoEntry>();
  readonly #targets = new Map<string, Target>();
  readonly #versions = new Map<string, string>();
  #rootPackage: { name?: unknown; version?: unknown } | undefined;

  constructor(opts: CodeFingerprinterOptions) {
    this.#root = resolve(opts.root);
    this.#memo = opts.memo ?? createMemoryFingerprintMemo();
  }

  /** Fingerprint of an absolute module path (sync). Memoised per process per entry until invalidate(). */
  fingerprint(entryFile: string): CodeFingerprint {
    const entry = entryFile.startsWith("file:") ? fileURLToPath(entryFile) : resolve(this.#root, entryFile);
    let fp = this.#byEntry.get(entry);
    if (fp === undefined) {
      fp = this.#compute(entry);
      this.#byEntry.set(entry, fp);
    }
    return fp;
  }

  /** Forget in-process memo (files may have changed on disk). */
  invalidate(): void {
    this.#byEntry.clear();
    this.#stats.clear();
    this.#files.clear();
    this.#targets.clear();
    this.#versions.clear();
    this.#rootPackage = undefined;
  }

  #compute(entry: string): CodeFingerprint {
    if (this.#stat(entry)?.isFile() !== true) {
      throw new SluiceError(
        "SLUICE_DEFINITION_INVALID",
        `code fingerprint: step module "${entry}" is not a file. Pass the absolute path (or file: URL) of the module that defines the step.`,
        { file: entry },
      );
    }
    const files: [string, Digest][] = [];
    const packages = new Map<string, Set<string>>();
    const seen = new Set<string>();
    const stack: string[] = [];
    const visit = (target: Target): void => {
      if (target.kind === "package") packages.set(target.name, (packages.get(target.name) ?? new Set()).add(target.version));
      else if (target.kind === "local" && !seen.has(target.path)) {
        seen.add(target.path);
        stack.push(target.path);
      }
    };
    visit(this.#packageOfPath(entry) ?? { kind: "local", path: entry });
    for (let file = stack.pop(); file !== undefined; file = stack.pop()) {
      const { digest, imports } = this.#file(file);
      files.push([this.#relative(file), digest]);
      for (const specifier of imports) visit(this.#target(file, specifier));
    }
    const manifest: CodeManifest = {
      files: sortedRecord(files),
      // Two copies of one package at different versions (nested node_modules) are all recorded.
      packages: sortedRecord([...packages].map(([name, versions]) => [name, [...versions].sort().join(" | ")])),
    };
    // Frozen: the same object is handed to every caller until invalidate().
    return Object.freeze({ digest: digestJson(manifest), manifest: Object.freeze({ files: Object.freeze(manifest.files), packages: Object.freeze(manifest.packages) }) });
  }

  #stat(path: string): BigIntStats | undefined {
    if (!this.#stats.has(path)) this.#stats.set(path, statSync(path, { bigint: true, throwIfNoEntry: false }));
    return this.#stats.get(path);
  }

  /** Digest and imports of a local file: from this generation, else the memo, else by parsing. */
  #file(path: string): MemoEntry {
    const known = this.#files.get(path);
    if (known !== undefined) return known;
    const st = this.#stat(path);
    if (st === undefined) throw new SluiceError("SLUICE_DEFINITION_INVALID", `code fingerprint: "${this.#relative(path)}" vanished while fingerprinting. Run again once the workspace is stable.`, { file: path });
    const stamp: FileStamp = { size: Number(st.size), mtimeNs: st.mtimeNs, ino: Number(st.ino) };
    let entry = this.#memo.get(path, stamp);
    if (entry === undefined) {
      entry = normalizeSource(path, readFileSync(path));
      if (BigInt(Date.now()) * 1_000_000n - stamp.mtimeNs >= RACY_WINDOW_NS) this.#memo.set(path, stamp, entry);
    }
    this.#files.set(path, entry);
    return entry;
  }

  #target(importer: string, specifier: string): Target {
    const key = `${importer}\0${specifier}`;
    let target = this.#targets.get(key);
    if (target === undefined) {
      target = this.#resolveTarget(importer, specifier);
      this.#targets.set(key, target);
    }
    return target;
  }

  #resolveTarget(importer: string, specifier: string): Target {
    if (isBuiltin(specifier)) return { kind: "builtin" };
    const dir = dirname(importer);
    const isPath = specifier.startsWith("./") || specifier.startsWith("../") || specifier === "." || specifier === ".." || isAbsolute(specifier);
    if (isPath || specifier.startsWith("file:")) {
      const base = specifier.startsWith("file:") ? fileURLToPath(specifier) : resolve(dir, specifier);
      const tried = candidates(base);
      const found = tried.find((p) => this.#stat(p)?.isFile() === true);
      if (found === undefined) {
        throw this.#importError(importer, specifier, `no file found (tried ${tried.map((p) => `"${this.#relative(p)}"`).join(", ")}). Create the module or correct the path, e.g. "./helper.ts"`);
      }
      return this.#packageOfPath(found) ?? { kind: "local", path: found };
    }
    if (specifier.startsWith("#") || /^[a-z][a-z0-9+.-]*:/i.test(specifier)) {
      throw this.#importError(importer, specifier, "subpath imports (#…) and URL imports cannot be fingerprinted. Use a relative path (\"./x.ts\") or a package name");
    }
    const parts = specifier.split("/");
    const name = specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!;
    return { kind: "package", name, version: this.#packageVersion(dir, name) };
  }

  #importError(importer: string, specifier: string, what: string): SluiceError {
    const file = this.#relative(importer);
    return new SluiceError("SLUICE_DEFINITION_INVALID", `code fingerprint: "${file}" imports "${specifier}": ${what}.`, { file, specifier });
  }

  /** Version of package `name` as seen from `fromDir`: self-reference, else the nearest node_modules copy. */
  #packageVersion(fromDir: string, name: string): string {
    const root = (this.#rootPackage ??= readJson(join(this.#root, "package.json")) ?? {});
    if (root.name === name) return typeof root.version === "string" ? root.version : MISSING;
    const key = `${fromDir}\0${name}`;
    let version = this.#versions.get(key);
    if (version === undefined) {
      version = MISSING;
      for (let dir = fromDir; ; dir = dirname(dir)) {
        const pkg = readJson(join(dir, "node_modules", name, "package.json"));
        if (pkg !== undefined) {
          version = typeof pkg.version === "string" ? pkg.version : MISSING;
          break;
        }
        if (dirname(dir) === dir) break;
      }
      this.#versions.set(key, version);
    }
    return version;
  }

  /** A path inside a node_modules folder belongs to a package: its name and version. */
  #packageOfPath(path: string): Extract<Target, { kind: "package" }> | undefined {
    const rel = relative(this.#root, path);
    // Only node_modules below the root count, so a workspace that itself sits in one still has local files.
    const inside = rel !== ".." && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
    const base = inside ? this.#root : parse(path).root;
    const segments = (inside ? rel : path.slice(base.length)).split(sep);
    const at = segments.lastIndexOf("node_modules");
    if (at < 0) return undefined;
    const end = at + (segments[at + 1]?.startsWith("@") === true ? 3 : 2);
    if (end >= segments.length) return undefined;
    const pkg = readJson(join(base, ...segments.slice(0, end), "package.json"));
    return { kind: "package", name: segments.slice(at + 1, end).join("/"), version: typeof pkg?.version === "string" ? pkg.version : MISSING };
  }

  #relative(path: string): string {
    return relative(this.#root, path).split(sep).join("/");
  }
}

/** Files a relative specifier may mean, in resolution order (TS NodeNext: `./x.js` is `x.ts` when that exists). */
function candidates(base: string): string[] {
  const ext = extname(base);
  const stem = base.slice(0, base.length - ext.length);
  const mapped = JS_TO_TS[ext];
  if (mapped !== undefined) return [...mapped.map((e) => stem + e), base];
  if (TS_EXTENSIONS.has(ext)) return [base];
  return [base, ...EXTENSIONLESS.map((e) => base + e)];
}

function readJson(path: string): { name?: unknown; version?: unknown } | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null ? (value as { name?: unknown; version?: unknown }) : {};
  } catch {
    return {};
  }
}

function sortedRecord<V>(entries: [string, V][]): Record<string, V> {
  return Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
