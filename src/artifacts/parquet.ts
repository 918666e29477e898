/**
 * Parquet ⇄ table through hyparquet (read) and hyparquet-writer (write). Flat schemas only; each
 * leaf maps to a column type (DOUBLE/FLOAT → float64, INT32 → int32, INT64 → int64 as BigInt,
 * BOOLEAN → bool, UTF8 byte arrays → string). Other physical or logical types are an error that
 * names the column.
 */
import type { ColumnData, FileMetaData, SchemaElement } from "hyparquet";
import type { BasicType, ColumnSource } from "hyparquet-writer";
import { importModule } from "../util/import-module.ts";
import { dataError } from "./data-error.ts";
import { readInputFile } from "./read-input.ts";
import { columnFromValues } from "./rows.ts";
import { createTable, type Column, type ColumnType, type Table } from "./table.ts";

const INT_CONVERTED = new Set(["INT_8", "INT_16", "INT_32", "UINT_8", "UINT_16"]);

/** The column type of a Parquet leaf, or undefined when it has none. */
function leafType(el: SchemaElement): ColumnType | undefined {
  const conv = el.converted_type;
  const logical = el.logical_type?.type;
  switch (el.type) {
    case "DOUBLE":
    case "FLOAT":
      return "float64";
    case "INT32":
      if (conv === undefined || INT_CONVERTED.has(conv)) return "int32";
      return conv === "UINT_32" ? "int64" : undefined;
    case "INT64":
      return conv === undefined || conv === "INT_64" || conv === "UINT_64" ? "int64" : undefined;
    case "BOOLEAN":
      return "bool";
    case "BYTE_ARRAY":
      return conv === "UTF8" || logical === "STRING" || conv === "ENUM" ? "string" : undefined;
    default:
      return undefined;
  }
}

function describe(el: SchemaElement): string {
  return [el.type ?? "group", el.converted_type, el.logical_type?.type].filter((x) => x !== undefined).join("/");
}

/** A table from Parquet bytes; `source` names them in errors (usually the file path). */
export async function parseParquet(bytes: Uint8Array, source: string): Promise<Table> {
  // hyparquet is loaded on first use: most runs read no Parquet.
  const { parquetMetadata, parquetRead } = await importModule<typeof import("hyparquet")>("hyparquet");
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  let metadata: FileMetaData;
  try {
    metadata = parquetMetadata(file);
  } catch (err) {
    throw dataError({ source }, `not readable as Parquet (${(err as Error).message})`, "Check that the file is a complete Parquet file.");
  }
  const [root, ...leaves] = metadata.schema;
  if (leaves.length !== (root?.num_children ?? 0) || leaves.some((el) => el.num_children !== undefined)) {
    const nested = leaves.find((el) => el.num_children !== undefined);
    throw dataError({ source, column: nested?.name }, "the file has nested columns (struct, list or map)", "Flatten the data into one column per value before writing the Parquet file.");
  }
  const types = leaves.map((el) => {
    const t = leafType(el);
    if (t === undefined) {
      throw dataError({ source, column: el.name }, `Parquet type ${describe(el)} has no table column type`, "Write the column as DOUBLE, INT32, INT64, BOOLEAN or a UTF8 string.");
    }
    return t;
  });
  const numRows = Number(metadata.num_rows);
  const values = leaves.map(() => new Array<unknown>(numRows));
  const index = new Map(leaves.map((el, j) => [el.name, j]));
  try {
    await parquetRead({
      file,
      metadata,
      onChunk: (chunk: ColumnData) => {
        const out = values[index.get(chunk.columnName)!]!;
        const data = chunk.columnData;
        for (let i = 0; i < data.length; i++) out[chunk.rowStart + i] = data[i];
      },
    });
  } catch (err) {
    throw dataError({ source }, `not readable as Parquet (${(err as Error).message})`, "Check that the file is a complete Parquet file.");
  }
  const columns = leaves.map((el, j): Column => columnFromValues(el.name, values[j]!, types[j], (i) => ({ source, row: i + 1, column: el.name })));
  return createTable(columns);
}

/** Reads a Parquet file into a table. A missing file throws `SLUICE_INPUT_MISSING`. */
export async function readParquet(path: string): Promise<Table> {
  return parseParquet(await readInputFile(path, "Parquet"), path);
}

const BASIC: Readonly<Record<ColumnType, BasicType>> = { float64: "DOUBLE", int32: "INT32", int64: "INT64", bool: "BOOLEAN", string: "STRING" };

function sourceOf(c: Column): ColumnSource {
  const n = c.values.length;
  const data = new Array<unknown>(n);
  const nulls = c.nulls;
  for (let i = 0; i < n; i++) {
    if (nulls && nulls[i] !== 0) data[i] = null;
    else data[i] = c.type === "bool" ? c.values[i] !== 0 : c.values[i];
  }
  return { name: c.name, data, type: BASIC[c.type], nullable: true };
}

/**
 * Parquet file bytes of a table (snappy, one column per table column, all nullable). Async because
 * hyparquet-writer (and hyparquet, which it imports) are ES-module-only packages that stay out of
 * the dist/ bundle and load by import() on first use: 185 KB of code a `sluice run` does not read.
 */
export async function writeParquet(t: Table): Promise<Uint8Array> {
  const { parquetWriteBuffer } = await importModule<typeof import("hyparquet-writer")>("hyparquet-writer");
  const buf = parquetWriteBuffer({ columnData: t.columns.map(sourceOf), createdBy: "sluice" });
  return new Uint8Array(buf);
}
