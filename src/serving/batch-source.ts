/**
 * The input of a batch job, checked when the job is started (so a bad request gets its error at
 * once, not as a failed job): a table digest in the CAS, or a table file inside the workspace.
 */
import fs from "node:fs";
import path from "node:path";
import { decodeTable, type Table } from "../artifacts/index.ts";
import { SluiceError } from "../errors.ts";
import { isDigest } from "../util/canonical-json.ts";
import { BATCH_FILE_EXTENSIONS, readTableFile } from "./batch-score.ts";
import type { BatchSource } from "./batch-jobs.ts";

/** True when `child` is `parent` or inside it. */
function inside(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

/**
 * Checks a batch source and returns its loader. Exactly one of `table` and `path`; a digest must
 * be `sha256:<64 hex>` and present; a path must be relative, stay inside `root` (symlinks
 * resolved), exist, and end in a table extension. Every refusal names the field.
 */
export function resolveBatchSource(source: BatchSource, root: string, cas: { getBytes(digest: string): Uint8Array | undefined }, where: string): () => Promise<Table> {
  if ((source.table === undefined) === (source.path === undefined)) {
    throw new SluiceError("SLUICE_PARAMS_INVALID", `${where}: give exactly one of "table" (a table digest) and "path" (a workspace file). Send one of them.`, { field: source.table === undefined ? "table" : "path" });
  }
  if (source.table !== undefined) {
    const digest = source.table;
    if (!isDigest(digest)) throw new SluiceError("SLUICE_PARAMS_INVALID", `${where}: "table" must be a digest sha256:<64 hex digits>, got ${JSON.stringify(digest).slice(0, 80)}. Pass a run's table output digest.`, { field: "table" });
    const bytes = cas.getBytes(digest);
    if (!bytes) throw new SluiceError("SLUICE_INPUT_MISSING", `${where}: no object ${digest} in the workspace's store. Pass the digest of a stored table (a run's table output).`, { field: "table", digest });
    return () => Promise.resolve(decodeTable(bytes, digest));
  }
  const rel = source.path!;
  const field = { field: "path" };
  if (rel === "" || rel.includes("\0") || path.isAbsolute(rel) || rel.split(/[\\/]/).includes("..")) {
    throw new SluiceError("SLUICE_PARAMS_INVALID", `${where}: "path" must be a relative path inside the workspace without "..", got ${JSON.stringify(rel).slice(0, 120)}. Pass e.g. "data/new-rows.csv".`, field);
  }
  if (!(BATCH_FILE_EXTENSIONS as readonly string[]).includes(path.extname(rel).toLowerCase())) {
    throw new SluiceError("SLUICE_PARAMS_INVALID", `${where}: "path" ${JSON.stringify(rel)} is not a table file (${BATCH_FILE_EXTENSIONS.join(", ")}). Pass a CSV, JSON Lines, Parquet or Arrow file.`, field);
  }
  const abs = path.resolve(root, rel);
  let real: string;
  try {
    real = fs.realpathSync(abs);
  } catch {
    throw new SluiceError("SLUICE_INPUT_MISSING", `${where}: "path" ${JSON.stringify(rel)} does not exist in the workspace. Pass a file under ${root}.`, { ...field, path: rel });
  }
  if (!inside(fs.realpathSync(root), real) || !fs.statSync(real).isFile()) {
    throw new SluiceError("SLUICE_PARAMS_INVALID", `${where}: "path" ${JSON.stringify(rel)} is not a file inside the workspace. Pass a file under ${root}.`, field);
  }
  return () => readTableFile(real);
}
