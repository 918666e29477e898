/**
 * CSV fields → typed columns. Inference (no declared type): int32 when every non-null value is an
 * integer literal in int32 range, float64 when every one is a number, bool when every one is
 * true/false, else string; a column that mixes numbers and text is a string column. A declared
 * numeric or bool type is a contract: a value that does not parse is a data error. Numbers are
 * read from the text in place (`csv-number.ts`); only text columns slice strings.
 */
import type { RawCsv } from "./csv-parser.ts";
import { scanNumber, type NumberScan } from "./csv-number.ts";
import { dataError, showValue, type DataPlace } from "./data-error.ts";
import type { Column, ColumnType } from "./table.ts";

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
const INT_RE = /^ *[+-]?\d+ *$/;
const BOOLS: ReadonlyMap<string, number> = new Map([
  ["true", 1],
  ["True", 1],
  ["TRUE", 1],
  ["false", 0],
  ["False", 0],
  ["FALSE", 0],
]);

/** One column of a parsed CSV, with what is needed to convert it and place errors. */
export interface CsvColumn {
  readonly raw: RawCsv;
  readonly index: number;
  readonly name: string;
  readonly nulls: NullTokens;
  readonly place: (row: number) => DataPlace;
}

/** The null tokens of a read, prepared once. */
export interface NullTokens {
  readonly tokens: ReadonlySet<string>;
  /** Length of the longest token: a longer field is never null, and is not sliced to check. */
  readonly maxLength: number;
  /** Some token reads as a number (say "-999"): check for null before reading the number. */
  readonly numeric: boolean;
}

/** Prepares null tokens for `convertColumn`. */
export function nullTokens(tokens: Iterable<string>): NullTokens {
  const set = new Set(tokens);
  const list = [...set];
  return {
    tokens: set,
    maxLength: Math.max(-1, ...list.map((t) => t.length)),
    numeric: list.some((t) => scanNumber(t, 0, t.length, { value: 0, int: false })),
  };
}

/** Fills `out[r]` from the text of record `r`; false when the text does not parse. */
type Parse = (col: CsvColumn, k: number, out: Float64Array | Int32Array | Uint8Array, r: number) => boolean;

const scan: NumberScan = { value: 0, int: false };

function cellText(raw: RawCsv, k: number): string {
  return (raw.unescaped.size > 0 ? raw.unescaped.get(k) : undefined) ?? raw.text.slice(raw.starts[k], raw.ends[k]);
}

function isNullCell(col: CsvColumn, k: number): boolean {
  const raw = col.raw;
  if (raw.ends[k]! - raw.starts[k]! > col.nulls.maxLength) return false;
  return col.nulls.tokens.has(cellText(raw, k)) && !raw.quotedNulls.has(k);
}

const parseFloat64: Parse = (col, k, out, r) => {
  if (!scanNumber(col.raw.text, col.raw.starts[k]!, col.raw.ends[k]!, scan)) return false;
  out[r] = scan.value;
  return true;
};

const parseInt32: Parse = (col, k, out, r) => {
  if (!scanNumber(col.raw.text, col.raw.starts[k]!, col.raw.ends[k]!, scan) || !scan.int || scan.value < INT32_MIN || scan.value > INT32_MAX) return false;
  out[r] = scan.value;
  return true;
};

const parseBool: Parse = (col, k, out, r) => {
  const raw = col.raw;
  const len = raw.ends[k]! - raw.starts[k]!;
  const v = len === 4 || len === 5 ? BOOLS.get(cellText(raw, k)) : undefined;
  if (v === undefined) return false;
  out[r] = v;
  return true;
};

const parseBoolOrDigit: Parse = (col, k, out, r) => {
  if (parseBool(col, k, out, r)) return true;
  const t = cellText(col.raw, k).trim();
  if (t !== "0" && t !== "1") return false;
  out[r] = t === "1" ? 1 : 0;
  return true;
};

/**
 * Fills records `from…` of `out` with `parse`; a field that does not parse is a null when it is a
 * null token. Returns the first record that is neither, or -1; `nulls.mask` collects the nulls.
 */
function fill(col: CsvColumn, out: Float64Array | Int32Array | Uint8Array, from: number, parse: Parse, nulls: { mask?: Uint8Array }): number {
  const nullFirst = col.nulls.numeric;
  const n = col.raw.numRows;
  const ncols = col.raw.header.length;
  for (let r = from; r < n; r++) {
    const k = r * ncols + col.index;
    if (nullFirst && isNullCell(col, k)) {
      (nulls.mask ??= new Uint8Array(n))[r] = 1;
      continue;
    }
    if (parse(col, k, out, r)) continue;
    if (!nullFirst && isNullCell(col, k)) {
      (nulls.mask ??= new Uint8Array(n))[r] = 1;
      continue;
    }
    return r;
  }
  return -1;
}

function stringColumn(col: CsvColumn): Column {
  const n = col.raw.numRows;
  const ncols = col.raw.header.length;
  const values = new Array<string>(n);
  let nulls: Uint8Array | undefined;
  for (let r = 0; r < n; r++) {
    const k = r * ncols + col.index;
    if (isNullCell(col, k)) {
      (nulls ??= new Uint8Array(n))[r] = 1;
      values[r] = "";
    } else {
      values[r] = cellText(col.raw, k);
    }
  }
  return nulls ? { name: col.name, type: "string", values, nulls } : { name: col.name, type: "string", values };
}

const HOW: Readonly<Record<ColumnType, string>> = {
  float64: "a number",
  int32: "an integer between -2147483648 and 2147483647",
  int64: "a 64-bit integer",
  bool: "true or false",
  string: "text",
};

function badValue(col: CsvColumn, r: number, type: ColumnType): never {
  const value = cellText(col.raw, r * col.raw.header.length + col.index);
  throw dataError(col.place(r), `${showValue(value)} is not ${HOW[type]}, but the column is declared ${type}`, `Fix the value, leave the field empty for a null, or declare column "${col.name}" as "string" in \`types\`.`, { value, type });
}

function int64Column(col: CsvColumn): Column {
  const n = col.raw.numRows;
  const ncols = col.raw.header.length;
  const out = new BigInt64Array(n);
  let nulls: Uint8Array | undefined;
  for (let r = 0; r < n; r++) {
    const k = r * ncols + col.index;
    if (isNullCell(col, k)) {
      (nulls ??= new Uint8Array(n))[r] = 1;
      continue;
    }
    const s = cellText(col.raw, k);
    const v = INT_RE.test(s) ? BigInt(s.trim()) : undefined;
    if (v === undefined || BigInt.asIntN(64, v) !== v) badValue(col, r, "int64");
    out[r] = v;
  }
  return nulls ? { name: col.name, type: "int64", values: out, nulls } : { name: col.name, type: "int64", values: out };
}

/** A typed column from CSV fields: the declared `type`, or the inferred one when `type` is undefined. */
export function convertColumn(col: CsvColumn, type: ColumnType | undefined): Column {
  const n = col.raw.numRows;
  const nulls: { mask?: Uint8Array } = {};
  const done = (t: ColumnType, values: Float64Array | Int32Array | Uint8Array): Column =>
    nulls.mask ? { name: col.name, type: t, values, nulls: nulls.mask } : { name: col.name, type: t, values };
  switch (type) {
    case "string":
      return stringColumn(col);
    case "int64":
      return int64Column(col);
    case "float64":
    case "int32":
    case "bool": {
      const out = type === "float64" ? new Float64Array(n) : type === "int32" ? new Int32Array(n) : new Uint8Array(n);
      const bad = fill(col, out, 0, type === "float64" ? parseFloat64 : type === "int32" ? parseInt32 : parseBoolOrDigit, nulls);
      if (bad >= 0) badValue(col, bad, type);
      return done(type, out);
    }
    case undefined: {
      const ints = new Int32Array(n);
      const bad = fill(col, ints, 0, parseInt32, nulls);
      // No value at all (no rows, or only nulls) says nothing about the type: call it text.
      if (bad < 0) return n === 0 || nulls.mask?.every((x) => x === 1) ? stringColumn(col) : done("int32", ints);
      const floats = Float64Array.from(ints);
      if (fill(col, floats, bad, parseFloat64, nulls) < 0) return done("float64", floats);
      const bools = new Uint8Array(n);
      nulls.mask = undefined;
      if (fill(col, bools, 0, parseBool, nulls) < 0) return done("bool", bools);
      return stringColumn(col);
    }
    default: {
      const never: never = type;
      throw new Error(`unknown column type ${String(never)}`);
    }
  }
}
