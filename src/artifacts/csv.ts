/**
 * CSV ⇄ table. A header row is required; column types are inferred (see `csv-columns.ts`) or
 * declared with `types`. Errors name the file, the row (its line in the file, header = 1) and the
 * column. CSV carries no types: read back with `types` to get exactly the written table.
 */
import { convertColumn, nullTokens } from "./csv-columns.ts";
import { parseRawCsv } from "./csv-parser.ts";
import { dataError } from "./data-error.ts";
import { readInputFile } from "./read-input.ts";
import { createTable, type ColumnType, type Table } from "./table.ts";

/** Options of `readCsv` and `parseCsv`. */
export interface ReadCsvOptions {
  /**
   * Field separator, one character.
   * @default ","
   */
  delimiter?: string;
  /** Declared column types; a declared numeric or bool column whose text does not parse is an error. Others are inferred. */
  types?: Record<string, ColumnType>;
  /**
   * Unquoted field texts that mean null. A quoted field is always text.
   * @default ["", "NA", "null", "NaN"]
   */
  nullValues?: string[];
}

/** Options of `writeCsv`. */
export interface WriteCsvOptions {
  /**
   * Field separator, one character.
   * @default ","
   */
  delimiter?: string;
}

/** The null tokens used when `nullValues` is not given. */
export const DEFAULT_NULL_VALUES: readonly string[] = ["", "NA", "null", "NaN"];

function checkDelimiter(delimiter: string, source: string): void {
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === "\n" || delimiter === "\r") {
    throw dataError({ source }, `delimiter ${JSON.stringify(delimiter)} is not a single character other than a quote or line break`, 'Pass one character, e.g. "," or "\\t".');
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Parses CSV text (or UTF-8 bytes) into a table; `source` is the name used in errors (usually the file path). */
export function parseCsv(text: string | Uint8Array, source: string, opts: ReadCsvOptions = {}): Table {
  const delimiter = opts.delimiter ?? ",";
  checkDelimiter(delimiter, source);
  let str: string;
  if (typeof text === "string") {
    str = text;
  } else {
    try {
      str = utf8.decode(text);
    } catch (err) {
      const tooLong = err instanceof Error && /string longer|Invalid string length/i.test(err.message);
      throw tooLong
        ? dataError({ source }, `${text.byteLength} bytes is more than one JavaScript string holds (about 512 MiB)`, "Split the file, or convert it to Parquet and read that.")
        : dataError({ source }, "the file is not valid UTF-8", "Re-save it as UTF-8.");
    }
  }
  const nulls = nullTokens(opts.nullValues ?? DEFAULT_NULL_VALUES);
  const raw = parseRawCsv(str, source, delimiter, nulls.tokens);
  const types = opts.types ?? {};
  for (const name of Object.keys(types)) {
    if (!raw.header.includes(name)) {
      throw dataError({ source, row: 1, column: name }, `\`types\` declares a column the header does not have; the header has ${raw.header.map((h) => JSON.stringify(h)).join(", ")}`, "Fix the column name in `types`, or add the column to the file.");
    }
  }
  const columns = raw.header.map((name, index) => convertColumn({ raw, index, name, nulls, place: (r) => ({ source, row: raw.lines[r]!, column: name }) }, types[name]));
  return createTable(columns);
}

/** Reads a CSV file into a table. A missing file throws `SLUICE_INPUT_MISSING`. */
export async function readCsv(path: string, opts: ReadCsvOptions = {}): Promise<Table> {
  return parseCsv(await readInputFile(path, "CSV"), path, opts);
}

/** Whether a text field must be quoted to read back as the same text (delimiter, quote, line break, null token, edge spaces). */
function needsQuotes(s: string, delim: string): boolean {
  return (
    s.includes(delim) ||
    s.includes('"') ||
    s.includes("\n") ||
    s.includes("\r") ||
    (DEFAULT_NULL_VALUES as readonly string[]).includes(s) ||
    s.trim() !== s
  );
}

function quoteText(s: string, delim: string): string {
  return needsQuotes(s, delim) ? `"${s.replaceAll('"', '""')}"` : s;
}

function formatFloat(v: number): string {
  return Object.is(v, -0) ? "-0" : String(v);
}

/**
 * CSV text of a table: a header row, then one line per row, `\n` line ends and a final `\n`.
 * Nulls are empty fields; text that would read back differently (a null token, delimiter, quote,
 * line break, edge spaces) is quoted. Numbers use JavaScript's shortest round-trip form.
 */
export function writeCsv(t: Table, opts: WriteCsvOptions = {}): string {
  const delim = opts.delimiter ?? ",";
  checkDelimiter(delim, "writeCsv");
  const fmt = t.columns.map((c) => {
    const v = c.values;
    const nulls = c.nulls;
    const cell = (i: number): string => {
      switch (c.type) {
        case "float64":
          return formatFloat(v[i] as number);
        case "int32":
        case "int64":
          return String(v[i]);
        case "bool":
          return v[i] !== 0 ? "true" : "false";
        case "string":
          return quoteText(v[i] as string, delim);
        default: {
          const never: never = c.type;
          return never;
        }
      }
    };
    return nulls ? (i: number) => (nulls[i] !== 0 ? "" : cell(i)) : cell;
  });
  const lines = new Array<string>(t.numRows + 1);
  lines[0] = t.columns.map((c) => quoteText(c.name, delim)).join(delim);
  const row = new Array<string>(fmt.length);
  for (let i = 0; i < t.numRows; i++) {
    for (let j = 0; j < fmt.length; j++) row[j] = fmt[j]!(i);
    lines[i + 1] = row.join(delim);
  }
  return `${lines.join("\n")}\n`;
}
