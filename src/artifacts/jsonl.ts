/**
 * JSON Lines → table: one JSON object per line, blank lines skipped. Columns are the union of keys
 * in first-seen order; a missing key or `null` is a null. Types are inferred from the JSON values
 * (see `columnFromValues`) or declared with `types`; a column that mixes JSON types is an error.
 */
import { dataError } from "./data-error.ts";
import { readInputFile } from "./read-input.ts";
import { columnFromValues } from "./rows.ts";
import { createTable, type ColumnType, type Table } from "./table.ts";

/** Options of `readJsonl` and `parseJsonl`. */
export interface ReadJsonlOptions {
  /** Declared column types; the others are inferred from the JSON values. */
  types?: Record<string, ColumnType>;
}

/** Parses JSON Lines text into a table; `source` is the name used in errors (usually the file path). */
export function parseJsonl(text: string | Uint8Array, source: string, opts: ReadJsonlOptions = {}): Table {
  const str = typeof text === "string" ? text : Buffer.from(text.buffer, text.byteOffset, text.byteLength).toString("utf8");
  const columns = new Map<string, unknown[]>();
  const lines: number[] = [];
  let lineNo = 0;
  let pos = str.charCodeAt(0) === 0xfeff ? 1 : 0;
  while (pos < str.length) {
    let eol = str.indexOf("\n", pos);
    if (eol < 0) eol = str.length;
    const line = str.slice(pos, eol);
    pos = eol + 1;
    lineNo++;
    if (line.trim() === "") continue;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch (err) {
      throw dataError({ source, row: lineNo }, `the line is not valid JSON (${(err as Error).message})`, "Write one complete JSON object per line.");
    }
    if (typeof rec !== "object" || rec === null || Array.isArray(rec)) {
      throw dataError({ source, row: lineNo }, `the line holds ${Array.isArray(rec) ? "an array" : rec === null ? "null" : `a ${typeof rec}`}, not an object`, 'Write one JSON object per line, e.g. {"x": 1, "label": "a"}.');
    }
    const r = lines.length;
    lines.push(lineNo);
    for (const [k, v] of Object.entries(rec)) {
      let values = columns.get(k);
      if (values === undefined) {
        values = new Array<unknown>(r).fill(null);
        columns.set(k, values);
      }
      values[r] = v;
    }
  }
  const types = opts.types ?? {};
  for (const k of Object.keys(types)) {
    if (!columns.has(k)) {
      if (lines.length > 0) {
        throw dataError({ source, column: k }, `\`types\` declares a column no line has; the lines have ${[...columns.keys()].map((n) => JSON.stringify(n)).join(", ")}`, "Fix the column name in `types`.");
      }
      columns.set(k, []);
    }
  }
  const n = lines.length;
  return createTable(
    [...columns].map(([name, values]) => {
      // Records without the key left holes; a hole is a null.
      if (values.length < n) values.length = n;
      return columnFromValues(name, values, types[name], (i) => ({ source, row: lines[i], column: name }));
    }),
  );
}

/** Reads a JSON Lines file into a table. A missing file throws `SLUICE_INPUT_MISSING`. */
export async function readJsonl(path: string, opts: ReadJsonlOptions = {}): Promise<Table> {
  return parseJsonl(await readInputFile(path, "JSONL"), path, opts);
}
