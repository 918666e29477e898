/**
 * CSV text cells → typed columns. Inference (no declared type): int32 when every non-null value is
 * an integer literal in int32 range, float64 when every one is a number, bool when every one is
 * true/false, else string; a column that mixes numbers and text is a string column. A declared
 * numeric or bool type is a contract: a value that does not parse is a data error.
 */
import { dataError, showValue, type DataPlace } from "./data-error.ts";
import type { Column, ColumnType } from "./table.ts";

const INT_RE = /^ *[+-]?\d+ *$/;
const FLOAT_RE = /^ *[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)? *$/;
const SPECIAL_FLOATS: ReadonlyMap<string, number> = new Map([
  ["inf", Infinity],
  ["+inf", Infinity],
  ["infinity", Infinity],
  ["+infinity", Infinity],
  ["-inf", -Infinity],
  ["-infinity", -Infinity],
  ["nan", NaN],
]);
const TRUE = new Set(["true", "True", "TRUE"]);
const FALSE = new Set(["false", "False", "FALSE"]);
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/** The number a float cell holds, or undefined when it is not a number. */
function parseFloatCell(s: string): number | undefined {
  if (FLOAT_RE.test(s)) return +s;
  return SPECIAL_FLOATS.get(s.trim().toLowerCase());
}

/** The int32 an integer cell holds, or undefined. */
function parseInt32Cell(s: string): number | undefined {
  if (!INT_RE.test(s)) return undefined;
  const v = +s;
  return v >= INT32_MIN && v <= INT32_MAX ? v : undefined;
}

function parseBoolCell(s: string, allowDigits: boolean): number | undefined {
  if (TRUE.has(s)) return 1;
  if (FALSE.has(s)) return 0;
  if (allowDigits && (s === "1" || s === "0")) return s === "1" ? 1 : 0;
  return undefined;
}

/** One column's text cells with the information needed to convert them and place errors. */
export interface CellColumn {
  readonly name: string;
  readonly cells: string[];
  /** Records whose quoted text equals a null token: text, not null. */
  readonly quotedNulls: ReadonlySet<number> | undefined;
  /** Place of record `r` for error messages. */
  readonly place: (r: number) => DataPlace;
}

const HOW: Readonly<Record<ColumnType, string>> = {
  float64: "a number",
  int32: "an integer between -2147483648 and 2147483647",
  int64: "a 64-bit integer",
  bool: "true or false",
  string: "text",
};

/** Null mask of a column (undefined when nothing is null). */
function nullMask(col: CellColumn, nullTokens: ReadonlySet<string>): Uint8Array | undefined {
  let nulls: Uint8Array | undefined;
  const cells = col.cells;
  for (let r = 0; r < cells.length; r++) {
    if (nullTokens.has(cells[r]!) && !col.quotedNulls?.has(r)) (nulls ??= new Uint8Array(cells.length))[r] = 1;
  }
  return nulls;
}

/**
 * Fills `out` from `from` by `parse`, skipping nulls; returns the first record that does not parse,
 * or -1 when all do.
 */
function fill(cells: string[], nulls: Uint8Array | undefined, out: Float64Array | Int32Array | Uint8Array, from: number, parse: (s: string) => number | undefined): number {
  for (let r = from; r < cells.length; r++) {
    if (nulls && nulls[r] !== 0) continue;
    const v = parse(cells[r]!);
    if (v === undefined) return r;
    out[r] = v;
  }
  return -1;
}

function badValue(col: CellColumn, r: number, type: ColumnType): never {
  const value = col.cells[r]!;
  throw dataError(col.place(r), `${showValue(value)} is not ${HOW[type]}, but the column is declared ${type}`, `Fix the value, leave the field empty for a null, or declare column "${col.name}" as "string" in \`types\`.`, { value, type });
}

function stringColumn(col: CellColumn, nulls: Uint8Array | undefined): Column {
  if (!nulls) return { name: col.name, type: "string", values: col.cells };
  const values = col.cells.slice();
  for (let r = 0; r < values.length; r++) if (nulls[r] !== 0) values[r] = "";
  return { name: col.name, type: "string", values, nulls };
}

function withNulls(name: string, type: ColumnType, values: Column["values"], nulls: Uint8Array | undefined): Column {
  return nulls ? { name, type, values, nulls } : { name, type, values };
}

function declaredColumn(col: CellColumn, type: ColumnType, nulls: Uint8Array | undefined): Column {
  const n = col.cells.length;
  switch (type) {
    case "string":
      return stringColumn(col, nulls);
    case "float64":
    case "int32":
    case "bool": {
      const out = type === "float64" ? new Float64Array(n) : type === "int32" ? new Int32Array(n) : new Uint8Array(n);
      const parse = type === "float64" ? parseFloatCell : type === "int32" ? parseInt32Cell : (s: string) => parseBoolCell(s, true);
      const bad = fill(col.cells, nulls, out, 0, parse);
      if (bad >= 0) badValue(col, bad, type);
      return withNulls(col.name, type, out, nulls);
    }
    case "int64": {
      const out = new BigInt64Array(n);
      for (let r = 0; r < n; r++) {
        if (nulls && nulls[r] !== 0) continue;
        const s = col.cells[r]!;
        const v = INT_RE.test(s) ? BigInt(s.trim()) : undefined;
        if (v === undefined || BigInt.asIntN(64, v) !== v) badValue(col, r, type);
        out[r] = v;
      }
      return withNulls(col.name, type, out, nulls);
    }
    default: {
      const never: never = type;
      throw new Error(`unknown column type ${String(never)}`);
    }
  }
}

function inferredColumn(col: CellColumn, nulls: Uint8Array | undefined): Column {
  const cells = col.cells;
  const n = cells.length;
  let first = 0;
  while (first < n && nulls && nulls[first] !== 0) first++;
  if (first === n) return stringColumn(col, nulls);
  const sample = cells[first]!;
  if (parseFloatCell(sample) !== undefined) {
    if (parseInt32Cell(sample) !== undefined) {
      const ints = new Int32Array(n);
      const bad = fill(cells, nulls, ints, first, parseInt32Cell);
      if (bad < 0) return withNulls(col.name, "int32", ints, nulls);
      const floats = Float64Array.from(ints);
      if (fill(cells, nulls, floats, bad, parseFloatCell) < 0) return withNulls(col.name, "float64", floats, nulls);
      return stringColumn(col, nulls);
    }
    const floats = new Float64Array(n);
    if (fill(cells, nulls, floats, first, parseFloatCell) < 0) return withNulls(col.name, "float64", floats, nulls);
    return stringColumn(col, nulls);
  }
  if (parseBoolCell(sample, false) !== undefined) {
    const bools = new Uint8Array(n);
    if (fill(cells, nulls, bools, first, (s) => parseBoolCell(s, false)) < 0) return withNulls(col.name, "bool", bools, nulls);
  }
  return stringColumn(col, nulls);
}

/** A typed column from text cells: the declared `type`, or the inferred one when `type` is undefined. */
export function convertCells(col: CellColumn, type: ColumnType | undefined, nullTokens: ReadonlySet<string>): Column {
  const nulls = nullMask(col, nullTokens);
  return type === undefined ? inferredColumn(col, nulls) : declaredColumn(col, type, nulls);
}
