/**
 * Tables to and from JavaScript records (`{ name: value }` per row), and the typed column builder
 * from JavaScript values that `tableFromRows` and JSONL reading share.
 */
import { dataError, showValue, type DataPlace } from "./data-error.ts";
import { createTable, type Column, type ColumnType, type Table } from "./table.ts";

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

const isInt32 = (v: number): boolean => Number.isInteger(v) && v >= INT32_MIN && v <= INT32_MAX && !Object.is(v, -0);

/** Maps the index of a value to its place in the source, for error messages. */
export type Locate = (index: number) => DataPlace;

/** The narrowest column type that holds every non-null value, or a data error at the first value that fits none. */
function inferType(name: string, values: readonly unknown[], locate: Locate): ColumnType {
  let kind: "none" | "number" | "bigint" | "bool" | "string" = "none";
  let first = -1;
  let allInt32 = true;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) continue;
    const k = typeof v === "number" ? "number" : typeof v === "bigint" ? "bigint" : typeof v === "boolean" ? "bool" : typeof v === "string" ? "string" : "other";
    if (k === "other") {
      throw dataError(locate(i), `${showValue(v)} is not a number, bigint, boolean, string or null`, "Flatten nested values into their own columns, or serialise them to a string upstream.");
    }
    if (k === "number" && !isInt32(v as number)) allInt32 = false;
    if (kind === "none") {
      kind = k;
      first = i;
    } else if (kind !== k && !(kind === "number" && k === "bigint") && !(kind === "bigint" && k === "number")) {
      const firstPlace = locate(first);
      throw dataError(locate(i), `${showValue(v)} is a ${k} but the column held a ${kind} at ${firstPlace.row === undefined ? "its first value" : `row ${firstPlace.row}`}`, `Make every value of column "${name}" the same type, or pass \`types\` to say which one it is.`);
    } else if (kind !== k) {
      kind = "bigint";
    }
  }
  switch (kind) {
    case "none":
    case "string":
      return "string";
    case "number":
      return allInt32 ? "int32" : "float64";
    case "bigint":
      return "int64";
    case "bool":
      return "bool";
    default: {
      const never: never = kind;
      return never;
    }
  }
}

function mismatch(locate: Locate, i: number, v: unknown, type: ColumnType): never {
  throw dataError(locate(i), `${showValue(v)} is not a valid ${type} value`, `Fix the value, or declare the column with a type that holds it (e.g. "string").`, { value: typeof v === "bigint" ? String(v) : v, type });
}

/**
 * A typed column from JavaScript values; `null`/`undefined` are nulls. Without `type` the type is
 * inferred (int32 when every number is an int32, else float64; bigint → int64; booleans → bool;
 * strings → string; all null → string); a value that does not fit throws a data error at `locate(i)`.
 */
export function columnFromValues(name: string, values: readonly unknown[], type: ColumnType | undefined, locate: Locate): Column {
  const t = type ?? inferType(name, values, locate);
  const n = values.length;
  let nulls: Uint8Array | undefined;
  const markNull = (i: number): void => {
    nulls ??= new Uint8Array(n);
    nulls[i] = 1;
  };
  let out: Float64Array | Int32Array | BigInt64Array | Uint8Array | string[];
  switch (t) {
    case "float64": {
      const a = (out = new Float64Array(n));
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (v === null || v === undefined) markNull(i);
        else if (typeof v === "number") a[i] = v;
        else if (typeof v === "bigint") a[i] = Number(v);
        else mismatch(locate, i, v, t);
      }
      break;
    }
    case "int32": {
      const a = (out = new Int32Array(n));
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (v === null || v === undefined) markNull(i);
        else if (typeof v === "number" && Number.isInteger(v) && v >= INT32_MIN && v <= INT32_MAX) a[i] = v;
        else if (typeof v === "bigint" && v >= BigInt(INT32_MIN) && v <= BigInt(INT32_MAX)) a[i] = Number(v);
        else mismatch(locate, i, v, t);
      }
      break;
    }
    case "int64": {
      const a = (out = new BigInt64Array(n));
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (v === null || v === undefined) markNull(i);
        else if (typeof v === "bigint" && BigInt.asIntN(64, v) === v) a[i] = v;
        else if (typeof v === "number" && Number.isSafeInteger(v)) a[i] = BigInt(v);
        else mismatch(locate, i, v, t);
      }
      break;
    }
    case "bool": {
      const a = (out = new Uint8Array(n));
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (v === null || v === undefined) markNull(i);
        else if (typeof v === "boolean") a[i] = v ? 1 : 0;
        else mismatch(locate, i, v, t);
      }
      break;
    }
    case "string": {
      const a = (out = new Array<string>(n));
      for (let i = 0; i < n; i++) {
        const v = values[i];
        a[i] = "";
        if (v === null || v === undefined) markNull(i);
        else if (typeof v === "string") a[i] = v;
        else mismatch(locate, i, v, t);
      }
      break;
    }
    default: {
      const never: never = t;
      throw new Error(`unknown column type ${String(never)}`);
    }
  }
  return nulls ? { name, type: t, values: out, nulls } : { name, type: t, values: out };
}

/** The value of row `i` of a column as JavaScript: number, bigint (int64), boolean, string, or null. */
export function cellValue(c: Column, i: number): number | bigint | boolean | string | null {
  if (c.nulls && c.nulls[i] !== 0) return null;
  return c.type === "bool" ? c.values[i] !== 0 : c.values[i]!;
}

/** One record per row, keys in column order; nulls are `null`, int64 values are bigints. */
export function tableToRows(t: Table): Array<Record<string, unknown>> {
  const rows = new Array<Record<string, unknown>>(t.numRows);
  for (let i = 0; i < t.numRows; i++) {
    const r: Record<string, unknown> = {};
    for (const c of t.columns) r[c.name] = cellValue(c, i);
    rows[i] = r;
  }
  return rows;
}

/**
 * A table from records. Columns are the union of keys in first-seen order; a missing key or
 * `null`/`undefined` is a null. `types` fixes a column's type, others are inferred as in
 * `columnFromValues`. Errors name the 1-based row.
 */
export function tableFromRows(rows: Record<string, unknown>[], types: Record<string, ColumnType> = {}): Table {
  const names: string[] = [];
  const seen = new Set<string>();
  for (const r of rows) {
    for (const k of Object.keys(r)) {
      if (!seen.has(k)) {
        seen.add(k);
        names.push(k);
      }
    }
  }
  for (const k of Object.keys(types)) {
    if (!seen.has(k) && rows.length > 0) {
      throw dataError({ source: "rows", column: k }, `\`types\` names a column that no row has; the rows have ${names.map((n) => JSON.stringify(n)).join(", ") || "(none)"}`, "Fix the name in `types`.");
    }
    if (!seen.has(k)) names.push(k);
  }
  return createTable(
    names.map((name) => {
      const values = rows.map((r) => r[name]);
      return columnFromValues(name, values, types[name], (i) => ({ source: "rows", row: i + 1, column: name }));
    }),
  );
}
