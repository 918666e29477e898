/**
 * A table's canonical bytes: the Arrow IPC *file* format, one record batch, every field nullable.
 * The bytes are a cache-key input downstream, so the same table always gives the same bytes:
 * values under nulls are zeroed, an all-valid column writes no bitmap, strings are UTF-8.
 */
import { createRequire } from "node:module";
import type * as ArrowModule from "apache-arrow";
import type { Data, DataType, Table as ArrowTable, Vector } from "apache-arrow";
import { dataError } from "./data-error.ts";
import { columnFromValues } from "./rows.ts";
import { createTable, type Column, type ColumnType, type Table } from "./table.ts";

let arrowModule: typeof ArrowModule | undefined;

/**
 * apache-arrow, loaded on first use (its CommonJS build, synchronously): evaluating it cost tens
 * of milliseconds of every start-up, and most runs never encode or decode a table.
 */
function arrow(): typeof ArrowModule {
  return (arrowModule ??= createRequire(import.meta.url)("apache-arrow") as typeof ArrowModule);
}

/** Packs a 0/1-per-row array into an LSB-first bitmap; `invert` turns a null mask into a validity bitmap. */
function packBits(bits: Uint8Array, invert: boolean): Uint8Array {
  const out = new Uint8Array((bits.length + 7) >> 3);
  for (let i = 0; i < bits.length; i++) {
    if ((bits[i] !== 0) !== invert) out[i >> 3]! |= 1 << (i & 7);
  }
  return out;
}

function nullCountOf(nulls: Uint8Array | undefined): number {
  if (!nulls) return 0;
  let k = 0;
  for (let i = 0; i < nulls.length; i++) if (nulls[i] !== 0) k++;
  return k;
}

/** A copy of `values` with every null slot zeroed, so that garbage under a null never changes the bytes. */
function zeroNulls<T extends Float64Array | Int32Array | BigInt64Array>(values: T, nulls: Uint8Array | undefined): T {
  if (!nulls) return values;
  const out = values.slice() as T;
  const zero = out instanceof BigInt64Array ? 0n : 0;
  for (let i = 0; i < nulls.length; i++) if (nulls[i] !== 0) out[i] = zero as never;
  return out;
}

function utf8Data(values: string[], nulls: Uint8Array | undefined): { valueOffsets: Int32Array; data: Uint8Array } {
  const n = values.length;
  const valueOffsets = new Int32Array(n + 1);
  let total = 0;
  for (let i = 0; i < n; i++) {
    if (!(nulls && nulls[i] !== 0)) total += Buffer.byteLength(values[i]!, "utf8");
    if (total > 0x7fffffff) {
      throw dataError({ source: "table" }, "string data exceeds 2 GiB, the limit of one Arrow Utf8 column", "Split the table into smaller tables.");
    }
    valueOffsets[i + 1] = total;
  }
  const data = Buffer.alloc(total);
  for (let i = 0; i < n; i++) {
    if (!(nulls && nulls[i] !== 0)) data.write(values[i]!, valueOffsets[i]!, "utf8");
  }
  return { valueOffsets, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

function arrowType(type: ColumnType): DataType {
  const { Float64, Int32, Int64, Bool, Utf8 } = arrow();
  switch (type) {
    case "float64":
      return new Float64();
    case "int32":
      return new Int32();
    case "int64":
      return new Int64();
    case "bool":
      return new Bool();
    case "string":
      return new Utf8();
    default: {
      const never: never = type;
      throw new Error(`unknown column type ${String(never)}`);
    }
  }
}

function columnData(c: Column, length: number): Data {
  const { makeData, Utf8, Bool, Float64, Int32, Int64 } = arrow();
  const nullCount = nullCountOf(c.nulls);
  const nullBitmap = nullCount > 0 ? packBits(c.nulls!, true) : new Uint8Array(0);
  const base = { length, nullCount, nullBitmap };
  const nulls = nullCount > 0 ? c.nulls : undefined;
  const v = c.values;
  if (c.type === "string") return makeData({ type: new Utf8(), ...base, ...utf8Data(v as string[], nulls) });
  if (c.type === "bool") {
    const bits = nulls ? (v as Uint8Array).map((b, i) => (nulls[i] !== 0 ? 0 : b)) : (v as Uint8Array);
    return makeData({ type: new Bool(), ...base, data: packBits(bits, false) });
  }
  if (c.type === "float64") return makeData({ type: new Float64(), ...base, data: zeroNulls(v as Float64Array, nulls) });
  if (c.type === "int32") return makeData({ type: new Int32(), ...base, data: zeroNulls(v as Int32Array, nulls) });
  return makeData({ type: new Int64(), ...base, data: zeroNulls(v as BigInt64Array, nulls) });
}

/** Arrow IPC file-format bytes of the table; deterministic: the same table always gives identical bytes. */
export function encodeTable(t: Table): Uint8Array {
  const { Field, Schema, RecordBatch, makeData, Struct, tableToIPC, Table: ArrowTableClass } = arrow();
  const fields = t.columns.map((c) => new Field(c.name, arrowType(c.type), true));
  const schema = new Schema(fields);
  const children = t.columns.map((c) => columnData(c, t.numRows));
  const batch = new RecordBatch(schema, makeData({ type: new Struct(fields), length: t.numRows, nullCount: 0, children }));
  return tableToIPC(new ArrowTableClass(schema, [batch]), "file");
}

/** Unpacks the validity bitmap of a chunk into `out` (1 = null) from `at`. */
function unpackNulls(d: Data, out: Uint8Array, at: number): void {
  const bitmap = d.nullBitmap;
  if (d.nullCount === 0 || !bitmap || bitmap.length === 0) return;
  for (let i = 0; i < d.length; i++) {
    const bit = d.offset + i;
    if ((bitmap[bit >> 3]! & (1 << (bit & 7))) === 0) out[at + i] = 1;
  }
}

/** The column type that a natively stored Arrow type maps to without conversion, if any. */
function nativeType(type: DataType): ColumnType | undefined {
  const { DataType, Precision } = arrow();
  if (DataType.isFloat(type) && type.precision === Precision.DOUBLE) return "float64";
  if (DataType.isInt(type) && type.isSigned && type.bitWidth === 32) return "int32";
  if (DataType.isInt(type) && type.isSigned && type.bitWidth === 64) return "int64";
  if (DataType.isBool(type)) return "bool";
  if (DataType.isUtf8(type)) return "string";
  return undefined;
}

/** The column type an Arrow type converts to value by value (narrow ints, float32, dictionary strings…). */
function convertedType(type: DataType): ColumnType | undefined {
  const { DataType } = arrow();
  if (DataType.isFloat(type)) return "float64";
  if (DataType.isInt(type)) return type.bitWidth < 32 || (type.isSigned && type.bitWidth === 32) ? "int32" : "int64";
  if (DataType.isLargeUtf8(type) || DataType.isUtf8View(type)) return "string";
  if (DataType.isDictionary(type)) return DataType.isUtf8(type.dictionary) || convertedType(type.dictionary) === "string" ? "string" : undefined;
  return undefined;
}

function readNative(name: string, type: ColumnType, vec: Vector, numRows: number): Column {
  const nulls = new Uint8Array(numRows);
  let values: Column["values"];
  let at = 0;
  if (type === "string") {
    const out = new Array<string>(numRows);
    for (const d of vec.data) {
      const offs = d.valueOffsets as Int32Array;
      const bytes = Buffer.from(d.values.buffer, d.values.byteOffset, d.values.byteLength);
      for (let i = 0; i < d.length; i++) out[at + i] = bytes.toString("utf8", offs[d.offset + i]!, offs[d.offset + i + 1]!);
      unpackNulls(d, nulls, at);
      at += d.length;
    }
    values = out;
  } else if (type === "bool") {
    const out = new Uint8Array(numRows);
    for (const d of vec.data) {
      const bits = d.values as Uint8Array;
      for (let i = 0; i < d.length; i++) {
        const bit = d.offset + i;
        out[at + i] = (bits[bit >> 3]! >> (bit & 7)) & 1;
      }
      unpackNulls(d, nulls, at);
      at += d.length;
    }
    values = out;
  } else {
    const Ctor = type === "float64" ? Float64Array : type === "int32" ? Int32Array : BigInt64Array;
    const out = new Ctor(numRows);
    for (const d of vec.data) {
      out.set((d.values as typeof out).subarray(d.offset, d.offset + d.length) as never, at);
      unpackNulls(d, nulls, at);
      at += d.length;
    }
    values = out;
  }
  return { name, type, values, nulls };
}

const MAGIC = [65, 82, 82, 79, 87, 49]; // "ARROW1"

/** True when the bytes start like an Arrow IPC file ("ARROW1") or stream (0xFFFFFFFF continuation). */
function isArrowIpc(bytes: Uint8Array): boolean {
  if (bytes.length >= 6 && MAGIC.every((b, i) => bytes[i] === b)) return true;
  return bytes.length >= 8 && bytes[0] === 0xff && bytes[1] === 0xff && bytes[2] === 0xff && bytes[3] === 0xff;
}

/** A table from Arrow IPC bytes (file or stream format); `source` names the bytes in errors. */
export function decodeTable(bytes: Uint8Array, source = "Arrow IPC bytes"): Table {
  let at: ArrowTable;
  try {
    if (!isArrowIpc(bytes)) throw new Error("no Arrow file magic or stream continuation marker");
    at = arrow().tableFromIPC(bytes);
  } catch (err) {
    throw dataError({ source }, `not readable as Arrow IPC (${(err as Error).message})`, "Check that the bytes are an Arrow IPC file or stream, written whole.", { cause: String(err) });
  }
  const columns = at.schema.fields.map((field, j): Column => {
    const vec = at.getChildAt(j)!;
    const native = nativeType(field.type);
    if (native) return readNative(field.name, native, vec, at.numRows);
    const target = convertedType(field.type);
    if (!target) {
      throw dataError({ source, column: field.name }, `Arrow type ${String(field.type)} has no table column type`, "Convert the column to float64, int32, int64, bool or utf8 before writing it.");
    }
    const values: unknown[] = Array.from({ length: at.numRows }, (_, i) => vec.get(i));
    return columnFromValues(field.name, values, target, (i) => ({ source, row: i + 1, column: field.name }));
  });
  return createTable(columns);
}
