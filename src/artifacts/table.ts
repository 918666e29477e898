/**
 * The `table` artifact in memory: named, typed columns of equal length, each a typed array (or a
 * string array) plus an optional null bitmap. Plain data and functions; `arrow-codec.ts` gives its
 * canonical bytes.
 */
import { dataError } from "./data-error.ts";

/** The element type of a column. */
export type ColumnType = "float64" | "int32" | "int64" | "bool" | "string";

/** The column types, in a stable order. */
export const COLUMN_TYPES: readonly ColumnType[] = ["float64", "int32", "int64", "bool", "string"];

/** The array that holds a column's values. */
export type ColumnValues = Float64Array | Int32Array | BigInt64Array | Uint8Array | string[];

/** One named, typed column. */
export interface Column {
  readonly name: string;
  readonly type: ColumnType;
  /** float64 → Float64Array, int32 → Int32Array, int64 → BigInt64Array, bool → Uint8Array (0/1), string → string[] */
  readonly values: ColumnValues;
  /** null bitmap as a Uint8Array of 0/1 per row (1 = null), or undefined when the column has no nulls */
  readonly nulls?: Uint8Array;
}

/** Columns of equal length with unique names. Build one with `createTable`, which checks both. */
export interface Table {
  readonly columns: readonly Column[];
  readonly numRows: number;
}

const SOURCE = "table";

function valuesMatch(type: ColumnType, values: ColumnValues): boolean {
  switch (type) {
    case "float64":
      return values instanceof Float64Array;
    case "int32":
      return values instanceof Int32Array;
    case "int64":
      return values instanceof BigInt64Array;
    case "bool":
      return values instanceof Uint8Array;
    case "string":
      return Array.isArray(values);
    default: {
      const never: never = type;
      return never;
    }
  }
}

const EXPECTED: Readonly<Record<ColumnType, string>> = {
  float64: "Float64Array",
  int32: "Int32Array",
  int64: "BigInt64Array",
  bool: "Uint8Array of 0/1",
  string: "string[]",
};

/** True when the bitmap marks at least one row null. */
function anyNull(nulls: Uint8Array): boolean {
  for (let i = 0; i < nulls.length; i++) if (nulls[i] !== 0) return true;
  return false;
}

/**
 * A table from columns. Checks that names are unique non-empty strings, that each column's values
 * array matches its type and that every column (and null bitmap) has the same length; an all-zero
 * null bitmap is dropped, so "no nulls" has one form. The arrays are kept, not copied.
 */
export function createTable(columns: Column[]): Table {
  const seen = new Set<string>();
  const numRows = columns.length === 0 ? 0 : columns[0]!.values.length;
  const out: Column[] = [];
  for (const c of columns) {
    if (typeof c.name !== "string" || c.name === "") {
      throw dataError({ source: SOURCE }, `column ${out.length + 1} has no name`, "Give every column a non-empty name.");
    }
    if (seen.has(c.name)) {
      throw dataError({ source: SOURCE, column: c.name }, "the name is used by two columns", "Rename one of them, or drop the duplicate.");
    }
    seen.add(c.name);
    if (!(COLUMN_TYPES as readonly string[]).includes(c.type)) {
      throw dataError({ source: SOURCE, column: c.name }, `unknown column type ${JSON.stringify(c.type)}`, `Use one of ${COLUMN_TYPES.join(", ")}.`);
    }
    if (!valuesMatch(c.type, c.values)) {
      throw dataError({ source: SOURCE, column: c.name }, `a ${c.type} column needs its values in a ${EXPECTED[c.type]}`, "Build the values array of the declared type, or change the declared type.");
    }
    if (c.values.length !== numRows) {
      throw dataError({ source: SOURCE, column: c.name }, `has ${c.values.length} rows but column "${columns[0]!.name}" has ${numRows}`, "Give every column the same number of rows.");
    }
    if (c.nulls !== undefined && !(c.nulls instanceof Uint8Array && c.nulls.length === numRows)) {
      throw dataError({ source: SOURCE, column: c.name }, `the null bitmap must be a Uint8Array of ${numRows} entries (1 = null)`, "Pass one 0/1 entry per row, or leave `nulls` out when nothing is null.");
    }
    const nulls = c.nulls !== undefined && anyNull(c.nulls) ? c.nulls : undefined;
    out.push(Object.freeze(nulls ? { name: c.name, type: c.type, values: c.values, nulls } : { name: c.name, type: c.type, values: c.values }));
  }
  return Object.freeze({ columns: Object.freeze(out), numRows });
}

/** The column named `name`; a missing name throws `SLUICE_DATA_INVALID` listing the columns present. */
export function column(t: Table, name: string): Column {
  const c = t.columns.find((col) => col.name === name);
  if (c === undefined) {
    const present = t.columns.map((col) => JSON.stringify(col.name)).join(", ") || "(none)";
    throw dataError({ source: SOURCE, column: name }, `no such column; the table has ${present}`, "Fix the column name, or add the column upstream.", { present: t.columns.map((col) => col.name) });
  }
  return c;
}

/** A table of the named columns, in the order given (each must exist). */
export function selectColumns(t: Table, names: string[]): Table {
  return createTable(names.map((n) => column(t, n)));
}

/** A table without the named columns (each must exist). */
export function dropColumns(t: Table, names: string[]): Table {
  for (const n of names) column(t, n);
  const drop = new Set(names);
  const kept = t.columns.filter((c) => !drop.has(c.name));
  return kept.length === 0 ? createTable([]) : createTable([...kept]);
}

/** The rows whose `keep` entry is non-zero (a mask of `numRows` entries) or for which `keep(row)` is true. */
export function filterRows(t: Table, keep: Uint8Array | ((row: number) => boolean)): Table {
  if (keep instanceof Uint8Array && keep.length !== t.numRows) {
    throw dataError({ source: SOURCE }, `the row mask has ${keep.length} entries but the table has ${t.numRows} rows`, "Pass one 0/1 entry per row.");
  }
  const indices: number[] = [];
  for (let i = 0; i < t.numRows; i++) {
    if (typeof keep === "function" ? keep(i) : keep[i] !== 0) indices.push(i);
  }
  return takeRows(t, indices);
}

function gather(values: ColumnValues, idx: ArrayLike<number>): ColumnValues {
  const k = idx.length;
  if (Array.isArray(values)) {
    const out = new Array<string>(k);
    for (let i = 0; i < k; i++) out[i] = values[idx[i]!]!;
    return out;
  }
  const out = new (values.constructor as new (n: number) => typeof values)(k);
  for (let i = 0; i < k; i++) out[i] = values[idx[i]!]!;
  return out;
}

/** The rows at `indices`, in that order (repeats allowed); an index outside the table throws. */
export function takeRows(t: Table, indices: Int32Array | number[]): Table {
  for (let i = 0; i < indices.length; i++) {
    const r = indices[i]!;
    if (!Number.isInteger(r) || r < 0 || r >= t.numRows) {
      throw dataError({ source: SOURCE }, `row index ${r} (at position ${i}) is outside the table's ${t.numRows} rows`, "Pass 0-based indices below numRows.");
    }
  }
  if (t.columns.length === 0) return createTable([]);
  return createTable(
    t.columns.map((c) => {
      const values = gather(c.values, indices);
      return c.nulls ? { name: c.name, type: c.type, values, nulls: gather(c.nulls, indices) as Uint8Array } : { name: c.name, type: c.type, values };
    }),
  );
}

/**
 * The named columns as a row-major float64 matrix (`data[row * cols + col]`). Nulls become NaN,
 * int64 is converted with `Number` (exact up to 2^53), bool gives 0/1; a string column throws.
 */
export function toFloat64Matrix(t: Table, names: string[]): { data: Float64Array; rows: number; cols: number } {
  const cols = names.length;
  const rows = t.numRows;
  const data = new Float64Array(rows * cols);
  names.forEach((name, j) => {
    const c = column(t, name);
    const v = c.values;
    if (Array.isArray(v)) {
      throw dataError({ source: SOURCE, column: name }, "is a string column, not numeric", "Encode it as numbers first (one-hot or label encoding), or leave it out of the matrix.");
    }
    if (v instanceof BigInt64Array) {
      for (let i = 0; i < rows; i++) data[i * cols + j] = Number(v[i]!);
    } else {
      for (let i = 0; i < rows; i++) data[i * cols + j] = v[i]!;
    }
    const nulls = c.nulls;
    if (nulls) for (let i = 0; i < rows; i++) if (nulls[i] !== 0) data[i * cols + j] = NaN;
  });
  return { data, rows, cols };
}
