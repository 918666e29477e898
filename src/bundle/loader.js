// Loads dist/sluice.cjs, the bundle behind every dist/ entry, once per thread, through V8's code
// cache. Copied to dist/loader.js by scripts/build.mjs.
//
// Node 20 keeps no compiled code between processes (module.enableCompileCache came in Node 22),
// so every `sluice` command would parse and compile the engine again. A script compiled through
// node:vm can take and make V8's code cache: the first `sluice` command writes what it compiled to
// dist/.v8/, and later commands start from it. A cache V8 rejects (another Node, other V8 flags)
// costs nothing but the compile it would have saved. V8 does not checksum a cache it is given (a
// damaged one crashes the process), so each file starts with the SHA-256 of the rest, checked
// first (~3 ms): a damaged cache is ignored and replaced.
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import fs from "node:fs";
import { createRequire, Module } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import vm from "node:vm";

const FILE = fileURLToPath(new URL("./sluice.cjs", import.meta.url));
const DIR = path.dirname(FILE);
const CACHE_DIR = path.join(DIR, ".v8");
// V8 checks its version and flags, and the source's length, itself; the name keeps caches of
// different Nodes and flags apart (so they do not replace each other on every start) and ties each
// to this build of the bundle (a rebuild also empties dist/).
const CACHE_TAG = (() => {
  const st = fs.statSync(FILE);
  return `${process.version}-${process.arch}-${hashText(`${process.execArgv.join(" ")} ${st.size} ${st.mtimeMs}`)}`;
})();
// `run` is the main job: a cache made by a run holds the code a run needs, so it is preferred and
// a run replaces a cache that another command made.
const TIERS = ["run", "any"];
const DIGEST_BYTES = 32;

/** The bundle's exports (`api`, `main`, `testing()`, `threadWorker()`). */
export function engine() {
  const require = createRequire(FILE);
  const loaded = require.cache[FILE];
  if (loaded) return loaded.exports;
  const source = fs.readFileSync(FILE, "latin1"); // the bundle is ASCII (esbuild `charset: ascii`)
  const cached = readCache();
  // `__sluiceImport`: the bundle's import() (src/util/import-module.ts), resolved from dist/.
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname, __sluiceImport) {${source}\n})`, {
    filename: FILE,
    cachedData: cached?.data,
  });
  const mod = new Module(FILE);
  mod.filename = FILE;
  require.cache[FILE] = mod;
  try {
    script.runInThisContext()(mod.exports, require, mod, FILE, DIR, (specifier) => import(specifier));
  } catch (err) {
    delete require.cache[FILE];
    throw err;
  }
  mod.loaded = true;
  state = { script, tier: cached && !script.cachedDataRejected ? cached.tier : undefined };
  return mod.exports;
}

/** @type {{ script: vm.Script; tier: string | undefined } | undefined} */
let state;

/** Which cache the engine was loaded from ("run", "any"), or undefined: none, or none usable. */
export function codeCacheStatus() {
  return { used: state?.tier };
}

/**
 * Writes the code cache when this process exits, if it started without a usable one (or `tier` is
 * "run" and the one it used was not). Only the `sluice` command (bin/sluice.js, on its main thread)
 * calls this; library users and pool threads only read.
 * @param {"run" | "any"} tier
 */
export function writeCodeCacheOnExit(tier) {
  process.once("exit", () => {
    if (!state || (state.tier !== undefined && TIERS.indexOf(state.tier) <= TIERS.indexOf(tier))) return;
    const file = cacheFile(tier);
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      fs.mkdirSync(CACHE_DIR, { recursive: true });
      const data = state.script.createCachedData();
      fs.writeFileSync(tmp, Buffer.concat([createHash("sha256").update(data).digest(), data]));
      fs.renameSync(tmp, file);
    } catch {
      // A read-only install: every command compiles, as it would without the cache. Nothing here
      // may throw: an exception in an exit listener would change the command's exit code.
      try {
        fs.rmSync(tmp, { force: true });
      } catch {
        // the folder itself is not writable: there is no temp file
      }
    }
  });
}

function cacheFile(tier) {
  return path.join(CACHE_DIR, `sluice-${CACHE_TAG}-${tier}.bin`);
}

/** The best intact cache: its tier and V8's data. */
function readCache() {
  for (const tier of TIERS) {
    let bytes;
    try {
      bytes = fs.readFileSync(cacheFile(tier));
    } catch {
      continue; // none of this tier
    }
    const data = bytes.subarray(DIGEST_BYTES);
    if (bytes.length > DIGEST_BYTES && createHash("sha256").update(data).digest().equals(bytes.subarray(0, DIGEST_BYTES))) return { tier, data };
  }
  return undefined;
}

/** A short, stable tag of a text (FNV-1a, 32 bits, hex). */
function hashText(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, "0");
}
